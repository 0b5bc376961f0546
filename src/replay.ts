/**
 * Dead-letter replay: takes dead letters back (from the dead-letter destination when it
 * can give them back, else from the state store) and sends them through again: failed
 * deliveries (and redirected ones, once the webhook is fixed) to their destination,
 * rejected raw events through validation. A rejected event that validates now is routed
 * like any other; one still invalid goes back where it came from as the same letter (its
 * id, first reason and `failed_at`, one more attempt), neither a new letter nor a new
 * rejection, so replaying never grows a counter without a new event.
 *
 * Never twice: a replay holds the state store's `replay` lock (shared by every replica
 * with Redis) and one asked for meanwhile is refused ({@linkcode LockBusyError}); taking
 * letters is one atomic step in every store besides, so a double click, two operators or
 * two replicas replay each letter once. An item of
 * the dead-letter destination that is not a letter (someone else pushed it) is set aside
 * in the state store, neither dropped nor fatal, and the others are replayed.
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { errorMessage } from "./errors.ts";
import type { Pipeline } from "./pipeline.ts";
import { SILENT_TRACER, type Tracer } from "./status/trace.ts";
import {
  type DeadLetter,
  newLetterId,
  type SetAside,
  type StateStore,
} from "./store/state_store.ts";
import type { Deliverer } from "./deliver/deliverer.ts";
import { type Connections, deadLetterAccess, type Destination } from "./deliver/kinds/registry.ts";

const log = getLogger(["vk-event-router", "deliver"]);

/**
 * How long a replay waits for one that runs: not at all, since the one that runs already
 * replays those letters and one queued behind it would replay their new failures again
 * (a double click must replay once).
 */
export const REPLAY_LOCK_WAIT_MS = 0;

/** Options for {@linkcode createReplay}. */
export interface ReplayOptions {
  store: StateStore;
  deliverer: Deliverer;
  pipeline: Pipeline;
  deadLetter: Destination | null;
  /** The router's open connections: the dead-letter destination's own gives letters back. */
  connections: Connections;
  /** @default {@linkcode REPLAY_LOCK_WAIT_MS} */
  lockWaitMs?: number;
  /** Where each replayed letter's step is logged. */
  tracer?: Tracer;
}

/** What to replay: the oldest `limit` letters, or (state store only) the letters of `ids`. */
export interface ReplayRequest {
  limit?: number;
  ids?: readonly string[];
}

/**
 * What a replay did: letters taken (`replayed`), of them delivered (every delivery of the
 * event landed) or `failed` (parked again, dead again, or still invalid and kept), and items
 * of the dead-letter destination that are no letters, `set_aside`.
 */
export interface ReplayResult {
  replayed: number;
  delivered: number;
  failed: number;
  set_aside: number;
}

/** Replays dead letters. @throws {LockBusyError} when another replay runs */
export type Replay = (request?: ReplayRequest) => Promise<ReplayResult>;

const REASONS = new Set<unknown>(["rejected", "delivery_failed", "redirect"]);

/** A dead-letter destination's item as a letter (one of an older version gets an id), or why not. */
export function readLetter(item: string): DeadLetter | string {
  let value: unknown;
  try {
    value = JSON.parse(item);
  } catch (error) {
    return `not JSON: ${errorMessage(error)}`;
  }
  const l = value as Partial<DeadLetter> | null;
  if (typeof l !== "object" || l === null || !REASONS.has(l.reason) || !("event" in l)) {
    return "not a dead letter (no known reason or no event)";
  }
  return { ...l, id: typeof l.id === "string" ? l.id : newLetterId() } as DeadLetter;
}

/** Creates the replay of a router's dead letters. */
export function createReplay(options: ReplayOptions): Replay {
  const { deadLetter, connections, store } = options;
  const tracer = options.tracer ?? SILENT_TRACER;
  // Letters come from the dead-letter destination when it can give them back, else the store.
  const held = deadLetter ? deadLetterAccess(deadLetter, connections) : null;
  const source = `dead-letter destination ${deadLetter?.name ?? ""}`;

  /** Takes letters; a destination's unreadable items are set aside before anything else. */
  const take = async (
    { limit = 100, ids }: ReplayRequest,
  ): Promise<{ letters: DeadLetter[]; setAside: number }> => {
    if (!held) {
      const letters = ids
        ? await store.takeDeadLettersById(ids)
        : await store.takeDeadLetters(limit);
      return { letters, setAside: 0 };
    }
    if (ids) throw new Error(`Letters held by the ${source} cannot be replayed by id`);
    const items = await held.take(limit);
    const letters: DeadLetter[] = [];
    const aside: SetAside[] = [];
    const at = Math.floor(Date.now() / 1000);
    for (const item of items) {
      const letter = readLetter(item);
      if (typeof letter === "string") aside.push({ source, item, error: letter, at });
      else letters.push(letter);
    }
    if (aside.length === 0) return { letters, setAside: 0 };
    try {
      await store.setAside(aside);
    } catch (error) {
      await held.putBack(items); // nothing taken is lost
      throw error;
    }
    log.warn(
      "Replay set aside {count} items of the {source} that are not dead letters (kept in the state store)",
      { count: aside.length, source },
    );
    return { letters, setAside: aside.length };
  };
  /**
   * Puts letters back where `take` found them, at the newest end. Not through the
   * deliverer: that would count them as dead-lettered again, and its dedup marker (the
   * letter's id, unchanged) would drop them as duplicates.
   */
  const putBack = async (letters: readonly DeadLetter[]): Promise<void> => {
    if (letters.length === 0) return;
    if (!held) return await store.addDeadLetters(letters);
    await held.putBack(letters.map((l) => JSON.stringify(l)));
  };

  const replay = async (request: ReplayRequest): Promise<ReplayResult> => {
    const { letters, setAside } = await take(request);
    const rejected = letters.filter((l) => l.reason === "rejected");
    const failed = letters.filter((l) =>
      l.reason !== "rejected" && l.destination !== null && l.event_id !== null
    );
    let delivered = 0;
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
      // Rejected events that validate now go where they are routed; failed deliveries back
      // to their destination: one delivery, so each letter's fate is known.
      const again = failed.map((l) => ({
        destination: l.destination!,
        eventId: l.event_id!,
        ...filing(l.event),
        body: JSON.stringify(l.event),
      }));
      const fates = await options.deliverer.deliver([...prepared.items, ...again]);
      const revived = prepared.items.map((item, i) => [item.eventId, fates[i]] as const);
      const stillInvalid = new Set(prepared.rejected.map((l) => l.id));
      for (const l of rejected) {
        if (stillInvalid.has(l.id)) continue;
        const mine = revived.filter(([eventId]) => eventId === l.event_id);
        if (mine.every(([, fate]) => fate === "delivered")) delivered++;
      }
      delivered += fates.slice(prepared.items.length).filter((f) => f === "delivered").length;
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
    return {
      replayed: letters.length,
      delivered,
      failed: letters.length - delivered,
      set_aside: setAside,
    };
  };
  return (request = {}) =>
    store.withLock("replay", options.lockWaitMs ?? REPLAY_LOCK_WAIT_MS, () => replay(request));
}

/** The event type and community of a failed delivery's event, as its delivery carried them. */
function filing(event: unknown): { eventType?: string; groupId?: number } {
  const { event_type, group_id } = (event ?? {}) as { event_type?: unknown; group_id?: unknown };
  return {
    ...(typeof event_type === "string" ? { eventType: event_type } : {}),
    ...(typeof group_id === "number" ? { groupId: group_id } : {}),
  };
}
