/**
 * The long-poll runner for one community: resume from the checkpoint, hand each batch to
 * the pipeline, and checkpoint only once the pipeline has handled it. Batches overlap: the
 * next one is polled and prepared (validated, enriched, routed) while earlier ones are
 * delivered, but deliveries and checkpoints happen strictly in batch order. A batch the
 * pipeline cannot deliver (Redis down, say) is retried with backoff, never skipped, and
 * holds back every later batch and the checkpoint.
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { errorMessage } from "./errors.ts";
import type { StateStore } from "./store/state_store.ts";
import { type Backoff, backoffDelay, sleep } from "./util/time.ts";
import { type Batch, createPoller, type PollerOptions } from "./vk/long_poll.ts";

const log = getLogger(["vk-event-router", "ingest"]);

/** Most batches joined in one commit. */
const MAX_GROUP = 10;

/** Handles batches in two steps, so that preparing the next overlaps delivering this one. */
export interface BatchHandler<P = unknown> {
  /** Work that may run ahead of earlier batches: it must not touch any destination. */
  prepare(batch: Batch): Promise<P>;
  /** Delivery, called strictly in batch order; resolves once every event is delivered or durably parked. */
  commit(prepared: P): Promise<void>;
  /** Joins prepared batches, in order, into one commit (one round trip for several batches). */
  merge(prepared: P[]): P;
}

/** Options for {@linkcode runIngestion}. */
export interface IngestionOptions<P> {
  poller: Omit<PollerOptions, "initialTs" | "signal">;
  store: StateStore;
  handler: BatchHandler<P>;
  signal: AbortSignal;
  /** Batches in flight at once (polled, not yet committed). @default 8 */
  depth?: number;
  /** Backoff while the pipeline or the store fails. @default 0.5 s .. 30 s */
  backoff?: Backoff;
  /**
   * Under load, write the checkpoint at most this often (always when the stream goes idle
   * and at the end). A crash then re-polls at most this much, which the dedup markers make
   * harmless. @default 0 (after every batch)
   */
  checkpointEveryMs?: number;
  /** Told after each checkpoint write. */
  onCheckpoint?: (groupId: number, ts: string) => void;
}

/**
 * Runs until `signal` aborts (resolves) or VK refuses for good (rejects with
 * `VkFatalError`). Batches in flight at abort are finished and checkpointed when the
 * pipeline can do so; otherwise they are left for the next run, which polls them again.
 */
export async function runIngestion<P>(options: IngestionOptions<P>): Promise<void> {
  const { store, handler, signal } = options;
  const groupId = options.poller.groupId;
  const backoff = options.backoff ?? { minMs: 500, maxMs: 30_000 };
  const depth = options.depth ?? 8;
  const checkpointEveryMs = options.checkpointEveryMs ?? 0;
  let lastWrite = 0;
  let unsaved: string | null = null;
  /** Writes `ts` now, or leaves it for later when the last write was recent and more batches follow. */
  const saveCheckpoint = async (ts: string, force: boolean): Promise<boolean> => {
    unsaved = ts;
    if (!force && Date.now() - lastWrite < checkpointEveryMs) return true;
    const saved = await untilDone(
      "write the checkpoint",
      () => store.setCheckpoint(groupId, ts),
      true,
    );
    if (!saved) return false;
    lastWrite = Date.now();
    unsaved = null;
    options.onCheckpoint?.(groupId, ts);
    return true;
  };
  const checkpoint = await untilDone("read the checkpoint", () => store.getCheckpoint(groupId));
  if (checkpoint === null) return;
  const initialTs = checkpoint.value;
  if (initialTs !== null) {
    log.info("Community {groupId} resumes from checkpoint ts {ts}", { groupId, ts: initialTs });
  }

  interface Entry {
    batch: Batch;
    prepared: Promise<{ value: P } | null> | null;
    ready: boolean;
  }
  const queue: Entry[] = [];
  let halted = false;
  let pollingDone = false;
  let wakeCommitter: (() => void) | null = null;
  let wakePoller: (() => void) | null = null;
  const nudge = (wake: (() => void) | null) => wake?.();

  /**
   * Commits queued batches in order. Batches whose preparation is already done when the
   * committer gets to them are committed together (group commit): one delivery round trip
   * and one checkpoint for all of them.
   */
  const committer = (async () => {
    while (!halted) {
      if (queue.length === 0) {
        if (pollingDone) return;
        await new Promise<void>((resolve) => wakeCommitter = resolve);
        continue;
      }
      const group = [queue.shift()!];
      while (queue.length > 0 && queue[0]!.ready && group.length < MAX_GROUP) {
        group.push(queue.shift()!);
      }
      nudge(wakePoller);
      const values: P[] = [];
      for (const entry of group) {
        if (!entry.prepared) continue;
        const prepared = await entry.prepared;
        if (!prepared) return void (halted = true);
        values.push(prepared.value);
      }
      const events = group.reduce((n, e) => n + e.batch.updates.length, 0);
      if (values.length > 0) {
        const merged = values.length === 1 ? values[0]! : handler.merge(values);
        const committed = await untilDone(
          `handle a batch of ${events} events`,
          () => handler.commit(merged),
          true,
        );
        if (!committed) return void (halted = true);
      }
      const idle = events === 0 || queue.length === 0 || signal.aborted;
      if (!await saveCheckpoint(group.at(-1)!.batch.ts, idle)) halted = true;
    }
  })();

  try {
    for await (const batch of createPoller({ ...options.poller, initialTs, signal })) {
      const entry: Entry = { batch, prepared: null, ready: true };
      if (batch.updates.length > 0) {
        entry.ready = false;
        entry.prepared = untilDone(
          `prepare a batch of ${batch.updates.length} events`,
          () => handler.prepare(batch),
          true,
        );
        entry.prepared.then(() => entry.ready = true);
      }
      queue.push(entry);
      nudge(wakeCommitter);
      while (queue.length >= depth && !halted) {
        await new Promise<void>((resolve) => wakePoller = resolve);
      }
      if (halted) break;
    }
  } finally {
    pollingDone = true;
    nudge(wakeCommitter);
    await committer;
    if (unsaved !== null && !halted) await saveCheckpoint(unsaved, true);
  }

  /**
   * Retries `work` with backoff until it succeeds (`{ value }`) or the run stops
   * (null). With `finishOnAbort`, a started attempt is awaited even after abort, so
   * a batch in flight at shutdown still lands.
   */
  async function untilDone<T>(
    what: string,
    work: () => Promise<T>,
    finishOnAbort = false,
  ): Promise<{ value: T } | null> {
    for (let attempt = 1;; attempt++) {
      if (signal.aborted && (!finishOnAbort || attempt > 1)) return null;
      try {
        return { value: await work() };
      } catch (error) {
        const delay = backoffDelay(attempt, backoff);
        log.error("Community {groupId}: cannot {what}: {error}; retry {attempt} in {delay} ms", {
          groupId,
          what,
          error: errorMessage(error),
          attempt,
          delay,
        });
        await sleep(delay, signal).catch(() => {});
      }
    }
  }
}
