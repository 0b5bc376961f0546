/**
 * The router's own durable state behind one small interface with two implementations:
 * Redis when one is configured, an embedded Deno KV file otherwise, so the very first run
 * needs nothing installed. It holds long-poll checkpoints, deliveries parked for retry,
 * the dead letters that no destination took, and the status page's login sessions.
 * @module
 */
import type { UnitOfWork } from "../util/unit_of_work.ts";

/** A delivery waiting for its next attempt. */
export interface ParkedDelivery {
  /** `destination` + event id: parking the same event for the same destination again replaces it. */
  id: string;
  destination: string;
  eventId: string;
  eventType?: string;
  groupId?: number;
  /** The event's JSON. */
  body: string;
  attempts: number;
  /** When the first attempt failed (ms since epoch). */
  firstFailedAt: number;
  /** When the next attempt is due (ms since epoch). */
  nextAttemptAt: number;
  lastError: string;
  lastStatus: number | null;
}

/** Why an event could not be delivered, with everything needed to replay it. */
export interface DeadLetter {
  reason: "rejected" | "delivery_failed";
  /** The destination that refused it; null for rejected raw events. */
  destination: string | null;
  event_id: string | null;
  attempts: number;
  last_error: string;
  last_status: number | null;
  /** Unix seconds. */
  failed_at: number;
  /** The custom event, or the raw event for rejections. */
  event: unknown;
  /** Validation issues of a rejected raw event. */
  issues?: { path: string; message: string }[];
}

/** A write under a lease was refused: another process holds the lease since. */
export class FenceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FenceError";
  }
}

/** Durable router state. */
export interface StateStore extends AsyncDisposable {
  /** `redis` or `kv`, for the status page. */
  readonly kind: "redis" | "kv";
  /** The last fully handled long-poll `ts` of a community, or null before the first. */
  getCheckpoint(groupId: number): Promise<string | null>;
  /**
   * Writes the checkpoint. With `fence` (the fencing token of the writer's lease), the
   * write is refused with {@linkcode FenceError} once a newer lease holder exists.
   */
  setCheckpoint(groupId: number, ts: string, fence?: number): Promise<void>;
  /**
   * Redis stores: the same write as {@linkcode setCheckpoint}, fenced alike, added to a
   * later batch's unit of work to travel in its round trip; resolves once the unit is
   * sent and the write landed, rejects when it did not. Absent where writes cannot travel
   * (Deno KV).
   */
  carryCheckpoint?(unit: UnitOfWork, groupId: number, ts: string, fence?: number): Promise<void>;
  /** Stores deliveries for a later attempt (replacing any with the same id). */
  park(deliveries: readonly ParkedDelivery[]): Promise<void>;
  /** Up to `limit` parked deliveries due at `now`, oldest due first. */
  due(now: number, limit: number): Promise<ParkedDelivery[]>;
  /** When the first parked delivery falls due (ms since epoch); null when none is parked. */
  nextDueAt(): Promise<number | null>;
  /** Removes parked deliveries (delivered, or moved to the dead letter). */
  unpark(ids: readonly string[]): Promise<void>;
  /** How many deliveries are parked. */
  parkedCount(): Promise<number>;
  /** Appends to the store's own dead-letter list. */
  addDeadLetters(letters: readonly DeadLetter[]): Promise<void>;
  /** Removes and returns up to `limit` dead letters, oldest first (for replay). */
  takeDeadLetters(limit: number): Promise<DeadLetter[]>;
  deadLetterCount(): Promise<number>;
  /**
   * Keeps a login session for `ttlMs`, under the key the HTTP layer derives from the
   * session id (never the id itself). In the store, sessions survive a restart.
   */
  putSession(key: string, ttlMs: number): Promise<void>;
  /** Whether a session is kept and not yet expired. */
  hasSession(key: string): Promise<boolean>;
  /** Ends a session before it expires (logout). */
  deleteSession(key: string): Promise<void>;
  /** Throws when the store cannot be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
