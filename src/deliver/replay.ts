/**
 * Dead-letter replay: takes dead letters back (from the dead-letter Redis list when one is
 * configured, else from the state store) and sends them through again: failed deliveries
 * to their destination, rejected raw events through the whole pipeline (they are rejected
 * again unless the cause was fixed).
 * @module
 */
import type { Destination } from "../config/routes.ts";
import type { Pipeline } from "../pipeline.ts";
import type { RedisClient } from "../redis/connection.ts";
import type { DeadLetter, StateStore } from "../store/state_store.ts";
import type { Deliverer } from "./deliverer.ts";

/** Options for {@linkcode createReplay}. */
export interface ReplayOptions {
  store: StateStore;
  deliverer: Deliverer;
  pipeline: Pipeline;
  deadLetter: Destination | null;
  redis: RedisClient | null;
}

/** Returns a function that replays up to `limit` dead letters and says how many. */
export function createReplay(options: ReplayOptions): (limit?: number) => Promise<number> {
  const { deadLetter, redis } = options;
  const take = async (limit: number): Promise<DeadLetter[]> => {
    if (deadLetter?.kind === "redis-list" && redis) {
      // Oldest first: the end the consumers would take from.
      const raw = deadLetter.push === "lpush"
        ? await redis.rpop(deadLetter.key, limit)
        : await redis.lpop(deadLetter.key, limit);
      return (raw ?? []).map((s) => JSON.parse(s) as DeadLetter);
    }
    return await options.store.takeDeadLetters(limit);
  };
  return async (limit = 100) => {
    const letters = await take(limit);
    const rejected = letters.filter((l) => l.reason === "rejected").map((l) => l.event);
    const failed = letters.filter((l) =>
      l.reason === "delivery_failed" && l.destination !== null && l.event_id !== null
    );
    try {
      if (rejected.length > 0) await options.pipeline.handle(rejected, Date.now());
      await options.deliverer.deliver(
        failed.map((l) => ({
          destination: l.destination!,
          eventId: l.event_id!,
          body: JSON.stringify(l.event),
        })),
      );
    } catch (error) {
      await options.store.addDeadLetters(letters); // nothing taken is lost
      throw error;
    }
    return letters.length;
  };
}
