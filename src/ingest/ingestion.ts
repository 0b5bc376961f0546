/**
 * The long-poll runner for one community: resume from the checkpoint (with the poll server
 * and key the previous holder kept beside it, when the store keeps one), hand each batch to
 * the pipeline, and checkpoint only once the pipeline has handled it. Batches overlap: the
 * next one is polled and prepared (validated, enriched, routed) while earlier ones are
 * delivered, but deliveries and checkpoints happen strictly in batch order. A batch the
 * pipeline cannot deliver (Redis down, say) is retried with backoff, never skipped, and
 * holds back every later batch and the checkpoint.
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { errorMessage } from "../errors.ts";
import type { StateStore } from "../store/state_store.ts";
import { isAbort, retry } from "../util/retry.ts";
import type { Backoff } from "../util/time.ts";
import { UnitOfWork } from "../util/unit_of_work.ts";
import {
  type Batch,
  createPoller,
  decodePollServer,
  encodePollServer,
  type PollerOptions,
  type PollServer,
} from "../vk/long_poll.ts";
import { createCheckpointer } from "./checkpointer.ts";
import { CommitQueue } from "./commit_queue.ts";

const log = getLogger(["vk-event-router", "ingest"]);

/** Most batches joined in one commit. */
const MAX_GROUP = 10;

/** Handles batches in two steps, so that preparing the next overlaps delivering this one. */
export interface BatchHandler<P = unknown> {
  /** Work that may run ahead of earlier batches: it must not touch any destination. */
  prepare(batch: Batch): Promise<P>;
  /**
   * Delivery, called strictly in batch order; resolves once every event is delivered or
   * durably parked. It sends `unit`, where the checkpoint of earlier batches may wait to
   * travel in the batch's round trip.
   */
  commit(prepared: P, unit: UnitOfWork): Promise<void>;
  /** Joins prepared batches, in order, into one commit (one round trip for several batches). */
  merge(prepared: P[]): P;
}

/** Options for {@linkcode runIngestion}. */
export interface IngestionOptions<P> {
  poller: Omit<PollerOptions, "initialTs" | "initialServer" | "onServer" | "signal">;
  store: StateStore;
  handler: BatchHandler<P>;
  signal: AbortSignal;
  /** Batches in flight at once (polled, not yet committed). @default 8 */
  depth?: number;
  /**
   * Events in flight at once: the next poll waits while this many are queued, so that an
   * event waits behind a few large batches at most, yet many small ones still overlap.
   * @default unbounded
   */
  maxEventsInFlight?: number;
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
  /**
   * How long a batch may keep failing before it is reported stuck (logged at `error` with
   * its event ids, and told to `onStuck`). @default {@linkcode STUCK_AFTER_MS}
   */
  stuckAfterMs?: number;
  /** Told when a batch becomes stuck, and with null once it is through. */
  onStuck?: (groupId: number, stuck: StuckBatch | null) => void;
}

/** A batch that keeps failing, holding back the community's checkpoint. */
export interface StuckBatch {
  /** When its first attempt failed (ms since epoch). */
  since: number;
  /** The ids of its events (those that have one). */
  eventIds: string[];
  /** The last error. */
  error: string;
}

/** A batch that has failed for this long is reported stuck. */
export const STUCK_AFTER_MS = 60_000;

/**
 * Runs until `signal` aborts (resolves) or VK refuses for good (rejects with
 * `VkFatalError`). Batches in flight at abort are finished and checkpointed when the
 * pipeline can do so; otherwise they are left for the next run, which polls them again.
 */
export async function runIngestion<P>(options: IngestionOptions<P>): Promise<void> {
  const { store, handler, signal } = options;
  const groupId = options.poller.groupId;
  const backoff = options.backoff ?? { minMs: 500, maxMs: 30_000 };
  /** Retries `work` until it succeeds; rejects with the abort reason once the run stops. */
  const untilSuccess = <T>(what: string, work: () => Promise<T>, finishOnStop: boolean) =>
    retry(work, {
      backoff,
      signal,
      firstAttemptOnAbort: finishOnStop,
      onRetry: (error, attempt, delay) =>
        log.error("Community {groupId}: cannot {what}: {error}; retry {attempt} in {delay} ms", {
          groupId,
          what,
          error: errorMessage(error),
          attempt,
          delay,
        }),
    });

  let initialTs: string | null;
  let initialServer: PollServer | null;
  try {
    [initialTs, initialServer] = await untilSuccess(
      "read the checkpoint",
      async () => {
        const [ts, server] = await Promise.all([
          store.getCheckpoint(groupId),
          store.getPollServer?.(groupId) ?? null,
        ]);
        return [ts, decodePollServer(server, Date.now())] as const;
      },
      false,
    );
  } catch (error) {
    if (isAbort(error, signal)) return;
    throw error;
  }
  if (initialTs !== null) {
    log.info("Community {groupId} resumes from checkpoint ts {ts}", { groupId, ts: initialTs });
  }

  const checkpointer = createCheckpointer({
    groupId,
    store,
    everyMs: options.checkpointEveryMs ?? 0,
    stored: initialTs,
    persist: (write) => untilSuccess("write the checkpoint", write, true),
    ...(options.onCheckpoint ? { onSaved: options.onCheckpoint } : {}),
  });
  const queue = new CommitQueue<Batch, P>(
    options.depth ?? 8,
    MAX_GROUP,
    options.maxEventsInFlight ?? Infinity,
  );
  const stuckAfterMs = options.stuckAfterMs ?? STUCK_AFTER_MS;
  /**
   * Watches one batch's attempts: once it has failed for `stuckAfterMs`, it is reported
   * stuck (once), and cleared when it gets through.
   */
  const stuckWatch = (batches: readonly Batch[]) => {
    let since: number | null = null;
    let reported = false;
    return {
      failed(error: unknown) {
        since ??= Date.now();
        if (reported || Date.now() - since < stuckAfterMs) return;
        reported = true;
        const eventIds = batches.flatMap((b) => b.updates).flatMap((u) => {
          const id = (u as { event_id?: unknown } | null)?.event_id;
          return typeof id === "string" ? [id] : [];
        });
        const stuck = { since, eventIds, error: errorMessage(error) };
        log.error(
          "Community {groupId}: a batch of {count} events is stuck for {seconds} s, holding back the checkpoint: {error}; events {eventIds}",
          {
            groupId,
            count: eventIds.length,
            seconds: Math.round((Date.now() - since) / 1000),
            error: stuck.error,
            eventIds,
          },
        );
        options.onStuck?.(groupId, stuck);
      },
      through() {
        if (!reported) return;
        log.info("Community {groupId}: the stuck batch got through", { groupId });
        options.onStuck?.(groupId, null);
      },
    };
  };

  /** Commits in order; resolves false when the run stopped before everything taken landed. */
  const committer = (async (): Promise<boolean> => {
    try {
      for (let group = await queue.take(); group; group = await queue.take()) {
        const events = group.batches.reduce((n, b) => n + b.updates.length, 0);
        const { prepared } = group;
        if (prepared.length > 0) {
          const merged = prepared.length === 1 ? prepared[0]! : handler.merge(prepared);
          const watch = stuckWatch(group.batches);
          await untilSuccess(`handle a batch of ${events} events`, async () => {
            const unit = new UnitOfWork();
            const carried = checkpointer.carry(unit);
            try {
              await handler.commit(merged, unit);
            } catch (error) {
              watch.failed(error);
              throw error;
            } finally {
              unit.cancel(new Error("The batch's commit failed before its round trip"));
            }
            await carried;
          }, true);
          watch.through();
        }
        // A write that can travel with the next batch waits for it, or for an empty poll.
        const idle = events === 0 || signal.aborted || (queue.size === 0 && !checkpointer.carries);
        await checkpointer.handled(group.batches.at(-1)!.ts, idle);
      }
      return true;
    } catch (error) {
      queue.close();
      if (isAbort(error, signal)) return false;
      throw error;
    }
  })();

  try {
    const onServer = store.setPollServer &&
      ((server: PollServer) => store.setPollServer!(groupId, encodePollServer(server, Date.now())));
    const poller = createPoller({
      ...options.poller,
      initialTs,
      initialServer,
      ...(onServer ? { onServer } : {}),
      signal,
    });
    for await (const batch of poller) {
      const prepared = batch.updates.length === 0 ? null : untilSuccess(
        `prepare a batch of ${batch.updates.length} events`,
        () => handler.prepare(batch),
        true,
      );
      await queue.add(batch, prepared, batch.updates.length);
      if (queue.closed) break;
    }
  } finally {
    if (!queue.closed) queue.close();
    if (await committer) await checkpointer.flush().catch(() => {});
  }
}
