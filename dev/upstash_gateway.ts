/**
 * An Upstash-compatible REST gateway over a real Redis, so that the Upstash transport is
 * tested for real (there is no engine here for the usual SRH container). It implements
 * what `@upstash/redis` uses: POST `/`, `/pipeline` and `/multi-exec`, Bearer auth,
 * `{ result }` / `{ error }` answers, and base64 of strings when `Upstash-Encoding: base64`
 * is sent. Redis's own errors pass through, so an `EVALSHA` of a script Redis does not
 * know answers `NOSCRIPT` as on Upstash. It counts what Upstash bills (every command, those
 * inside pipelines and transactions included; a script call is one command) and can add a
 * network delay to every request. A development tool (the tests, the benchmarks and
 * `deno task serve:local`), not a product feature: never expose it beyond the loopback.
 * @module
 */
import { RespConnection, RespError, type RespValue } from "../src/redis/resp_connection.ts";

/** What a gateway served since it started or was last reset. */
export interface GatewayCounts {
  /** REST requests (each a billed round trip), any path. */
  requests: number;
  /** Redis commands, those inside pipelines and transactions included. */
  commands: number;
  /** Commands by name, upper case (`EVALSHA`, `HINCRBY`, ...). */
  byCommand: Map<string, number>;
}

/** Options for {@linkcode startUpstashGateway}. */
export interface UpstashGatewayOptions {
  /** @default "gateway-token" */
  token?: string;
  /** Added before every answer, as a network round trip to a far region would. @default 0 */
  latencyMs?: number;
  /** The port on 127.0.0.1. @default 0, a free one */
  port?: number;
}

/** A running gateway. */
export interface UpstashGateway extends AsyncDisposable {
  url: string;
  token: string;
  /** Live counts of what was served. */
  readonly counts: GatewayCounts;
  /** Starts counting from zero. */
  resetCounts(): void;
  /**
   * While set, every request answers 500 (as a failing Upstash would). A function decides
   * per request from its commands (true: 500), so that a test can fail, or end an outage
   * at, a known step of the client's work rather than at a moment that races it.
   */
  setFailing(failing: boolean | ((commands: readonly string[][]) => boolean)): void;
  close(): Promise<void>;
}

type Reply = RespValue;

/** Starts a gateway on 127.0.0.1 (a free port by default) in front of `redisUrl`. */
export function startUpstashGateway(
  redisUrl: string,
  options: UpstashGatewayOptions = {},
): UpstashGateway {
  const token = options.token ?? "gateway-token";
  const latencyMs = options.latencyMs ?? 0;
  const redis = new RespConnection({ url: redisUrl, connectTimeoutMs: 2000 });
  let failing: boolean | ((commands: readonly string[][]) => boolean) = false;
  const counts: GatewayCounts = { requests: 0, commands: 0, byCommand: new Map() };
  const count = (commands: readonly string[][]) => {
    counts.commands += commands.length;
    for (const [name] of commands) {
      const upper = name!.toUpperCase();
      counts.byCommand.set(upper, (counts.byCommand.get(upper) ?? 0) + 1);
    }
  };

  const encode = (value: Reply, base64: boolean): Reply => {
    if (!base64) return value;
    if (typeof value === "string") {
      let binary = "";
      for (const byte of new TextEncoder().encode(value)) binary += String.fromCharCode(byte);
      return btoa(binary);
    }
    if (Array.isArray(value)) return value.map((v) => encode(v, base64));
    return value;
  };
  const reply = (value: RespValue, base64: boolean) =>
    value instanceof RespError ? { error: value.message } : { result: encode(value, base64) };
  const asArgs = (command: unknown): string[] | null =>
    Array.isArray(command) && command.length > 0
      ? command.map((a) => typeof a === "string" ? a : JSON.stringify(a))
      : null;

  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: options.port ?? 0,
    onListen() {},
  }, async (req) => {
    const path = new URL(req.url).pathname;
    counts.requests++;
    if (latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, latencyMs));
    if (req.method !== "POST") {
      return Response.json({ error: "Method not allowed" }, { status: 405 });
    }
    if (req.headers.get("authorization") !== `Bearer ${token}`) {
      return Response.json({ error: "Unauthorized" }, { status: 401 });
    }
    const refused = () => Response.json({ error: "Internal error (scripted)" }, { status: 500 });
    if (failing === true) return refused();
    const base64 = req.headers.get("upstash-encoding")?.toLowerCase() === "base64";
    let body: unknown;
    try {
      body = await req.json();
    } catch {
      return Response.json({ error: "Invalid JSON body" }, { status: 400 });
    }
    if (typeof failing === "function") {
      const commands = (path === "/" ? [body] : Array.isArray(body) ? body : []).map(asArgs);
      if (failing(commands.filter((c) => c !== null))) return refused();
    }
    try {
      if (path === "/") {
        const args = asArgs(body);
        if (!args) return Response.json({ error: "Expected a command array" }, { status: 400 });
        count([args]);
        const [value] = await redis.send([args]);
        const answer = reply(value!, base64);
        return Response.json(answer, { status: "error" in answer ? 400 : 200 });
      }
      if (path === "/pipeline" || path === "/multi-exec") {
        if (!Array.isArray(body) || body.some((c) => !asArgs(c))) {
          return Response.json({ error: "Expected an array of command arrays" }, { status: 400 });
        }
        const commands = body.map((c) => asArgs(c)!);
        count(commands);
        if (path === "/pipeline") {
          return Response.json((await redis.send(commands)).map((v) => reply(v, base64)));
        }
        const replies = await redis.send([["MULTI"], ...commands, ["EXEC"]]);
        const exec = replies.at(-1);
        if (exec instanceof RespError) {
          return Response.json({ error: exec.message }, { status: 400 });
        }
        if (!Array.isArray(exec)) {
          return Response.json({ error: "Transaction aborted" }, { status: 400 });
        }
        return Response.json(exec.map((v) => reply(v, base64)));
      }
      return Response.json({ error: "Not found" }, { status: 404 });
    } catch (e) {
      return Response.json({ error: `Redis is unreachable: ${(e as Error).message}` }, {
        status: 500,
      });
    }
  });

  const close = async () => {
    await server.shutdown();
    redis.close();
  };
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    token,
    counts,
    resetCounts() {
      counts.requests = 0;
      counts.commands = 0;
      counts.byCommand.clear();
    },
    setFailing: (f) => failing = f,
    close,
    [Symbol.asyncDispose]: close,
  };
}
