/**
 * Redis-list destinations, effectively once: each event goes in a small Lua script that
 * pushes only when the event's dedup marker is absent and then sets it, atomically, all
 * of a batch in one pipeline. A replayed batch or a client retry after a lost answer finds the
 * marker and pushes nothing.
 * @module
 */
import type { RedisClient } from "../redis/connection.ts";
import type { Delivery, Outcome, Sink } from "./types.ts";
import { errorMessage } from "../errors.ts";

/**
 * KEYS[1] dedup marker, KEYS[2] list; ARGV[1] event JSON, ARGV[2] lpush|rpush, ARGV[3]
 * marker TTL. The marker is set only after the push succeeded: Redis does not roll a
 * script back, so a push refused with WRONGTYPE must not leave a marker behind.
 */
export const PUSH_ONCE_SCRIPT = `if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call(ARGV[2], KEYS[2], ARGV[1])
redis.call('SET', KEYS[1], '1', 'EX', ARGV[3])
return 1`;

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
            : Number(r.result) === 0
            ? { status: "delivered", duplicate: true }
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
