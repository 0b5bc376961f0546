/**
 * The long-poll runner for one community: resume from the checkpoint, hand each batch to
 * the pipeline, and checkpoint only once the pipeline has handled it. A batch the
 * pipeline cannot handle (Redis down, say) is retried with backoff, never skipped.
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { errorMessage } from "./errors.ts";
import type { StateStore } from "./store/state_store.ts";
import { type Backoff, backoffDelay, sleep } from "./util/time.ts";
import { type Batch, createPoller, type PollerOptions } from "./vk/long_poll.ts";

const log = getLogger(["vk-event-router", "ingest"]);

/** Handles one batch; resolves once every event is delivered or durably parked. */
export type BatchHandler = (batch: Batch) => Promise<void>;

/** Options for {@linkcode runIngestion}. */
export interface IngestionOptions {
  poller: Omit<PollerOptions, "initialTs" | "signal">;
  store: StateStore;
  handle: BatchHandler;
  signal: AbortSignal;
  /** Backoff while the pipeline or the store fails. @default 0.5 s .. 30 s */
  backoff?: Backoff;
  /** Told after each checkpoint write. */
  onCheckpoint?: (groupId: number, ts: string) => void;
}

/**
 * Runs until `signal` aborts (resolves) or VK refuses for good (rejects with
 * `VkFatalError`). The batch in flight at abort is finished and checkpointed when the
 * pipeline can do so; otherwise it is left for the next run, which polls it again.
 */
export async function runIngestion(options: IngestionOptions): Promise<void> {
  const { store, handle, signal } = options;
  const groupId = options.poller.groupId;
  const backoff = options.backoff ?? { minMs: 500, maxMs: 30_000 };
  const checkpoint = await untilDone("read the checkpoint", () => store.getCheckpoint(groupId));
  if (checkpoint === null) return;
  const initialTs = checkpoint.value;
  if (initialTs !== null) {
    log.info("Community {groupId} resumes from checkpoint ts {ts}", { groupId, ts: initialTs });
  }

  for await (const batch of createPoller({ ...options.poller, initialTs, signal })) {
    if (batch.updates.length > 0) {
      const handled = await untilDone(
        `handle a batch of ${batch.updates.length} events`,
        () => handle(batch),
        true,
      );
      if (handled === null) return;
    }
    const saved = await untilDone(
      "write the checkpoint",
      () => store.setCheckpoint(groupId, batch.ts),
      true,
    );
    if (saved === null) return;
    options.onCheckpoint?.(groupId, batch.ts);
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
