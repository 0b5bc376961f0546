/**
 * The Bots Long Poll source: an async iterator of batches that survives every fault VK
 * and the network can throw. It never advances its own `ts` past a batch until the
 * consumer asks for the next one, so a batch is handed over exactly once per run and
 * the consumer decides when it is safe to checkpoint.
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { errorMessage, VkApiError, VkFatalError } from "../errors.ts";
import { retry } from "../util/retry.ts";
import { type Backoff, DEFAULT_BACKOFF, type Sleep, sleep } from "../util/time.ts";
import { deadline } from "../util/timeouts.ts";
import { describeFetchError, type VkApi } from "./api.ts";

const log = getLogger(["vk-event-router", "poll"]);

/** One `a_check` answer: the raw updates and the `ts` to ask from next. */
export interface Batch {
  groupId: number;
  /** The `ts` that follows these updates; checkpoint it once they are handled. */
  ts: string;
  updates: unknown[];
  /** When the poll response arrived (ms since epoch). */
  receivedAt: number;
}

/** What the poller is doing, for the status page. */
export type ConnectionState = "connecting" | "polling" | "backoff" | "fatal" | "stopped";

/** Receives what the poller sees; the status page and metrics implement it. */
export interface PollObserver {
  state(groupId: number, state: ConnectionState, detail?: string): void;
  /**
   * `failed: 1` on a ts the router had reached (its checkpoint, or a batch it took): VK
   * dropped history, events may have been lost. Not called when the ts VK itself just gave
   * is already stale: before the first batch there is nothing to lose.
   */
  historyLost(groupId: number): void;
  /** A fault that the poller retries: `kind` is a short label for metrics. */
  fault(groupId: number, kind: PollFault, message: string): void;
}

/** Labels of retried faults (every one a metric label from the start). */
export const POLL_FAULTS = [
  "server",
  "network",
  "timeout",
  "http",
  "json",
  "no_ts",
  "failed_2",
  "failed_3",
] as const;

/** A label of a retried fault. */
export type PollFault = typeof POLL_FAULTS[number];

/** Options for {@linkcode createPoller}. */
export interface PollerOptions {
  groupId: number;
  api: VkApi;
  /** Where to resume; null asks VK for the current position. */
  initialTs?: string | null;
  /**
   * A poll server and key to start with (the previous holder's, handed over in Redis);
   * null fetches one. VK says when it no longer holds (`failed` 2 or 3).
   */
  initialServer?: PollServer | null;
  /** Told each poll server fetched from VK, to hand it over to the next holder. */
  onServer?: (server: PollServer) => Promise<void>;
  /** Seconds VK may hold a poll, 1..90. @default 25 */
  wait?: number;
  /** Abort an `a_check` this long after `wait`. @default 10_000 */
  graceMs?: number;
  /** Consecutive failures after which the poll server is fetched anew (ts kept). @default 5 */
  refetchAfter?: number;
  backoff?: Backoff;
  fetch?: typeof fetch;
  sleep?: Sleep;
  random?: () => number;
  now?: () => number;
  observer?: PollObserver;
  signal: AbortSignal;
}

/** VK codes that no retry fixes, with what the operator should do. */
const FATAL_CODES: Record<number, string> = {
  5: "the token is invalid or revoked: create a new community token with the Manage permission",
  15: "access denied: the token must belong to this community and have the Manage permission",
  27: "the token is a community token of another community, or lacks the Manage permission",
  100:
    "check VK_GROUP_ID, and enable Bots Long Poll API in the community settings (Manage > API usage > Long Poll API)",
};

/** A Bots Long Poll server and key, as `groups.getLongPollServer` answers them. */
export interface PollServer {
  server: string;
  key: string;
  ts: string | number;
}

/**
 * How long a handed-over key is trusted before a fresh one is asked for. VK does not say
 * how long a key lives; it answers `failed: 2` once it expired, which is retried at once
 * with a new key, so this only spares a new holder a doomed first poll.
 */
export const POLL_SERVER_MAX_AGE_MS = 3_600_000;

/** A poll server as kept in the store, with when it was fetched (ms since epoch). */
export function encodePollServer(server: PollServer, fetchedAt: number): string {
  return JSON.stringify({ server: server.server, key: server.key, at: fetchedAt });
}

/** The kept poll server, or null when there is none, it is garbled or older than trusted. */
export function decodePollServer(text: string | null, now: number): PollServer | null {
  if (text === null) return null;
  try {
    const { server, key, at } = JSON.parse(text);
    if (typeof server !== "string" || typeof key !== "string" || typeof at !== "number") {
      return null;
    }
    return now - at <= POLL_SERVER_MAX_AGE_MS ? { server, key, ts: "" } : null;
  } catch {
    return null;
  }
}

type ACheckAnswer =
  | { kind: "batch"; ts: string; updates: unknown[] }
  | { kind: "failed"; failed: 1 | 2 | 3; ts: string | null };

class PollFaultError extends Error {
  constructor(readonly kind: PollFault, message: string) {
    super(message);
    this.name = "PollFaultError";
  }
}

const noopObserver: PollObserver = { state() {}, historyLost() {}, fault() {} };

/**
 * Creates the long-poll source for one community. Iterate it; it ends on abort and
 * throws {@linkcode VkFatalError} when VK refuses for a reason retries cannot fix.
 *
 * @example
 * ```ts
 * for await (const batch of createPoller({ groupId, api, signal })) {
 *   await handle(batch);
 *   await store.setCheckpoint(groupId, batch.ts);
 * }
 * ```
 */
export async function* createPoller(options: PollerOptions): AsyncGenerator<Batch, void, void> {
  const { groupId, api, signal } = options;
  const wait = options.wait ?? 25;
  const graceMs = options.graceMs ?? 10_000;
  const refetchAfter = options.refetchAfter ?? 5;
  const backoff = options.backoff ?? DEFAULT_BACKOFF;
  const doFetch = options.fetch ?? fetch;
  const pause = options.sleep ?? sleep;
  const random = options.random ?? Math.random;
  const now = options.now ?? Date.now;
  const observer = options.observer ?? noopObserver;

  let ts: string | null = options.initialTs ?? null;
  // A handed-over key needs a position to poll from: without a checkpoint, ask VK.
  let server: PollServer | null = ts === null ? null : options.initialServer ?? null;
  if (server) {
    log.info("Long poll of community {groupId} continues with the key it was handed", { groupId });
  }
  /** Whether `ts` is a position the router reached, so history after it is ours to lose. */
  let resumed = ts !== null;

  /** One poll: a poll server first when we have none, then an `a_check`. */
  const pollOnce = async (): Promise<ACheckAnswer> => {
    if (server === null) server = await fetchServer();
    try {
      return await aCheck(server, ts!);
    } catch (error) {
      if (error instanceof PollFaultError || signal.aborted) throw error;
      throw new PollFaultError("network", describeFetchError(error));
    }
  };

  /** Every retried fault passes here: counted, shown, logged; the server is refetched now and then. */
  const onFault = (error: unknown, failures: number, delay: number) => {
    const kind = error instanceof PollFaultError ? error.kind : "server";
    const message = errorMessage(error);
    observer.fault(groupId, kind, message);
    observer.state(groupId, "backoff", message);
    log.warn(
      "Long poll of community {groupId} failed ({kind}): {message}; retry {failures} in {delay} ms",
      { groupId, kind, message, failures, delay },
    );
    if (kind === "server" || failures % refetchAfter === 0) server = null;
  };

  observer.state(groupId, "connecting");
  try {
    while (!signal.aborted) {
      let answer: ACheckAnswer;
      try {
        answer = await retry(pollOnce, {
          backoff,
          signal,
          sleep: pause,
          random,
          retryable: (error) => fatalReason(error) === null,
          onRetry: onFault,
        });
      } catch (error) {
        if (signal.aborted) break;
        const fatal = fatalReason(error);
        if (!fatal) throw error;
        observer.state(groupId, "fatal", fatal);
        throw new VkFatalError(`Long poll of community ${groupId} stopped: ${fatal}`, {
          cause: error,
        });
      }

      if (answer.kind === "failed") {
        switch (answer.failed) {
          case 1:
            if (resumed) {
              log.warn(
                "Long poll of community {groupId}: VK dropped history (failed: 1); events between ts {from} and {to} may have been lost",
                { groupId, from: ts, to: answer.ts },
              );
              observer.historyLost(groupId);
            } else {
              log.info(
                "Long poll of community {groupId}: VK's own ts {from} was stale (failed: 1); starting from ts {to}, nothing was lost",
                { groupId, from: ts, to: answer.ts },
              );
            }
            if (answer.ts !== null) ts = answer.ts;
            break;
          case 2:
            observer.fault(groupId, "failed_2", "key expired");
            log.info(
              "Long poll key of community {groupId} expired (failed: 2); fetching a new key, keeping ts {ts}",
              { groupId, ts },
            );
            server = null;
            break;
          case 3:
            observer.fault(groupId, "failed_3", "information lost");
            log.warn(
              "Long poll of community {groupId} lost its key and ts (failed: 3); starting again from VK's ts",
              { groupId },
            );
            server = null;
            ts = null;
            break;
        }
        continue;
      }

      observer.state(groupId, "polling");
      yield { groupId, ts: answer.ts, updates: answer.updates, receivedAt: now() };
      ts = answer.ts;
      resumed = true;
    }
  } finally {
    observer.state(groupId, "stopped");
  }

  async function fetchServer(): Promise<PollServer> {
    const found = await api.call<PollServer>(
      "groups.getLongPollServer",
      { group_id: groupId },
      signal,
    );
    if (typeof found?.server !== "string" || typeof found.key !== "string") {
      throw new PollFaultError("server", "groups.getLongPollServer answered without server or key");
    }
    if (ts === null) ts = String(found.ts);
    log.info("Long poll of community {groupId} connected at ts {ts}", { groupId, ts });
    await options.onServer?.(found).catch((error) =>
      log.warn("Cannot keep the poll server of community {groupId} for the next holder: {error}", {
        groupId,
        error: errorMessage(error),
      })
    );
    return found;
  }

  async function aCheck(from: PollServer, since: string): Promise<ACheckAnswer> {
    const query = new URLSearchParams({
      act: "a_check",
      key: from.key,
      ts: since,
      wait: String(wait),
    });
    const url = `${from.server}${from.server.includes("?") ? "&" : "?"}${query}`;
    using timeout = deadline(signal, wait * 1000 + graceMs);
    let response: Response;
    try {
      response = await doFetch(url, { signal: timeout.signal });
    } catch (error) {
      if (timeout.expired) {
        throw new PollFaultError("timeout", `no answer within ${wait} s + ${graceMs} ms`);
      }
      throw error;
    }
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      if (timeout.expired) {
        throw new PollFaultError("timeout", `no answer within ${wait} s + ${graceMs} ms`);
      }
      throw new PollFaultError(
        "network",
        `reading the poll answer failed: ${describeFetchError(error)}`,
      );
    }
    if (!response.ok) {
      throw new PollFaultError("http", `poll server answered HTTP ${response.status}`);
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new PollFaultError(
        "json",
        `poll server answered with a body that is not JSON: ${preview(text)}`,
      );
    }
    if (body === null || typeof body !== "object") {
      throw new PollFaultError("json", `poll server answered with ${preview(text)}`);
    }
    const b = body as { ts?: unknown; updates?: unknown; failed?: unknown };
    const nextTs = typeof b.ts === "string" || typeof b.ts === "number" ? String(b.ts) : null;
    if (b.failed === 1 || b.failed === 2 || b.failed === 3) {
      return { kind: "failed", failed: b.failed, ts: nextTs };
    }
    if (b.failed !== undefined) {
      throw new PollFaultError("json", `unknown failed code ${preview(String(b.failed))}`);
    }
    if (nextTs === null) {
      throw new PollFaultError("no_ts", `poll answer has no ts: ${preview(text)}`);
    }
    if (b.updates !== undefined && !Array.isArray(b.updates)) {
      throw new PollFaultError(
        "json",
        `poll answer has updates that are not a list: ${preview(text)}`,
      );
    }
    return { kind: "batch", ts: nextTs, updates: (b.updates as unknown[] | undefined) ?? [] };
  }
}

/** The operator-facing reason when `error` is one that retrying cannot fix, else null. */
export function fatalReason(error: unknown): string | null {
  if (!(error instanceof VkApiError)) return null;
  const fix = FATAL_CODES[error.code];
  return fix
    ? `VK error ${error.code} (${error.message.replace(/^.*?: error \d+: /, "")}): ${fix}`
    : null;
}

function preview(text: string): string {
  const oneLine = text.replace(/\s+/g, " ").trim();
  return oneLine.length > 120 ? `${oneLine.slice(0, 120)}…` : oneLine || "(empty body)";
}
