/**
 * Effectively-once appends to one Redis key, shared by the Redis destination kinds: a
 * batch's events go in one Lua script call (per chunk) that appends each event whose
 * dedup marker is absent and then sets the marker. A replayed batch, or a client retry
 * after a lost answer, finds the markers and appends nothing twice.
 *
 * A kind's script gets KEYS[1] = the destination key, KEYS[2..] = one marker per event;
 * ARGV[1] = the kind's own setting, ARGV[2] = the marker TTL, then `argsPerEvent` values
 * per event. It answers 1 (appended) or 0 (already there) per event. A marker is set only
 * after its append succeeded: Redis does not roll a script back, so an append refused with
 * WRONGTYPE leaves no marker, and on a retry the events already appended find theirs.
 * @module
 */
import { errorMessage } from "../../errors.ts";
import type { RedisClient } from "../../redis/connection.ts";
import type { Delivery, Outcome } from "../types.ts";

/** Events per script call: bounds how long one call keeps Redis busy. */
const CHUNK = 200;

/** How long a delivered event id is remembered per destination. */
export const DEDUP_TTL_S = 3 * 86_400;

/** The dedup marker key of an event for a destination. */
export function dedupKey(prefix: string, destination: string, eventId: string): string {
  return `${prefix}dedup:${destination}:${eventId}`;
}

/** Options for {@linkcode appendOnce}. */
export interface AppendOnceOptions {
  redis: RedisClient;
  /** The destination's name (part of the marker key). */
  name: string;
  key: string;
  /** The router's `REDIS_PREFIX`, for markers. */
  prefix: string;
  script: string;
  /** ARGV[1] of the script. */
  setting: string;
  /** The script's arguments for one event. */
  argsOf: (item: Delivery) => string[];
  /** @default {@linkcode DEDUP_TTL_S} */
  dedupTtlS?: number;
}

/** Appends every item once; one outcome per item, in order; never throws. */
export async function appendOnce(
  items: readonly Delivery[],
  options: AppendOnceOptions,
): Promise<Outcome[]> {
  if (items.length === 0) return [];
  const ttl = String(options.dedupTtlS ?? DEDUP_TTL_S);
  const chunks: Delivery[][] = [];
  for (let i = 0; i < items.length; i += CHUNK) chunks.push(items.slice(i, i + CHUNK));
  const pipeline = options.redis.pipeline();
  for (const chunk of chunks) {
    pipeline.eval(
      options.script,
      [options.key, ...chunk.map((item) => dedupKey(options.prefix, options.name, item.eventId))],
      [options.setting, ttl, ...chunk.flatMap(options.argsOf)],
    );
  }
  try {
    const results = await pipeline.exec({ keepErrors: true });
    return chunks.flatMap((chunk, c) => {
      const { error, result } = results[c]!;
      if (error) {
        return chunk.map((): Outcome => ({ status: "retry", error: `Redis refused: ${error}` }));
      }
      const appended = result as unknown[];
      return chunk.map((_, i): Outcome =>
        Number(appended[i]) === 0
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
}
