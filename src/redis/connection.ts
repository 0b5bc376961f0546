/**
 * One Redis API (`@upstash/redis`), two transports: Upstash REST, or a native
 * `redis://` connection behind a custom requester. Everything above this module sees
 * only {@linkcode RedisClient}.
 * @module
 */
import { Redis } from "@upstash/redis";
import type { RedisConnection } from "../config/config.ts";
import { defaultTimeoutSignal, type TimeoutSignal } from "../util/timeouts.ts";
import { createNativeRequester } from "./native_requester.ts";

/** The client every Redis user in the service takes. */
export type RedisClient = Redis;

/** An open Redis connection. */
export interface RedisHandle extends AsyncDisposable {
  redis: RedisClient;
  kind: RedisConnection["kind"];
  close(): Promise<void>;
}

/**
 * `@upstash/redis`'s constructor drops options when handed a requester, so this
 * subclass sets them itself: values come back untouched (we store JSON strings) and
 * nothing is sent to Upstash's telemetry.
 */
class RequesterRedis extends Redis {
  constructor(requester: ConstructorParameters<typeof Redis>[0] & { request: unknown }) {
    super(requester);
    this.opts = { automaticDeserialization: false };
    this.enableTelemetry = false;
    this.enableAutoPipelining = false;
  }
}

/** Opens the configured connection. Never blocks on the network: a down Redis shows on first use. */
export function connectRedis(
  connection: RedisConnection,
  options: {
    timeoutMs?: number;
    /** Where request deadlines come from (the worker ties them to the request). */
    timeoutSignal?: TimeoutSignal;
    /** Retry a failed Upstash request twice (not in the worker, which must answer fast). */
    retry?: boolean;
  } = {},
): RedisHandle {
  const timeoutMs = options.timeoutMs ?? 5_000;
  const timeoutSignal = options.timeoutSignal ?? defaultTimeoutSignal;
  if (connection.kind === "upstash") {
    const redis = new Redis({
      url: connection.url,
      token: connection.token,
      automaticDeserialization: false,
      enableTelemetry: false,
      enableAutoPipelining: false,
      readYourWrites: false,
      retry: options.retry === false ? false : { retries: 2, backoff: (n) => 100 * 2 ** n },
      signal: () => timeoutSignal(timeoutMs),
    });
    const close = () => Promise.resolve();
    return { redis, kind: "upstash", close, [Symbol.asyncDispose]: close };
  }
  const requester = createNativeRequester({ url: connection.url, timeoutMs });
  const close = () => requester.close();
  return {
    redis: new RequesterRedis(requester),
    kind: "native",
    close,
    [Symbol.asyncDispose]: close,
  };
}
