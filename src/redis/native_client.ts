/**
 * {@linkcode RedisClient} over the hand-written RESP2 connection, for `redis://` URLs.
 * Transport failures reject (and the next command reconnects); a command Redis refuses
 * rejects with its {@linkcode RespError}. A request that times out drops the connection,
 * so that its late reply cannot be taken for another command's.
 * @module
 */
import { getLogger } from "@logtape/logtape";
import {
  type BatchResult,
  createRedisClient,
  type RedisBatch,
  type RedisClient,
  type RedisReply,
  settleBatch,
} from "./client.ts";
import { RespConnection, RespError, type RespValue } from "./resp_connection.ts";

const log = getLogger(["vk-event-router", "redis"]);

/** Options for {@linkcode createNativeClient}. */
export interface NativeClientOptions {
  /** `redis://[user:password@]host[:port][/db]`, or `rediss://` for TLS. */
  url: string;
  /** Per request (a whole batch counts as one). @default 5_000 */
  timeoutMs?: number;
}

/** A native client, which must be closed. */
export interface NativeClient extends RedisClient, AsyncDisposable {
  close(): Promise<void>;
}

/** Connects on first use and again after any failure. */
export function createNativeClient(options: NativeClientOptions): NativeClient {
  const timeoutMs = options.timeoutMs ?? 5_000;
  const connection = new RespConnection({ url: options.url, connectTimeoutMs: timeoutMs });
  let down = false;

  /** Sends commands in one round trip, bounded by the timeout. */
  async function send(commands: string[][]): Promise<RespValue[]> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const error = new Error(`Redis did not answer within ${timeoutMs} ms`);
        connection.reset(error);
        reject(error);
      }, timeoutMs);
    });
    try {
      const replies = await Promise.race([connection.send(commands), timeout]);
      if (down) log.info("Redis connection restored");
      down = false;
      return replies;
    } catch (error) {
      if (!down) {
        log.warn("Redis connection error: {message}", { message: (error as Error).message });
      }
      down = true;
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  async function transaction(commands: string[][]): Promise<BatchResult[]> {
    const replies = await send([["MULTI"], ...commands, ["EXEC"]]);
    const exec = replies.at(-1);
    if (Array.isArray(exec)) return exec.map(outcome);
    // Nothing ran: a command refused while queueing says why, else EXEC's own error does.
    const refused = replies.find((r, i) => i > 0 && r instanceof RespError) ?? exec;
    const reason = refused instanceof RespError ? refused.message : "EXEC answered nil";
    throw new Error(`Redis aborted the transaction: ${reason}`);
  }

  const close = () => {
    connection.close();
    return Promise.resolve();
  };
  return {
    ...createRedisClient({
      call: async (command) => plain((await send([command]))[0]!),
      pipeline: () => new RespBatch(async (commands) => (await send(commands)).map(outcome)),
      multi: () => new RespBatch(transaction),
    }),
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** A reply without error replies in it: those reject. */
function plain(value: RespValue): RedisReply {
  if (value instanceof RespError) throw value;
  return Array.isArray(value) ? value.map(plain) : value;
}

function outcome(value: RespValue): BatchResult {
  return value instanceof RespError
    ? { result: null, error: value.message }
    : { result: plain(value) };
}

/** Queues RESP commands; `run` sends them and gives each one's outcome. */
class RespBatch implements RedisBatch {
  readonly #commands: string[][] = [];
  readonly #run: (commands: string[][]) => Promise<BatchResult[]>;

  constructor(run: (commands: string[][]) => Promise<BatchResult[]>) {
    this.#run = run;
  }

  set(key: string, value: string, options?: { nx?: boolean }): this {
    return this.#add("SET", key, value, ...(options?.nx ? ["NX"] : []));
  }
  lpush(key: string, ...values: string[]): this {
    return this.#add("LPUSH", key, ...values);
  }
  ltrim(key: string, start: number, stop: number): this {
    return this.#add("LTRIM", key, String(start), String(stop));
  }
  hset(key: string, fields: Record<string, string>): this {
    return this.#add("HSET", key, ...Object.entries(fields).flat());
  }
  hincrby(key: string, field: string, increment: number): this {
    return this.#add("HINCRBY", key, field, String(increment));
  }
  hdel(key: string, ...fields: string[]): this {
    return this.#add("HDEL", key, ...fields);
  }
  zadd(key: string, entry: { score: number; member: string }): this {
    return this.#add("ZADD", key, String(entry.score), entry.member);
  }
  zrem(key: string, ...members: string[]): this {
    return this.#add("ZREM", key, ...members);
  }
  eval(script: string, keys: string[], args: string[]): this {
    return this.#add("EVAL", script, String(keys.length), ...keys, ...args);
  }
  evalsha(sha: string, keys: string[], args: string[]): this {
    return this.#add("EVALSHA", sha, String(keys.length), ...keys, ...args);
  }

  exec(): Promise<RedisReply[]>;
  exec(options: { keepErrors: true }): Promise<BatchResult[]>;
  async exec(options?: { keepErrors: true }): Promise<RedisReply[] | BatchResult[]> {
    if (this.#commands.length === 0) return [];
    const results = await this.#run(this.#commands);
    const names = this.#commands.map((c) => c[0]!);
    return settleBatch(results, names, options?.keepErrors === true);
  }

  #add(...command: string[]): this {
    this.#commands.push(command);
    return this;
  }
}
