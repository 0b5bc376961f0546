/**
 * Writes a community's long-poll checkpoint once its batches are handled. Under load it
 * writes at most every `everyMs` (a crash then re-polls at most that much, which the dedup
 * markers make harmless); when the stream goes idle, and at a stop, it writes at once.
 * @module
 */
import type { StateStore } from "../store/state_store.ts";

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
  /** Told after each write. */
  onSaved?: (groupId: number, ts: string) => void;
  now?: () => number;
}

/** Remembers the newest handled ts and writes it on schedule. */
export interface Checkpointer {
  /** `ts` is handled: write it now when `idle` or the last write is old enough. */
  handled(ts: string, idle: boolean): Promise<void>;
  /** Writes the newest handled ts if it was not written yet. */
  flush(): Promise<void>;
}

/** Creates a checkpointer. */
export function createCheckpointer(options: CheckpointerOptions): Checkpointer {
  const { groupId, store } = options;
  const everyMs = options.everyMs ?? 0;
  const now = options.now ?? Date.now;
  let lastWrite = -Infinity;
  let unsaved: string | null = null;

  const write = async () => {
    const ts = unsaved!;
    await options.persist(() => store.setCheckpoint(groupId, ts));
    lastWrite = now();
    if (unsaved === ts) unsaved = null;
    options.onSaved?.(groupId, ts);
  };

  return {
    async handled(ts, idle) {
      unsaved = ts;
      if (idle || now() - lastWrite >= everyMs) await write();
    },
    async flush() {
      if (unsaved !== null) await write();
    },
  };
}
