/**
 * Clean-up by key prefix, for tests and for the benchmarks (which have no test Redis, so
 * this lives apart from `redis.ts`).
 * @module
 */
import type { RedisHandle } from "../../src/redis/connection.ts";

/** Deletes every key that starts with `prefix`. */
export async function deleteKeys(handle: RedisHandle, prefix: string): Promise<void> {
  let cursor = "0";
  do {
    const [next, keys] = await handle.redis.scan(cursor, { match: `${prefix}*`, count: 500 });
    if (keys.length > 0) await handle.redis.del(...keys);
    cursor = String(next);
  } while (cursor !== "0");
}
