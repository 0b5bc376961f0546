/**
 * What the status page shows that counters cannot: each community's connection, the
 * recent errors and events. It observes the pollers and the pipeline; the HTTP layer
 * only reads it.
 * @module
 */
import type { CustomEvent, RoutedEvent } from "../events/types.ts";
import type { StuckBatch } from "../ingest/ingestion.ts";
import type { DestinationHealth } from "./health.ts";
import type { ConnectionState, PollFault, PollObserver } from "../vk/long_poll.ts";

/** One community as the status page shows it. */
export interface CommunityStatus {
  groupId: number;
  /** `standby`: another replica holds the community's lease (or nobody yet) and polls it. */
  state: ConnectionState | "callback-only" | "standby";
  detail: string | null;
  /** The instance id of the process that polls the community, null when none does. */
  owner: string | null;
  /** Last checkpointed long-poll ts. */
  ts: string | null;
  /** When the last event of this community arrived (ms since epoch). */
  lastEventAt: number | null;
  /** `failed: 1` answers: events may have been lost. */
  historyLost: number;
  /** Settings problems found at start (event types not enabled, long poll off). */
  warnings: string[];
  /**
   * Since when (ms since epoch) a batch keeps failing and holds back the checkpoint (the
   * state store fails, say); null while batches get through.
   */
  stuckSince: number | null;
  /** The stuck batch's event ids (the first 20) and last error; null while none is stuck. */
  stuckBatch: { eventIds: string[]; events: number; error: string } | null;
}

/** Failing while its latest attempt failed (no delivery since); paused is the store's to say. */
export function failingNow(h: DestinationHealth | undefined): boolean {
  const failedAt = h?.lastFailedAt ?? null;
  return failedAt !== null && (h?.lastDeliveredAt ?? -1) < failedAt;
}

/**
 * The destinations' health as the whole fleet saw it: each replica's own, the latest
 * delivery and failure winning, dead letters added up.
 */
export function mergeDestinationHealth(
  views: readonly ReadonlyMap<string, DestinationHealth>[],
): Map<string, DestinationHealth> {
  const merged = new Map<string, DestinationHealth>();
  const later = (a: number | null, b: number | null) =>
    a === null ? b : b === null ? a : Math.max(a, b);
  for (const view of views) {
    for (const [name, h] of view) {
      const m = merged.get(name);
      if (!m) {
        merged.set(name, { ...h, deadLetteredAt: [...h.deadLetteredAt] });
        continue;
      }
      m.lastDeliveredAt = later(m.lastDeliveredAt, h.lastDeliveredAt);
      if ((h.lastFailedAt ?? -1) > (m.lastFailedAt ?? -1)) {
        m.lastFailedAt = h.lastFailedAt;
        m.lastError = h.lastError;
      }
      m.deadLetteredAt.push(...h.deadLetteredAt);
    }
  }
  return merged;
}

/** Dead letters it added within `windowMs` before `now`. */
export function recentDeadLetters(
  h: DestinationHealth | undefined,
  now: number,
  windowMs: number,
): number {
  return h?.deadLetteredAt.filter((at) => now - at < windowMs).length ?? 0;
}

/** A recent error line; `count` how often it happened within {@linkcode REPEAT_WINDOW_MS}. */
export interface RecentError {
  at: number;
  message: string;
  count?: number;
}

/** The same failure of the same destination within this window is one line, counted. */
export const REPEAT_WINDOW_MS = 60_000;
/** Most dead-letter times kept per destination. */
const KEEP_DEAD_LETTER_TIMES = 1000;

/** A recent event, as shown on the page; `text` is shown only to authorised viewers. */
export interface RecentEvent {
  at: number;
  event_type: string;
  event_id: string;
  group_id: number;
  user_name: string | null;
  peer_name: string | null;
  text: string | null;
  destinations: string[];
  /** What became of it at each destination so far. */
  fates: Record<string, EventFate>;
}

/** An event's fate at one destination, as this process last saw it. */
export type EventFate = "pending" | "delivered" | "failed" | "parked" | "dead_lettered";

/** Recent events and errors, newest first. */
export interface Recent {
  events: RecentEvent[];
  errors: RecentError[];
}

const KEEP = 20;

/** Live status of the service. */
export class ServiceStatus implements PollObserver {
  readonly startedAt: number;
  readonly communities = new Map<number, CommunityStatus>();
  readonly recentErrors: RecentError[] = [];
  readonly recentEvents: RecentEvent[] = [];
  readonly destinations = new Map<string, DestinationHealth>();
  readonly #now: () => number;
  /** The error line of each (destination, cause) pair, while it is recent. */
  readonly #repeats = new Map<string, RecentError>();

  constructor(
    groupIds: readonly number[],
    longPoll: boolean,
    now: () => number = Date.now,
    startedAt?: number,
  ) {
    this.#now = now;
    this.startedAt = startedAt ?? now();
    for (const groupId of groupIds) {
      this.communities.set(groupId, {
        groupId,
        state: longPoll ? "connecting" : "callback-only",
        detail: null,
        owner: null,
        ts: null,
        lastEventAt: null,
        historyLost: 0,
        warnings: [],
        stuckSince: null,
        stuckBatch: null,
      });
    }
  }

  state(groupId: number, state: ConnectionState, detail?: string): void {
    const c = this.communities.get(groupId);
    if (!c) return;
    c.state = state;
    c.detail = detail ?? null;
    if (state === "fatal" && detail) this.error(`Community ${groupId}: ${detail}`);
  }

  historyLost(groupId: number): void {
    const c = this.communities.get(groupId);
    if (c) c.historyLost++;
    this.error(
      `Community ${groupId}: VK dropped long-poll history (failed: 1); events may have been lost`,
    );
  }

  fault(groupId: number, kind: PollFault, message: string): void {
    if (kind === "failed_2") return; // routine: the key expires every few hours
    this.error(`Community ${groupId}: long poll ${kind}: ${message}`);
  }

  /** Who polls the community: this process (`self`), or another one, which leaves this one on standby. */
  owner(groupId: number, owner: string | null, self: boolean): void {
    const c = this.communities.get(groupId);
    if (!c) return;
    c.owner = owner;
    if (self) return;
    c.state = "standby";
    c.detail = owner === null ? "waiting for the lease" : `polled by ${owner}`;
  }

  /** A batch of the community keeps failing (null: it got through). */
  stuck(groupId: number, stuck: StuckBatch | null): void {
    const c = this.communities.get(groupId);
    if (!c) return;
    c.stuckSince = stuck?.since ?? null;
    c.stuckBatch = stuck
      ? {
        eventIds: stuck.eventIds.slice(0, KEEP),
        events: stuck.eventIds.length,
        error: stuck.error,
      }
      : null;
    if (stuck) {
      this.error(
        `Community ${groupId}: a batch of ${stuck.eventIds.length} events is stuck (${stuck.error}); the checkpoint waits`,
      );
    }
  }

  checkpoint(groupId: number, ts: string): void {
    const c = this.communities.get(groupId);
    if (c) c.ts = ts;
  }

  warn(groupId: number, warning: string): void {
    this.communities.get(groupId)?.warnings.push(warning);
  }

  /**
   * Records an error line for the page (newest first, the last 20). With a `repeatKey`,
   * the same key within {@linkcode REPEAT_WINDOW_MS} counts on the first line instead of
   * adding one, so that a failing destination cannot flush every other error off the page.
   */
  error(message: string, repeatKey?: string): void {
    const at = this.#now();
    const earlier = repeatKey === undefined ? undefined : this.#repeats.get(repeatKey);
    if (earlier && at - earlier.at < REPEAT_WINDOW_MS && this.recentErrors.includes(earlier)) {
      earlier.count = (earlier.count ?? 1) + 1;
      return;
    }
    const line: RecentError = { at, message };
    if (repeatKey !== undefined) this.#repeats.set(repeatKey, line);
    this.recentErrors.unshift(line);
    this.recentErrors.length = Math.min(this.recentErrors.length, KEEP);
    for (const [key, l] of this.#repeats) {
      if (!this.recentErrors.includes(l)) this.#repeats.delete(key);
    }
  }

  /** A destination took an event. */
  delivered(destination: string, eventId: string): void {
    this.#destination(destination).lastDeliveredAt = this.#now();
    this.#fate(eventId, destination, "delivered");
  }

  /** An event was parked for a later attempt at a destination. */
  parked(destination: string, eventId: string): void {
    this.#fate(eventId, destination, "parked");
  }

  /** An attempt to deliver to a destination failed: its health and one counted error line. */
  failed(destination: string, error: string, eventId?: string): void {
    if (eventId !== undefined) this.#fate(eventId, destination, "failed");
    const at = this.#now();
    const d = this.#destination(destination);
    d.lastFailedAt = at;
    d.lastError = { at, message: error };
    this.error(`Destination ${destination}: ${error}`, `${destination}\u0000${error}`);
  }

  /** A destination's event went to the dead letter. */
  deadLettered(destination: string, eventId: string | null = null): void {
    if (eventId !== null) this.#fate(eventId, destination, "dead_lettered");
    const times = this.#destination(destination).deadLetteredAt;
    times.push(this.#now());
    if (times.length > KEEP_DEAD_LETTER_TIMES) times.shift();
  }

  /** Sets the fate of a recent event at a destination (older events are forgotten). */
  #fate(eventId: string, destination: string, fate: EventFate): void {
    const event = this.recentEvents.find((e) => e.event_id === eventId);
    if (event && destination in event.fates) event.fates[destination] = fate;
  }

  #destination(name: string): DestinationHealth {
    let d = this.destinations.get(name);
    if (!d) {
      d = { lastDeliveredAt: null, lastFailedAt: null, lastError: null, deadLetteredAt: [] };
      this.destinations.set(name, d);
    }
    return d;
  }

  /** The recent events and errors, then forgets them (the worker moves them to Redis). */
  drainRecent(): Recent {
    const recent = { events: [...this.recentEvents], errors: [...this.recentErrors] };
    this.recentEvents.length = 0;
    this.recentErrors.length = 0;
    return recent;
  }

  /**
   * Records a batch of routed events: only the last 20 can show, so only they are copied;
   * the others just move their community's `lastEventAt`.
   */
  events(routed: readonly RoutedEvent[]): void {
    const at = this.#now();
    let groupId: number | null = null;
    for (const { event } of routed) {
      if (event.group_id === groupId) continue;
      groupId = event.group_id;
      const c = this.communities.get(groupId);
      if (c) c.lastEventAt = at;
    }
    for (const { event, destinations } of routed.slice(-KEEP)) this.event(event, destinations);
  }

  /** Records a routed event (newest first, the last 20). */
  event(e: CustomEvent, destinations: readonly string[]): void {
    const at = this.#now();
    const c = this.communities.get(e.group_id);
    if (c) c.lastEventAt = at;
    this.recentEvents.unshift({
      at,
      event_type: e.event_type,
      event_id: e.event_id,
      group_id: e.group_id,
      user_name: "user_name" in e ? e.user_name : null,
      peer_name: "peer_name" in e ? e.peer_name : null,
      text: "text" in e ? e.text : null,
      destinations: [...destinations],
      fates: Object.fromEntries(destinations.map((d) => [d, "pending" as EventFate])),
    });
    this.recentEvents.length = Math.min(this.recentEvents.length, KEEP);
  }
}
