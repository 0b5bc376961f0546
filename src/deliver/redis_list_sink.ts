/**
 * Redis-list destinations, effectively once: a batch's events go to each list in one Lua
 * script that pushes every event whose dedup marker is absent and then sets the marker. A replayed batch or a client retry after a lost answer finds the
 * marker and pushes nothing.
 * @module
 */
import type { RedisClient } from "../redis/connection.ts";
import type { Delivery, Outcome, Sink } from "./types.ts";
import { errorMessage } from "../errors.ts";

/**
 * Pushes a batch of events to one list, each only if its dedup marker is absent, then sets
 * the marker. KEYS[1] is the list, KEYS[2..] the markers; ARGV[1] `lpush` or `rpush`,
 * ARGV[2] the marker TTL, ARGV[3..] the events' JSON. Answers 1 (pushed) or 0 (already
 * there) per event. A marker is set only after its push succeeded: Redis does not roll a
 * script back, so a push refused with WRONGTYPE leaves no marker, and on a retry the events
 * already pushed find theirs.
 */
export const PUSH_ONCE_SCRIPT = `local pushed = {}
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    pushed[i - 1] = 0
  else
    redis.call(ARGV[1], KEYS[1], ARGV[i + 1])
    redis.call('SET', KEYS[i], '1', 'EX', ARGV[2])
    pushed[i - 1] = 1
  end
end
return pushed`;

/** Events per script call: bounds how long one call keeps Redis busy. */
const CHUNK = 200;

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
      const chunks: Delivery[][] = [];
      for (let i = 0; i < items.length; i += CHUNK) chunks.push(items.slice(i, i + CHUNK));
      const pipeline = options.redis.pipeline();
      for (const chunk of chunks) {
        pipeline.eval(
          PUSH_ONCE_SCRIPT,
          [
            options.key,
            ...chunk.map((item) => dedupKey(options.prefix, options.name, item.eventId)),
          ],
          [options.push, ttl, ...chunk.map((item) => item.body)],
        );
      }
      try {
        const results = await pipeline.exec({ keepErrors: true });
        return chunks.flatMap((chunk, c) => {
          const { error, result } = results[c]!;
          if (error) {
            return chunk.map((): Outcome => ({
              status: "retry",
              error: `Redis refused the push: ${error}`,
            }));
          }
          const pushed = result as unknown[];
          return chunk.map((_, i): Outcome =>
            Number(pushed[i]) === 0
              ? { status: "delivered", duplicate: true }
              : { status: "delivered" }
          );
        });
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
