/**
 * Dead-letter replay: takes dead letters back (from the dead-letter Redis list when one is
 * configured, else from the state store) and sends them through again: failed deliveries
 * to their destination, rejected raw events through validation. A rejected event that
 * validates now is routed like any other; one still invalid goes back where it came from
 * as the same letter (its first reason and `failed_at`, one more attempt), neither a new
 * letter nor a new rejection, so replaying never grows a counter without a new event.
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { Pipeline } from "../pipeline.ts";
import type { DeadLetter, StateStore } from "../store/state_store.ts";
import { SILENT_TRACER, type Tracer } from "../status/trace.ts";
import type { Deliverer } from "./deliverer.ts";
import { type Connections, deadLetterAccess, type Destination } from "./kinds/registry.ts";

const log = getLogger(["vk-event-router", "deliver"]);

/** Options for {@linkcode createReplay}. */
export interface ReplayOptions {
  store: StateStore;
  deliverer: Deliverer;
  pipeline: Pipeline;
  deadLetter: Destination | null;
  /** The router's open connections: the dead-letter destination's own gives letters back. */
  connections: Connections;
  /** Where each replayed letter's step is logged. */
  tracer?: Tracer;
}

/** Returns a function that replays up to `limit` dead letters and says how many. */
export function createReplay(options: ReplayOptions): (limit?: number) => Promise<number> {
  const { deadLetter, connections } = options;
  const tracer = options.tracer ?? SILENT_TRACER;
  // Letters come from the dead-letter destination when it can give them back, else the store.
  const held = deadLetter ? deadLetterAccess(deadLetter, connections) : null;
  const take = async (limit: number): Promise<DeadLetter[]> => {
    if (!held) return await options.store.takeDeadLetters(limit);
    return (await held.take(limit)).map((s) => JSON.parse(s) as DeadLetter);
  };
  /**
   * Puts letters back where `take` found them, at the newest end. Not through the
   * deliverer: that would count them as dead-lettered again, and its dedup marker (the
   * letter's id and `failed_at`, unchanged) would drop them as duplicates.
   */
  const putBack = async (letters: readonly DeadLetter[]): Promise<void> => {
    if (letters.length === 0) return;
    if (!held) return await options.store.addDeadLetters(letters);
    await held.putBack(letters.map((l) => JSON.stringify(l)));
  };
  return async (limit = 100) => {
    const letters = await take(limit);
    const rejected = letters.filter((l) => l.reason === "rejected");
    const failed = letters.filter((l) =>
      l.reason === "delivery_failed" && l.destination !== null && l.event_id !== null
    );
    try {
      const prepared = await options.pipeline.prepare({
        updates: rejected.map((l) => l.event),
        receivedAt: Date.now(),
        replayed: rejected,
        source: "replay",
      });
      for (const l of failed) {
        tracer.step("Event {event_id} replayed to {destination}", () => ({
          event_id: l.event_id,
          destination: l.destination,
          attempt: l.attempts + 1,
          event_type: filing(l.event).eventType ?? null,
          group_id: filing(l.event).groupId ?? null,
        }));
      }
      await options.pipeline.commit({ items: prepared.items, rejected: [] });
      await options.deliverer.deliver(
        failed.map((l) => ({
          destination: l.destination!,
          eventId: l.event_id!,
          ...filing(l.event),
          body: JSON.stringify(l.event),
        })),
      );
      await putBack(prepared.rejected); // last: a failure above puts every letter back instead
      if (prepared.rejected.length > 0) {
        log.info("{count} replayed rejected events still fail validation: kept as they were", {
          count: prepared.rejected.length,
        });
      }
    } catch (error) {
      await putBack(letters); // nothing taken is lost
      throw error;
    }
    return letters.length;
  };
}

/** The event type and community of a failed delivery's event, as its delivery carried them. */
function filing(event: unknown): { eventType?: string; groupId?: number } {
  const { event_type, group_id } = (event ?? {}) as { event_type?: unknown; group_id?: unknown };
  return {
    ...(typeof event_type === "string" ? { eventType: event_type } : {}),
    ...(typeof group_id === "number" ? { groupId: group_id } : {}),
  };
}
