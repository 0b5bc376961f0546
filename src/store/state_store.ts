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
  /** When the last attempt failed (ms since epoch); absent on deliveries parked before it was kept. */
  lastFailedAt?: number;
}

/** Why an event could not be delivered, with everything needed to replay it. */
export interface DeadLetter {
  /** Unique per letter ({@linkcode newLetterId}): two letters of one event stay two. */
  id: string;
  /** `redirect`: a webhook answered 3xx (never followed; `location` says where it pointed). */
  reason: "rejected" | "delivery_failed" | "redirect";
  /** The destination that refused it; null for rejected raw events. */
  destination: string | null;
  event_id: string | null;
  attempts: number;
  last_error: string;
  last_status: number | null;
  /** Unix seconds: when the last attempt failed. */
  failed_at: number;
  /** Unix seconds: when the first attempt failed; absent on letters of older versions. */
  first_failed_at?: number;
  /** The custom event, or the raw event for rejections. */
  event: unknown;
  /** Validation issues of a rejected raw event. */
  issues?: { path: string; message: string }[];
  /** Where a redirect pointed: scheme, host and path only (no credentials, query or fragment). */
  location?: string;
}

let lastMs = 0;
let sequence = 0;

/**
 * A fresh dead-letter id: `dl_`, the millisecond (12 hex digits), a per-process sequence
 * (4), 12 random hex digits. Sorted by creation time, in order within one process, unique
 * across processes without coordination.
 */
export function newLetterId(now: number = Date.now()): string {
  sequence = now === lastMs ? (sequence + 1) % 0x10000 : 0;
  lastMs = now;
  const random = [...crypto.getRandomValues(new Uint8Array(6))];
  return `dl_${now.toString(16).padStart(12, "0")}${sequence.toString(16).padStart(4, "0")}${
    random.map((b) => b.toString(16).padStart(2, "0")).join("")
  }`;
}

/** Which letters a listing shows; every field given must match. */
export interface DeadLetterFilter {
  /** A destination's name; null: rejected raw events (no destination). */
  destination?: string | null;
  reason?: DeadLetter["reason"];
}

/** A page of a listing, oldest first; `cursor` continues after it, null at the end. */
export interface Page<T> {
  items: T[];
  cursor: string | null;
}

/** What a listing asks for: a page size, where to continue, a filter. */
export interface ListOptions<F> {
  limit: number;
  /** The `cursor` of the page before; absent: from the oldest. */
  cursor?: string | null;
  filter?: F;
}

/** An item a dead-letter source held that is not a dead letter, kept aside for an operator. */
export interface SetAside {
  /** Where it was found, e.g. `destination dead_letter`. */
  source: string;
  /** The item as it was, verbatim. */
  item: string;
  /** Why it could not be read. */
  error: string;
  /** Unix seconds. */
  at: number;
}

/** Whether an event was delivered to a destination, or a process is delivering it now. */
export type DeliveryClaim = "claimed" | "delivered" | "busy";

/** A write under a lease was refused: another process holds the lease since. */
export class FenceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FenceError";
  }
}

/** A store lock stayed held by another holder for longer than the caller would wait. */
export class LockBusyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LockBusyError";
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
  /**
   * Redis stores: the long-poll server and key the holder of a community's lease polls
   * with, kept beside the checkpoint so that the next holder continues with them instead
   * of asking VK for a new key; null when none is kept. Absent where one process runs.
   */
  getPollServer?(groupId: number): Promise<string | null>;
  /** Keeps the poll server (as {@linkcode getPollServer} answers it), fenced like the checkpoint. */
  setPollServer?(groupId: number, server: string, fence?: number): Promise<void>;
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
  /** Parked deliveries, oldest due first, by pages; `destination` filters. */
  listParked(options: ListOptions<{ destination?: string }>): Promise<Page<ParkedDelivery>>;
  /** Appends to the store's own dead letters (each under its `id`). */
  addDeadLetters(letters: readonly DeadLetter[]): Promise<void>;
  /**
   * Removes and returns up to `limit` dead letters, oldest first, in one atomic step per
   * letter: two concurrent takers never get the same letter.
   */
  takeDeadLetters(limit: number): Promise<DeadLetter[]>;
  /** Removes and returns the letters with these ids that are still there, atomically as above. */
  takeDeadLettersById(ids: readonly string[]): Promise<DeadLetter[]>;
  /** Dead letters, oldest first, filtered, by pages. */
  listDeadLetters(options: ListOptions<DeadLetterFilter>): Promise<Page<DeadLetter>>;
  getDeadLetter(id: string): Promise<DeadLetter | null>;
  /** Deletes letters by id; resolves with how many were there. */
  deleteDeadLetters(ids: readonly string[]): Promise<number>;
  deadLetterCount(): Promise<number>;
  /**
   * Pauses (or resumes) a destination for every process sharing the store, until resumed:
   * it survives restarts. Resolves with whether the state changed.
   */
  setPaused(destination: string, paused: boolean): Promise<boolean>;
  /** The destinations paused now. */
  pausedDestinations(): Promise<string[]>;
  /** Keeps items a replay could not read (never dropped); the newest are listed first. */
  setAside(items: readonly SetAside[]): Promise<void>;
  /** Items set aside, newest first, up to `limit`. */
  listSetAside(limit: number): Promise<SetAside[]>;
  /**
   * Runs `work` holding the store's lock `name` (`replay`), waiting up to `waitMs` for it;
   * with Redis the lock is shared by every replica. @throws {LockBusyError} when it stays held.
   */
  withLock<T>(name: string, waitMs: number, work: () => Promise<T>): Promise<T>;
  /**
   * Claims the delivery of each event id to `destination` for `ttlMs`: `delivered` when a
   * marker says it was delivered (within `dedupTtlS` of {@linkcode settleDeliveries}),
   * `busy` when another claim holds it, else `claimed`. One round trip for the batch.
   */
  claimDeliveries(
    destination: string,
    eventIds: readonly string[],
    ttlMs: number,
  ): Promise<DeliveryClaim[]>;
  /**
   * Ends claims: a delivered event gets its marker for `dedupTtlS`, an undelivered one
   * loses the claim (another attempt may claim it at once). With `unit` (a Redis store), the
   * write travels in the unit's round trip and this resolves once it is added, not sent.
   */
  settleDeliveries(
    destination: string,
    settled: readonly { eventId: string; delivered: boolean }[],
    dedupTtlS: number,
    unit?: UnitOfWork,
  ): Promise<void>;
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
