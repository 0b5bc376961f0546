/**
 * Writes a community's long-poll checkpoint once its batches are handled. Under load it
 * writes at most every `everyMs` (a crash then re-polls at most that much, which the dedup
 * markers make harmless); when the stream goes idle, and at a stop, it writes at once.
 *
 * With a Redis store the write need not be a request of its own: {@linkcode Checkpointer.carry}
 * adds it to the next batch's unit of work, to travel beside that batch's pushes. That is safe
 * although a pipeline is not atomic: the ts it writes is that of batches already handled
 * (delivered or durably parked), never of the batch it travels with, so whether the pushes
 * beside it succeed does not matter. A write that fails there stays pending and is made
 * on its own later.
 * @module
 */
import type { StateStore } from "../store/state_store.ts";
import type { UnitOfWork } from "../util/unit_of_work.ts";

/** Options for {@linkcode createCheckpointer}. */
export interface CheckpointerOptions {
  groupId: number;
  store: StateStore;
  /** @default 0 (every handled batch is written) */
  everyMs?: number;
  /**
   * Runs a store write until it succeeds (the ingestion's retry policy). Rejects when the
   * run stops first.
   */
  persist: (write: () => Promise<void>) => Promise<void>;
  /** The checkpoint in the store already (read at start): an empty poll at it writes nothing. */
  stored?: string | null;
  /** Told after each write. */
  onSaved?: (groupId: number, ts: string) => void;
  now?: () => number;
}

/** Remembers the newest handled ts and writes it on schedule. */
export interface Checkpointer {
  /** Whether writes can travel in batches' round trips (the store is Redis). */
  readonly carries: boolean;
  /**
   * `ts` is handled: write it now when `idle`, or when the last write is old enough and
   * writes cannot travel with the next batch.
   */
  handled(ts: string, idle: boolean): Promise<void>;
  /**
   * Adds the write that is due to the next batch's unit of work; resolves once the unit
   * was sent (or given up), the write then saved or left pending; never rejects. Adds
   * nothing when no write is due (or cannot travel).
   */
  carry(unit: UnitOfWork): Promise<void>;
  /** Writes the newest handled ts if it was not written yet. */
  flush(): Promise<void>;
}

/** Creates a checkpointer. */
export function createCheckpointer(options: CheckpointerOptions): Checkpointer {
  const { groupId, store } = options;
  const everyMs = options.everyMs ?? 0;
  const now = options.now ?? Date.now;
  const carries = store.carryCheckpoint !== undefined;
  let lastWrite = -Infinity;
  let written: string | null = options.stored ?? null;
  let unsaved: string | null = null;

  const saved = (ts: string) => {
    lastWrite = now();
    written = ts;
    if (unsaved === ts) unsaved = null;
    options.onSaved?.(groupId, ts);
  };
  const write = async () => {
    const ts = unsaved!;
    if (ts === written) { // an empty poll answers the ts already written
      unsaved = null;
      return;
    }
    await options.persist(() => store.setCheckpoint(groupId, ts));
    saved(ts);
  };

  return {
    carries,
    async handled(ts, idle) {
      unsaved = ts;
      if (idle || (!carries && now() - lastWrite >= everyMs)) await write();
    },
    async carry(unit) {
      const ts = unsaved;
      if (!carries || ts === null || ts === written || now() - lastWrite < everyMs) return;
      // A failed write stays pending, to be made on its own later.
      await store.carryCheckpoint!(unit, groupId, ts).then(() => saved(ts), () => {});
    },
    async flush() {
      if (unsaved !== null) await write();
    },
  };
}
