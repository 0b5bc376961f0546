/**
 * A scriptable fake of VK on 127.0.0.1: the API methods the router calls and a Bots
 * Long Poll server. Real HTTP (node:http, so a test can reset a connection), every call
 * counted, faults scripted per request. Tests, the demo and the benchmarks share it.
 * @module
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** What the next `a_check` does instead of serving events. */
export type PollFaultScript =
  | { failed: 1 | 2 | 3 }
  | { status: number }
  | "hang"
  | "reset"
  | "garbage"
  | "no_ts";

/** What the next call of an API method does instead of answering. */
export type ApiFaultScript =
  | { error_code: number; error_msg?: string }
  | { status: number }
  | "hang";

/** A user the fake knows. */
export interface FakeUser {
  id: number;
  first_name: string;
  last_name: string;
  domain: string;
}

/** Options for {@linkcode startFakeVk}. */
export interface FakeVkOptions {
  /**
   * Accepted access tokens by community; a token opens the communities it is given for
   * (usually one). @default { 1: "test-token" }
   */
  tokens?: Record<number, string>;
  /** @default "5.199" */
  apiVersion?: string;
  /** Added before every API answer. @default 0 */
  apiLatencyMs?: number;
  /** Most updates in one poll answer. @default 100 */
  maxBatch?: number;
  /** Longest hold of an empty poll, capping `wait`. @default wait itself */
  maxHoldMs?: number;
  /** Told when a poll answer with updates `from`..`from + count - 1` of a community is sent. */
  onServe?: (groupId: number, from: number, count: number) => void;
}

interface Community {
  history: unknown[];
  key: string | null;
  keysIssued: number;
  waiters: Set<() => void>;
  pollFaults: PollFaultScript[];
}

/** One `a_check` as the fake saw it. */
export interface PollRequest {
  groupId: number;
  ts: string;
  key: string;
  /** The client's address and port: one connection. */
  peer: string;
  startedAt: number;
  endedAt: number | null;
}

/** A running fake VK. */
export interface FakeVk extends AsyncDisposable {
  /** Base for `VK_API_URL`. */
  apiUrl: string;
  /** Appends raw updates to a community's long-poll history (default community: the first). */
  push(updates: unknown[], groupId?: number): void;
  /** Scripts the next `a_check` answers of a community, one fault per request. */
  pollFault(faults: PollFaultScript[], groupId?: number): void;
  /** Scripts the next answers of an API method. */
  apiFault(method: string, faults: ApiFaultScript[]): void;
  /** Makes every API method fail with HTTP 500 until set back. */
  setApiDown(down: boolean): void;
  users: Map<number, FakeUser>;
  groups: Map<number, { id: number; name: string; screen_name: string }>;
  /** Chat titles by peer id; peers missing here answer as "no access". */
  chats: Map<number, string>;
  /** Long-poll event types by community (`groups.getLongPollSettings`); a type set to 0 is left out of poll answers. */
  settings: Map<number, Record<string, 0 | 1>>;
  /** Calls per API method, `a_check` included. */
  calls: Map<string, number>;
  /** When each API method call (not `a_check`) arrived, ms since epoch. */
  apiCallTimes: number[];
  /** The method of each call in {@linkcode FakeVk.apiCallTimes}, in the same order. */
  apiCallMethods: string[];
  /**
   * Each `a_check`, in order: the ts and key it asked with, when it arrived and when its
   * answer was sent or its connection closed (null while open), ms since epoch.
   */
  pollRequests: PollRequest[];
  /** How many keys `groups.getLongPollServer` handed out. */
  keysIssued(groupId?: number): number;
  /** History length, i.e. the ts after the last pushed event. */
  head(groupId?: number): number;
  close(): Promise<void>;
}

/** Starts the fake on a free port of 127.0.0.1. */
export async function startFakeVk(options: FakeVkOptions = {}): Promise<FakeVk> {
  const tokens = options.tokens ?? { 1: "test-token" };
  const firstGroup = Number(Object.keys(tokens)[0]);
  const apiVersion = options.apiVersion ?? "5.199";
  const maxBatch = options.maxBatch ?? 100;
  const communities = new Map<number, Community>();
  const apiFaults = new Map<string, ApiFaultScript[]>();
  const calls = new Map<string, number>();
  const apiCallTimes: number[] = [];
  const apiCallMethods: string[] = [];
  const pollRequests: FakeVk["pollRequests"] = [];
  const users = new Map<number, FakeUser>();
  const groups = new Map<number, { id: number; name: string; screen_name: string }>();
  const chats = new Map<number, string>();
  const settings = new Map<number, Record<string, 0 | 1>>();
  const hanging = new Set<ServerResponse>();
  let apiDown = false;

  const community = (groupId: number): Community => {
    let c = communities.get(groupId);
    if (!c) {
      c = { history: [], key: null, keysIssued: 0, waiters: new Set(), pollFaults: [] };
      communities.set(groupId, c);
    }
    return c;
  };
  const count = (name: string) => calls.set(name, (calls.get(name) ?? 0) + 1);

  const server = createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? "/", "http://127.0.0.1");
      if (url.pathname.startsWith("/method/")) {
        await api(url.pathname.slice(8), await form(req, url), res);
      } else if (url.pathname.startsWith("/lp/")) {
        await poll(Number(url.pathname.slice(4)), url.searchParams, req, res);
      } else json(res, 404, { error: "not found" });
    } catch (error) {
      if (!res.headersSent) json(res, 500, { error: String(error) });
    }
  });

  async function api(method: string, params: URLSearchParams, res: ServerResponse) {
    count(method);
    apiCallTimes.push(Date.now());
    apiCallMethods.push(method);
    if (options.apiLatencyMs) await new Promise((r) => setTimeout(r, options.apiLatencyMs));
    const fault = apiFaults.get(method)?.shift();
    if (fault === "hang") return void hanging.add(res);
    if (fault && "status" in fault) return json(res, fault.status, { error: "scripted" });
    if (fault) return vkError(res, fault.error_code, fault.error_msg ?? "Scripted error");
    if (apiDown) return json(res, 500, { error: "down" });
    const token = params.get("access_token");
    const opened = Object.entries(tokens).filter(([, t]) => t === token).map(([g]) => g);
    const asked = params.get("group_id");
    const groupId = opened.find((g) => g === asked) ?? opened[0];
    if (!groupId) return vkError(res, 5, "User authorization failed: invalid access_token (4).");
    if (params.get("v") !== apiVersion) return vkError(res, 8, "Invalid request: v is required");
    const ids = (name: string) => (params.get(name) ?? "").split(",").filter(Boolean).map(Number);
    switch (method) {
      case "groups.getLongPollServer": {
        if (Number(params.get("group_id")) !== Number(groupId)) {
          return vkError(
            res,
            100,
            "One of the parameters specified was missing or invalid: group_id is undefined",
          );
        }
        const c = community(Number(groupId));
        c.keysIssued++;
        c.key = `key-${groupId}-${c.keysIssued}-${crypto.randomUUID().slice(0, 8)}`;
        return ok(res, {
          server: `${origin}/lp/${groupId}`,
          key: c.key,
          ts: String(c.history.length),
        });
      }
      case "groups.getLongPollSettings":
        return ok(res, {
          is_enabled: true,
          api_version: apiVersion,
          events: settings.get(Number(groupId)) ?? {},
        });
      case "users.get":
        return ok(res, ids("user_ids").flatMap((id) => users.get(id) ?? []));
      case "groups.getById":
        return ok(res, {
          groups: ids("group_ids").flatMap((id) => groups.get(id) ?? []),
          profiles: [],
        });
      case "messages.getConversationsById": {
        const items = ids("peer_ids").flatMap((id) =>
          chats.has(id)
            ? [{
              peer: { id, type: "chat", local_id: id - 2e9 },
              chat_settings: { title: chats.get(id) },
            }]
            : []
        );
        return ok(res, { count: items.length, items });
      }
      default:
        return vkError(res, 3, "Unknown method passed");
    }
  }

  async function poll(
    groupId: number,
    query: URLSearchParams,
    req: IncomingMessage,
    res: ServerResponse,
  ) {
    count("a_check");
    const c = community(groupId);
    const ts = query.get("ts") ?? "";
    const request: PollRequest = {
      groupId,
      ts,
      key: query.get("key") ?? "",
      peer: `${req.socket.remoteAddress}:${req.socket.remotePort}`,
      startedAt: Date.now(),
      endedAt: null,
    };
    pollRequests.push(request);
    res.on("close", () => request.endedAt = Date.now());
    const fault = c.pollFaults.shift();
    if (fault === "reset") return void req.socket.destroy();
    if (fault === "hang") return void hanging.add(res);
    if (fault === "garbage") return text(res, 200, "<html>502 Bad Gateway</html>");
    if (fault === "no_ts") return json(res, 200, { updates: [] });
    if (fault && "status" in fault) return text(res, fault.status, "scripted failure");
    if (fault?.failed === 1) return json(res, 200, { failed: 1, ts: String(c.history.length) });
    if (fault) {
      c.key = null;
      return json(res, 200, { failed: fault.failed });
    }
    if (query.get("act") !== "a_check" || query.get("key") !== c.key || c.key === null) {
      return json(res, 200, { failed: 2 });
    }
    const from = Number(ts);
    if (!Number.isInteger(from) || from < 0 || from > c.history.length) {
      return json(res, 200, { failed: 1, ts: String(c.history.length) });
    }
    if (from === c.history.length) {
      const holdMs = Math.min(
        Number(query.get("wait") ?? 25) * 1000,
        options.maxHoldMs ?? Infinity,
      );
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          c.waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, holdMs);
        c.waiters.add(wake);
        res.on("close", wake);
      });
      if (res.destroyed) return;
    }
    // VK leaves out event types the community has not enabled, yet their ts still counts.
    const slice = c.history.slice(from, from + maxBatch);
    const enabled = settings.get(groupId);
    const updates = enabled
      ? slice.filter((u) => enabled[(u as { type?: string })?.type ?? ""] !== 0)
      : slice;
    json(res, 200, { ts: String(from + slice.length), updates });
    if (slice.length > 0) options.onServe?.(groupId, from, slice.length);
  }

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const close = async () => {
    for (const res of hanging) res.destroy();
    for (const c of communities.values()) for (const wake of c.waiters) wake();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  };

  return {
    apiUrl: `${origin}/method`,
    push(updates, groupId = firstGroup) {
      const c = community(groupId);
      c.history.push(...updates);
      for (const wake of c.waiters) wake();
    },
    pollFault(faults, groupId = firstGroup) {
      community(groupId).pollFaults.push(...faults);
    },
    apiFault(method, faults) {
      apiFaults.set(method, [...(apiFaults.get(method) ?? []), ...faults]);
    },
    setApiDown(down) {
      apiDown = down;
    },
    users,
    groups,
    chats,
    settings,
    calls,
    apiCallTimes,
    apiCallMethods,
    pollRequests,
    keysIssued: (groupId = firstGroup) => community(groupId).keysIssued,
    head: (groupId = firstGroup) => community(groupId).history.length,
    close,
    [Symbol.asyncDispose]: close,
  };
}

function form(req: IncomingMessage, url: URL): Promise<URLSearchParams> {
  return new Promise((resolve, reject) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => (body += chunk));
    req.on("end", () => {
      const params = new URLSearchParams(body);
      for (const [k, v] of url.searchParams) if (!params.has(k)) params.set(k, v);
      resolve(params);
    });
    req.on("error", reject);
  });
}

function json(res: ServerResponse, status: number, body: unknown) {
  text(res, status, JSON.stringify(body), "application/json");
}

function text(res: ServerResponse, status: number, body: string, type = "text/plain") {
  res.writeHead(status, { "content-type": `${type}; charset=utf-8` });
  res.end(body);
}

function ok(res: ServerResponse, response: unknown) {
  json(res, 200, { response });
}

function vkError(res: ServerResponse, code: number, message: string) {
  json(res, 200, { error: { error_code: code, error_msg: message, request_params: [] } });
}
