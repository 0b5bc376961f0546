/**
 * What every destination implements, and what delivery reports back.
 * @module
 */
import type { UnitOfWork } from "../util/unit_of_work.ts";

/** One event for one destination: its id (the dedup key) and its JSON. */
export interface Delivery {
  eventId: string;
  body: string;
  /** The event's `event_type`, for destinations that file events by type. */
  eventType?: string;
  /**
   * The event's `group_id`, for destinations that file events by community (`{group_id}`
   * in a subject or routing key). Absent for dead letters and for deliveries parked before
   * deliveries carried it: the body has it then.
   */
  groupId?: number;
}

/** The fate of one delivery attempt. */
export type Outcome =
  /**
   * `duplicate`: the destination already had it (a replay found its dedup marker).
   * `counted`: the sink already added it to the shared counters in Redis (the worker).
   */
  | { status: "delivered"; duplicate?: boolean; counted?: boolean }
  /** Worth another try later (network, 5xx, 429, Redis down). */
  | { status: "retry"; error: string; httpStatus?: number; retryAfterMs?: number }
  /**
   * No retry will help (4xx other than 408/429): straight to the dead letter. `redirect`:
   * a webhook answered 3xx, never followed; `location` is where it pointed (redacted).
   */
  | {
    status: "dead";
    error: string;
    httpStatus?: number;
    reason?: "redirect";
    location?: string;
  };

/** A destination. `deliver` answers one outcome per item, in order, and never throws. */
export interface Sink {
  readonly name: string;
  /** The destination kind, e.g. `redis-list`. */
  readonly kind: string;
  /**
   * `unit`, when given, is the commit's unit of work: a sink that does not join it may still
   * add a call that needs no answer while the unit waits for the direct sinks
   * ({@linkcode UnitOfWork.late}), as a webhook adds its delivery markers.
   */
  deliver(items: readonly Delivery[], unit?: UnitOfWork): Promise<Outcome[]>;
  /**
   * The same delivery as part of a commit's unit of work, for a sink whose calls can share
   * its round trip (the Redis kinds): it adds its calls to `unit` before its first `await`
   * and settles once the deliverer has sent the unit.
   */
  deliverIn?(items: readonly Delivery[], unit: UnitOfWork): Promise<Outcome[]>;
}
