/**
 * {@linkcode RedisClient} over Upstash's REST API through `@upstash/redis`, configured only
 * through its public constructor: replies come back raw (automatic deserialization off:
 * the router stores JSON text and wants it untouched), no telemetry, no auto-pipelining,
 * a timeout per request, and retries of a failed `fetch` (never of an HTTP error).
 * Single commands go through the SDK's generic `exec`; batches through its pipeline and
 * transaction builders, whose method shapes {@linkcode RedisBatch} follows.
 * @module
 */
import { Redis } from "@upstash/redis";
import { defaultTimeoutSignal, type TimeoutSignal } from "../util/timeouts.ts";
import {
  type BatchResult,
  createRedisClient,
  type RedisBatch,
  type RedisClient,
  type RedisReply,
  settleBatch,
} from "./client.ts";

/** Options for {@linkcode createUpstashClient}. */
export interface UpstashClientOptions {
  /** `UPSTASH_REDIS_REST_URL`. */
  url: string;
  /** `UPSTASH_REDIS_REST_TOKEN`. */
  token: string;
  /** Per request (a whole batch counts as one). @default 5_000 */
  timeoutMs?: number;
  /** Makes each request's timeout signal (the worker ties them to its request). */
  timeoutSignal?: TimeoutSignal;
  /** Retries of a request whose `fetch` threw. @default 2 */
  retries?: number;
}

/** A client over Upstash REST; it holds no connection, so there is nothing to close. */
export function createUpstashClient(options: UpstashClientOptions): RedisClient {
  const timeoutMs = options.timeoutMs ?? 5_000;
  const timeoutSignal = options.timeoutSignal ?? defaultTimeoutSignal;
  const sdk = new Redis({
    url: options.url,
    token: options.token,
    automaticDeserialization: false,
    enableTelemetry: false,
    enableAutoPipelining: false,
    readYourWrites: false,
    retry: { retries: options.retries ?? 2, backoff: (n) => 100 * 2 ** n },
    // The function form: a fixed signal, once aborted, would fail every later request.
    signal: () => timeoutSignal(timeoutMs),
  });
  return createRedisClient({
    call: (command) => sdk.exec<RedisReply>(command as [string, ...string[]]),
    pipeline: () => new UpstashBatch(sdk.pipeline()),
    multi: () => new UpstashBatch(sdk.multi()),
  });
}

type Pipeline = ReturnType<Redis["pipeline"]>;

/** Queues commands on the SDK's builder, which sends them to `/pipeline` or `/multi-exec`. */
class UpstashBatch implements RedisBatch {
  readonly #pipeline: Pipeline;
  readonly #names: string[] = [];

  constructor(pipeline: Pipeline) {
    this.#pipeline = pipeline;
  }

  set(key: string, value: string, options?: { nx?: boolean }): this {
    this.#pipeline.set(key, value, options?.nx ? { nx: true } : undefined);
    return this.#queued("SET");
  }
  lpush(key: string, ...values: string[]): this {
    this.#pipeline.lpush(key, ...values);
    return this.#queued("LPUSH");
  }
  ltrim(key: string, start: number, stop: number): this {
    this.#pipeline.ltrim(key, start, stop);
    return this.#queued("LTRIM");
  }
  hset(key: string, fields: Record<string, string>): this {
    this.#pipeline.hset(key, fields);
    return this.#queued("HSET");
  }
  hincrby(key: string, field: string, increment: number): this {
    this.#pipeline.hincrby(key, field, increment);
    return this.#queued("HINCRBY");
  }
  hdel(key: string, ...fields: string[]): this {
    this.#pipeline.hdel(key, ...fields);
    return this.#queued("HDEL");
  }
  zadd(key: string, entry: { score: number; member: string }): this {
    this.#pipeline.zadd(key, entry);
    return this.#queued("ZADD");
  }
  zrem(key: string, ...members: string[]): this {
    this.#pipeline.zrem(key, ...members);
    return this.#queued("ZREM");
  }
  eval(script: string, keys: string[], args: string[]): this {
    this.#pipeline.eval(script, keys, args);
    return this.#queued("EVAL");
  }
  evalsha(sha: string, keys: string[], args: string[]): this {
    this.#pipeline.evalsha(sha, keys, args);
    return this.#queued("EVALSHA");
  }

  exec(): Promise<RedisReply[]>;
  exec(options: { keepErrors: true }): Promise<BatchResult[]>;
  async exec(options?: { keepErrors: true }): Promise<RedisReply[] | BatchResult[]> {
    if (this.#names.length === 0) return [];
    const responses = await this.#pipeline.exec({ keepErrors: true });
    const results = responses.map(({ result, error }): BatchResult =>
      error === undefined || error === null
        ? { result: (result ?? null) as RedisReply }
        : { result: null, error }
    );
    return settleBatch(results, this.#names, options?.keepErrors === true);
  }

  #queued(name: string): this {
    this.#names.push(name);
    return this;
  }
}
