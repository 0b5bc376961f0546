/**
 * Opens the configured Redis: Upstash REST, or a `redis://` server over our own RESP2
 * connection. Everything above this module sees only {@linkcode RedisClient}, the typed
 * commands the router uses.
 *
 * Why a hand-written RESP2 client for `redis://` rather than a maintained one: the promise
 * we need is that after any socket trouble (an error, a close, a timeout, a Redis crash)
 * every pending command fails and no reply is ever matched to the wrong command. node-redis
 * 5.9 once broke it here: after a Redis SIGKILL it came back "ready" with its replies out
 * of step and every command hung. Our connection makes the rule structural (a socket and
 * its pending commands are dropped together; a timeout drops the socket too), uses Deno's
 * own sockets, and needs no dependency. The router needs about twenty commands, pipelines
 * and MULTI, and no RESP3, pub/sub or cluster, so it stays small: `resp_connection.ts`, an
 * incremental parser tested with replies cut at random bytes (`resp_parser.ts`), and the
 * typed commands (`client.ts`) shared with the Upstash transport, so that one contract
 * suite holds both to the same answers. A maintained client can take over by implementing
 * `RedisTransport`, once it passes that suite.
 * @module
 */
import type { TimeoutSignal } from "../util/timeouts.ts";
import { createNativeClient } from "./native_client.ts";
import { createUpstashClient } from "./upstash_client.ts";

export type { BatchResult, RedisBatch, RedisClient, RedisReply, StreamEntry } from "./client.ts";
import type { RedisClient } from "./client.ts";

/** Where Redis lives: Upstash over REST, or a native `redis://` server. */
export type RedisConnection =
  | { kind: "upstash"; url: string; token: string }
  | { kind: "native"; url: string };

/** An open Redis connection. */
export interface RedisHandle extends AsyncDisposable {
  redis: RedisClient;
  kind: RedisConnection["kind"];
  close(): Promise<void>;
}

/** Opens the configured connection. Never blocks on the network: a down Redis shows on first use. */
export function connectRedis(
  connection: RedisConnection,
  options: {
    timeoutMs?: number;
    /** Where Upstash request deadlines come from (the worker ties them to the request). */
    timeoutSignal?: TimeoutSignal;
    /** Retry a failed Upstash request twice (not in the worker, which must answer fast). */
    retry?: boolean;
  } = {},
): RedisHandle {
  const timeoutMs = options.timeoutMs ?? 5_000;
  if (connection.kind === "upstash") {
    const redis = createUpstashClient({
      url: connection.url,
      token: connection.token,
      timeoutMs,
      ...(options.timeoutSignal ? { timeoutSignal: options.timeoutSignal } : {}),
      retries: options.retry === false ? 0 : 2,
    });
    const close = () => Promise.resolve();
    return { redis, kind: "upstash", close, [Symbol.asyncDispose]: close };
  }
  const redis = createNativeClient({ url: connection.url, timeoutMs });
  const close = () => redis.close();
  return { redis, kind: "native", close, [Symbol.asyncDispose]: close };
}
