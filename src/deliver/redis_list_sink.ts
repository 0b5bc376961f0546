/**
 * Redis-list destinations, effectively once: each event goes in a small Lua script that
 * sets a dedup marker (`SET NX EX`) and pushes only when the marker was new, all of a
 * batch in one pipeline. A replayed batch or a client retry after a lost answer finds the
 * marker and pushes nothing.
 * @module
 */
import type { RedisClient } from "../redis/connection.ts";
import type { Delivery, Outcome, Sink } from "./types.ts";
import { errorMessage } from "../errors.ts";

/** KEYS[1] dedup marker, KEYS[2] list; ARGV[1] event JSON, ARGV[2] lpush|rpush, ARGV[3] marker TTL. */
export const PUSH_ONCE_SCRIPT = `if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[3]) then
  redis.call(ARGV[2], KEYS[2], ARGV[1])
  return 1
end
return 0`;

/** Options for {@linkcode createRedisListSink}. */
export interface RedisListSinkOptions {
  name: string;
  redis: RedisClient;
  key: string;
  push: "lpush" | "rpush";
  /** Prefix of dedup markers (the router's `REDIS_PREFIX`). */
  prefix: string;
  /** How long a pushed event id is remembered. @default 3 days */
  dedupTtlS?: number;
}

/** The dedup marker key of an event for a destination. */
export function dedupKey(prefix: string, destination: string, eventId: string): string {
  return `${prefix}dedup:${destination}:${eventId}`;
}

/** Creates a redis-list sink. */
export function createRedisListSink(options: RedisListSinkOptions): Sink {
  const ttl = String(options.dedupTtlS ?? 3 * 86_400);
  return {
    name: options.name,
    kind: "redis-list",
    async deliver(items: readonly Delivery[]): Promise<Outcome[]> {
      if (items.length === 0) return [];
      const pipeline = options.redis.pipeline();
      for (const item of items) {
        pipeline.eval(PUSH_ONCE_SCRIPT, [
          dedupKey(options.prefix, options.name, item.eventId),
          options.key,
        ], [
          item.body,
          options.push,
          ttl,
        ]);
      }
      try {
        const results = await pipeline.exec({ keepErrors: true });
        return results.map((r): Outcome =>
          r.error
            ? { status: "retry", error: `Redis refused the push: ${r.error}` }
            : { status: "delivered" }
        );
      } catch (error) {
        const outcome: Outcome = {
          status: "retry",
          error: `Redis unreachable: ${errorMessage(error)}`,
        };
        return items.map(() => outcome);
      }
    },
  };
}
