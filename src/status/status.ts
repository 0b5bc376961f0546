/**
 * What the status page shows that counters cannot: each community's connection, the
 * recent errors and events. It observes the pollers and the pipeline; the HTTP layer
 * only reads it.
 * @module
 */
import type { CustomEvent, RoutedEvent } from "../events/types.ts";
import type { StuckBatch } from "../ingest/ingestion.ts";
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

/** A recent error line. */
export interface RecentError {
  at: number;
  message: string;
}

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
}

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
  readonly #now: () => number;

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

  /** Records an error line for the page (newest first, the last 20). */
  error(message: string): void {
    this.recentErrors.unshift({ at: this.#now(), message });
    this.recentErrors.length = Math.min(this.recentErrors.length, KEEP);
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
    });
    this.recentEvents.length = Math.min(this.recentEvents.length, KEEP);
  }
}
