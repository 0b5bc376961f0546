/**
 * The router's own durable state (long-poll checkpoints for now), behind one small
 * interface with two implementations: Redis when one is configured, an embedded
 * Deno KV file otherwise, so the very first run needs nothing installed.
 * @module
 */

/** Durable router state. */
export interface StateStore extends AsyncDisposable {
  /** `redis` or `kv`, for the status page. */
  readonly kind: "redis" | "kv";
  /** The last fully handled long-poll `ts` of a community, or null before the first. */
  getCheckpoint(groupId: number): Promise<string | null>;
  setCheckpoint(groupId: number, ts: string): Promise<void>;
  /** Throws when the store cannot be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
