/**
 * The Redis commands the router uses, as one small typed interface
 * ({@linkcode RedisClient}), built by {@linkcode createRedisClient} over a transport that
 * sends raw commands: `native_client.ts` (RESP2 on a socket, for `redis://`) or
 * `upstash_client.ts` (`@upstash/redis` over REST). Both transports answer with Redis's raw
 * replies (Upstash's with its automatic deserialization off), so one layer turns replies
 * into types for both. Values are the strings Redis stores, never JSON-parsed: the router
 * stores JSON text and wants it back untouched. `tests/redis_contract_test.ts` runs the
 * same cases over both transports.
 * @module
 */

/** A reply as Redis gives it. */
export type RedisReply = string | number | null | RedisReply[];

/** A stream entry: its id and its `[field, value, ...]` list. */
export type StreamEntry = [id: string, fields: string[]];

/** One consumer group of a stream, as `XINFO GROUPS` tells it. */
export interface StreamGroup {
  name: string;
  consumers: number;
  /** Entries delivered to a consumer and not yet acknowledged. */
  pending: number;
  /** The id of the last entry delivered to the group. */
  lastDeliveredId: string;
  /** Entries not yet delivered to the group; null where Redis cannot tell (before 7.0, after XDEL). */
  lag: number | null;
}

/** One command's outcome in a batch sent with `keepErrors`. */
export interface BatchResult {
  result: RedisReply;
  /** Redis's error message, when the command failed. */
  error?: string;
}

/**
 * Commands that go out in one round trip when `exec` is called: a pipeline, or with
 * {@linkcode RedisClient.multi} a transaction (`MULTI`/`EXEC`). Each method queues and
 * returns the batch.
 */
export interface RedisBatch {
  set(key: string, value: string, options?: { nx?: boolean }): RedisBatch;
  lpush(key: string, ...values: string[]): RedisBatch;
  ltrim(key: string, start: number, stop: number): RedisBatch;
  hset(key: string, fields: Record<string, string>): RedisBatch;
  hincrby(key: string, field: string, increment: number): RedisBatch;
  hdel(key: string, ...fields: string[]): RedisBatch;
  zadd(key: string, entry: { score: number; member: string }): RedisBatch;
  zrem(key: string, ...members: string[]): RedisBatch;
  eval(script: string, keys: string[], args: string[]): RedisBatch;
  /** A script Redis already knows, by its SHA-1; fails with `NOSCRIPT` otherwise. */
  evalsha(sha: string, keys: string[], args: string[]): RedisBatch;
  /** Sends the batch; rejects if any command failed. An empty batch sends nothing. */
  exec(): Promise<RedisReply[]>;
  /** Sends the batch and gives each command's result or error. */
  exec(options: { keepErrors: true }): Promise<BatchResult[]>;
}

/**
 * A Redis connection as the router uses it. A command rejects when Redis refuses it or
 * cannot be reached.
 */
export interface RedisClient {
  get(key: string): Promise<string | null>;
  /** Sets `key`; with `px`, it expires after that many milliseconds. */
  set(key: string, value: string, options?: { px: number }): Promise<void>;
  del(...keys: string[]): Promise<number>;
  /** How many of `keys` exist. */
  exists(...keys: string[]): Promise<number>;
  llen(key: string): Promise<number>;
  lrange(key: string, start: number, stop: number): Promise<string[]>;
  lpush(key: string, ...values: string[]): Promise<number>;
  rpush(key: string, ...values: string[]): Promise<number>;
  /** The item at `index` (negative from the tail), null past either end. */
  lindex(key: string, index: number): Promise<string | null>;
  /** Up to `count` items from the head; null when the list does not exist. */
  lpop(key: string, count: number): Promise<string[] | null>;
  rpop(key: string): Promise<string | null>;
  /** Up to `count` items from the tail; null when the list does not exist. */
  rpop(key: string, count: number): Promise<string[] | null>;
  /** The values in the order of `fields`, null for a missing one. */
  hmget(key: string, ...fields: string[]): Promise<(string | null)[]>;
  hgetall(key: string): Promise<Record<string, string>>;
  /** Members with scores in `[min, max]`, lowest first, `count` of them from `offset`. */
  zrange(
    key: string,
    min: number,
    max: number,
    options: { byScore: true; offset: number; count: number },
  ): Promise<string[]>;
  zcard(key: string): Promise<number>;
  /** The lowest score in the sorted set; null when it is empty. */
  lowestScore(key: string): Promise<number | null>;
  xlen(key: string): Promise<number>;
  /** Entries with ids in `[start, end]` (`"-"` and `"+"` for the ends), oldest first. */
  xrange(key: string, start: string, end: string, count?: number): Promise<StreamEntry[]>;
  xdel(key: string, ids: string[]): Promise<number>;
  /** The stream's consumer groups; none when it has none or does not exist. */
  xinfoGroups(key: string): Promise<StreamGroup[]>;
  /** Appends an entry with an id Redis chooses (`*`) and answers that id. */
  xadd(key: string, fields: Record<string, string>): Promise<string>;
  /** One step of a key scan: the next cursor (`"0"` when done) and some keys. */
  scan(
    cursor: string,
    options: { match: string; count: number },
  ): Promise<[cursor: string, keys: string[]]>;
  ping(): Promise<void>;
  pipeline(): RedisBatch;
  multi(): RedisBatch;
  /**
   * Any other command, its reply untyped: for tests and operators' recipes (`XGROUP`,
   * `XREADGROUP`, ...), not for the router's own paths, which use the typed methods.
   */
  call(command: string[]): Promise<RedisReply>;
}

/** What a transport provides: single raw commands, and batches. */
export interface RedisTransport {
  /** Sends one command (`["GET", key]`); rejects when Redis refuses it or is unreachable. */
  call(command: string[]): Promise<RedisReply>;
  pipeline(): RedisBatch;
  multi(): RedisBatch;
}

/** The typed commands over a transport. */
export function createRedisClient(transport: RedisTransport): RedisClient {
  const call = (...command: string[]) => transport.call(command);
  function rpop(key: string): Promise<string | null>;
  function rpop(key: string, count: number): Promise<string[] | null>;
  async function rpop(key: string, count?: number): Promise<string | string[] | null> {
    return count === undefined
      ? asString(await call("RPOP", key))
      : asStringsOrNull(await call("RPOP", key, String(count)));
  }
  return {
    get: async (key) => asString(await call("GET", key)),
    set: async (key, value, options) =>
      void await call("SET", key, value, ...(options ? ["PX", String(options.px)] : [])),
    del: async (...keys) => asInteger(await call("DEL", ...keys)),
    exists: async (...keys) => asInteger(await call("EXISTS", ...keys)),
    llen: async (key) => asInteger(await call("LLEN", key)),
    lrange: async (key, start, stop) =>
      asStrings(await call("LRANGE", key, String(start), String(stop))),
    lpush: async (key, ...values) => asInteger(await call("LPUSH", key, ...values)),
    rpush: async (key, ...values) => asInteger(await call("RPUSH", key, ...values)),
    lindex: async (key, index) => asString(await call("LINDEX", key, String(index))),
    lpop: async (key, count) => asStringsOrNull(await call("LPOP", key, String(count))),
    rpop,
    hmget: async (key, ...fields) => asStringsOrNulls(await call("HMGET", key, ...fields)),
    hgetall: async (key) => asHash(await call("HGETALL", key)),
    zrange: async (key, min, max, { offset, count }) =>
      asStrings(
        await call("ZRANGE", key, `${min}`, `${max}`, "BYSCORE", "LIMIT", `${offset}`, `${count}`),
      ),
    zcard: async (key) => asInteger(await call("ZCARD", key)),
    lowestScore: async (key) => {
      const [, score] = asStrings(await call("ZRANGE", key, "0", "0", "WITHSCORES"));
      return score === undefined ? null : Number(score);
    },
    xlen: async (key) => asInteger(await call("XLEN", key)),
    xrange: async (key, start, end, count) =>
      asStreamEntries(
        await call(
          "XRANGE",
          key,
          start,
          end,
          ...(count === undefined ? [] : ["COUNT", `${count}`]),
        ),
      ),
    xdel: async (key, ids) => asInteger(await call("XDEL", key, ...ids)),
    xinfoGroups: async (key) => {
      try {
        return asStreamGroups(await call("XINFO", "GROUPS", key));
      } catch (error) {
        if (/no such key/i.test(String((error as Error).message))) return [];
        throw error;
      }
    },
    xadd: async (key, fields) =>
      asString(await call("XADD", key, "*", ...Object.entries(fields).flat())) ?? "",
    scan: async (cursor, { match, count }) =>
      asScan(await call("SCAN", cursor, "MATCH", match, "COUNT", String(count))),
    ping: async () => void await call("PING"),
    pipeline: () => transport.pipeline(),
    multi: () => transport.multi(),
    call: (command) => transport.call(command),
  };
}

function unexpected(reply: unknown, wanted: string): TypeError {
  return new TypeError(`Redis answered ${JSON.stringify(reply)} where ${wanted} was expected`);
}

/** A bulk string or nil. */
function asString(reply: unknown): string | null {
  if (reply === null || typeof reply === "string") return reply;
  throw unexpected(reply, "a string");
}

/** An integer. */
function asInteger(reply: unknown): number {
  if (typeof reply === "number") return reply;
  throw unexpected(reply, "an integer");
}

/** An array of strings, some of them maybe nil. */
function asStringsOrNulls(reply: unknown): (string | null)[] {
  if (Array.isArray(reply) && reply.every((r) => r === null || typeof r === "string")) {
    return reply;
  }
  throw unexpected(reply, "an array of strings");
}

/** An array of strings. */
function asStrings(reply: unknown): string[] {
  if (Array.isArray(reply) && reply.every((r) => typeof r === "string")) return reply;
  throw unexpected(reply, "an array of strings");
}

/** An array of strings, or nil. */
function asStringsOrNull(reply: unknown): string[] | null {
  return reply === null ? null : asStrings(reply);
}

/** HGETALL's flat `[field, value, ...]` array. */
function asHash(reply: unknown): Record<string, string> {
  const flat = asStrings(reply);
  const pairs: [string, string][] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) pairs.push([flat[i]!, flat[i + 1]!]);
  return Object.fromEntries(pairs);
}

/** XRANGE's `[[id, [field, value, ...]], ...]`. */
function asStreamEntries(reply: unknown): StreamEntry[] {
  if (!Array.isArray(reply)) throw unexpected(reply, "stream entries");
  return reply.map((entry): StreamEntry => {
    if (Array.isArray(entry) && entry.length === 2 && typeof entry[0] === "string") {
      return [entry[0], asStrings(entry[1])];
    }
    throw unexpected(entry, "a stream entry");
  });
}

/** XINFO GROUPS' `[[name, n, consumers, c, pending, p, last-delivered-id, id, ...], ...]`. */
function asStreamGroups(reply: unknown): StreamGroup[] {
  if (!Array.isArray(reply)) throw unexpected(reply, "stream groups");
  return reply.map((group): StreamGroup => {
    if (!Array.isArray(group)) throw unexpected(group, "a stream group");
    const info = new Map<string, unknown>();
    for (let i = 0; i + 1 < group.length; i += 2) info.set(String(group[i]), group[i + 1]);
    const count = (field: string) => {
      const n = Number(info.get(field));
      return Number.isFinite(n) && info.get(field) !== null ? n : null;
    };
    return {
      name: String(info.get("name")),
      consumers: count("consumers") ?? 0,
      pending: count("pending") ?? 0,
      lastDeliveredId: String(info.get("last-delivered-id") ?? "0-0"),
      lag: info.has("lag") ? count("lag") : null,
    };
  });
}

/** SCAN's `[cursor, keys]`. */
function asScan(reply: unknown): [string, string[]] {
  if (Array.isArray(reply) && reply.length === 2) {
    const [cursor, keys] = reply;
    if (typeof cursor === "string" || typeof cursor === "number") {
      return [String(cursor), asStrings(keys)];
    }
  }
  throw unexpected(reply, "a scan cursor and keys");
}

/**
 * A batch's outcome as `exec` promises it: every result and error, or with `keepErrors`
 * unset, the results unless a command failed. `names` are the commands, for the message.
 */
export function settleBatch(
  results: BatchResult[],
  names: readonly string[],
  keepErrors: boolean,
): RedisReply[] | BatchResult[] {
  if (keepErrors) return results;
  const failed = results.findIndex((r) => r.error !== undefined);
  if (failed !== -1) {
    throw new Error(
      `Cannot run command ${failed + 1} (${names[failed]}) of the batch: ${results[failed]!.error}`,
    );
  }
  return results.map((r) => r.result);
}
