/**
 * One place decides the fate of every delivery: delivered, parked for a later attempt,
 * or dead-lettered. A failing destination never blocks the others: its events are parked
 * durably in the state store and retried on a schedule by {@linkcode Deliverer.retryDue}.
 * `deliver` resolves only once each event is delivered or durably parked, and throws when
 * even parking fails (the store is down), so the caller keeps the batch and tries again.
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { Metrics } from "../status/metrics.ts";
import type { DeadLetter, ParkedDelivery, StateStore } from "../store/state_store.ts";
import type { Delivery, Outcome, Sink } from "./types.ts";
import { errorMessage } from "../errors.ts";
import { isAbort, retry } from "../util/retry.ts";
import { sleep } from "../util/time.ts";

const log = getLogger(["vk-event-router", "deliver"]);

/** Seconds between attempts, after Standard Webhooks' schedule; the last repeats. */
export const DEFAULT_RETRY_SCHEDULE_S: readonly number[] = [5, 300, 1800, 7200, 18_000, 36_000];

/** One event for one named destination. */
export interface Routed extends Delivery {
  destination: string;
  /** When the router received the event (ms since epoch), for the delivery latency. */
  receivedAt?: number;
}

/** Options for {@linkcode createDeliverer}. */
export interface DelivererOptions {
  sinks: ReadonlyMap<string, Sink>;
  store: StateStore;
  /** Where dead letters go first; null or failing: the store's own list. */
  deadLetterSink: Sink | null;
  metrics: Metrics;
  /** Attempts before the dead letter. */
  attempts: number;
  /** Age of the first failure before the dead letter. */
  maxAgeS: number;
  scheduleS?: readonly number[];
  now?: () => number;
}

/** Delivers, parks and dead-letters. */
export interface Deliverer {
  /** Delivers each item or parks it durably; throws only when parking itself fails. */
  deliver(items: readonly Routed[]): Promise<void>;
  /** Sends dead letters to the dead-letter destination, or the store's list. */
  deadLetter(letters: readonly DeadLetter[]): Promise<void>;
  /** One round of retries of parked deliveries that are due; returns how many were tried. */
  retryDue(limit?: number): Promise<number>;
}

/** Creates the deliverer. */
export function createDeliverer(options: DelivererOptions): Deliverer {
  const { sinks, store, metrics } = options;
  const schedule = options.scheduleS ?? DEFAULT_RETRY_SCHEDULE_S;
  const now = options.now ?? Date.now;

  /** Sends items grouped by destination, all destinations at once; notes when each answered. */
  async function attempt(
    items: readonly Routed[],
  ): Promise<{ outcomes: Outcome[]; answeredAt: number[] }> {
    const outcomes: Outcome[] = new Array(items.length);
    const answeredAt: number[] = new Array(items.length);
    const byDestination = new Map<string, number[]>();
    items.forEach((item, i) => {
      const list = byDestination.get(item.destination) ?? [];
      list.push(i);
      byDestination.set(item.destination, list);
    });
    await Promise.all([...byDestination].map(async ([name, indexes]) => {
      const sink = sinks.get(name);
      if (!sink) {
        for (const i of indexes) {
          outcomes[i] = { status: "dead", error: `no destination named ${name}` };
        }
        return;
      }
      const results = await sink.deliver(indexes.map((i) => items[i]!));
      const t = now();
      indexes.forEach((i, j) => {
        outcomes[i] = results[j]!;
        answeredAt[i] = t;
      });
    }));
    return { outcomes, answeredAt };
  }

  function countDelivered(destination: string, o: Outcome & { status: "delivered" }): void {
    metrics.inc(o.duplicate ? "vk_router_duplicates_total" : "vk_router_delivered_total", {
      destination,
    });
  }

  function nextDelay(attempts: number, outcome: Outcome & { status: "retry" }): number {
    const scheduled = (schedule[Math.min(attempts - 1, schedule.length - 1)] ?? 60) * 1000;
    return Math.max(scheduled, outcome.retryAfterMs ?? 0);
  }

  function letter(
    d: { destination: string; eventId: string; body: string },
    attempts: number,
    error: string,
    status: number | null,
  ): DeadLetter {
    return {
      reason: "delivery_failed",
      destination: d.destination,
      event_id: d.eventId,
      attempts,
      last_error: error,
      last_status: status,
      failed_at: Math.floor(now() / 1000),
      event: JSON.parse(d.body),
    };
  }

  async function deadLetter(letters: readonly DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    for (const l of letters) {
      metrics.inc("vk_router_dead_lettered_total", { destination: l.destination ?? "(rejected)" });
      log.warn(
        "Dead-lettered event {eventId} for {destination} after {attempts} attempts: {error}",
        {
          eventId: l.event_id,
          destination: l.destination ?? "(rejected)",
          attempts: l.attempts,
          error: l.last_error,
        },
      );
    }
    const sink = options.deadLetterSink;
    if (sink) {
      const outcomes = await sink.deliver(
        letters.map((l, i) => ({
          eventId: `dead:${l.event_id ?? i}:${l.destination ?? ""}:${l.failed_at}`,
          eventType: "dead_letter",
          body: JSON.stringify(l),
        })),
      );
      const failed = letters.filter((_, i) => outcomes[i]?.status !== "delivered");
      if (failed.length === 0) return;
      log.error(
        "The dead-letter destination {name} refused {count} letters; keeping them in the state store",
        {
          name: sink.name,
          count: failed.length,
        },
      );
      await store.addDeadLetters(failed);
      return;
    }
    await store.addDeadLetters(letters);
  }

  return {
    deadLetter,

    async deliver(items) {
      const { outcomes, answeredAt } = await attempt(items);
      const parked: ParkedDelivery[] = [];
      const dead: DeadLetter[] = [];
      const t = now();
      items.forEach((item, i) => {
        const o = outcomes[i]!;
        if (o.status === "delivered") {
          countDelivered(item.destination, o);
          if (!o.duplicate && item.receivedAt !== undefined) {
            const latencyS = Math.max(0, answeredAt[i]! - item.receivedAt) / 1000;
            metrics.observe(
              "vk_router_delivery_latency_seconds",
              { destination: item.destination },
              latencyS,
            );
          }
          return;
        }
        metrics.inc("vk_router_delivery_failures_total", { destination: item.destination });
        if (o.status === "dead" || options.attempts <= 1) {
          dead.push(letter(item, 1, o.error, o.httpStatus ?? null));
          return;
        }
        parked.push({
          id: `${item.destination}:${item.eventId}`,
          destination: item.destination,
          eventId: item.eventId,
          ...(item.eventType ? { eventType: item.eventType } : {}),
          body: item.body,
          attempts: 1,
          firstFailedAt: t,
          nextAttemptAt: t + nextDelay(1, o),
          lastError: o.error,
          lastStatus: o.httpStatus ?? null,
        });
      });
      if (parked.length > 0) {
        await store.park(parked);
        for (const p of parked) {
          metrics.inc("vk_router_parked_total", { destination: p.destination });
          log.warn("Parked event {eventId} for {destination}, next attempt in {delay} s: {error}", {
            eventId: p.eventId,
            destination: p.destination,
            delay: Math.round((p.nextAttemptAt - t) / 1000),
            error: p.lastError,
          });
        }
      }
      await deadLetter(dead);
    },

    async retryDue(limit = 100) {
      const due = await store.due(now(), limit);
      if (due.length === 0) return 0;
      const { outcomes } = await attempt(due);
      const done: string[] = [];
      const again: ParkedDelivery[] = [];
      const dead: DeadLetter[] = [];
      const t = now();
      due.forEach((d, i) => {
        const o = outcomes[i]!;
        metrics.inc("vk_router_retried_total", { destination: d.destination });
        if (o.status === "delivered") {
          countDelivered(d.destination, o);
          done.push(d.id);
          return;
        }
        const attempts = d.attempts + 1;
        const tooOld = t - d.firstFailedAt >= options.maxAgeS * 1000;
        if (o.status === "dead" || attempts >= options.attempts || tooOld) {
          dead.push(letter(d, attempts, o.error, o.httpStatus ?? null));
          done.push(d.id);
          return;
        }
        again.push({
          ...d,
          attempts,
          nextAttemptAt: t + nextDelay(attempts, o),
          lastError: o.error,
          lastStatus: o.httpStatus ?? null,
        });
      });
      await store.park(again);
      await deadLetter(dead);
      await store.unpark(done);
      return due.length;
    },
  };
}

/**
 * Retries parked deliveries as they fall due, until the signal aborts. A failing store
 * (retryDue throws) is retried with backoff; an idle round sleeps `idleMs`.
 */
export async function runRetryWorker(
  deliverer: Deliverer,
  signal: AbortSignal,
  idleMs = 500,
): Promise<void> {
  while (!signal.aborted) {
    try {
      const tried = await retry(() => deliverer.retryDue(100), {
        signal,
        backoff: { minMs: idleMs, maxMs: 30_000 },
        onRetry: (error, attempt, delay) =>
          log.error("Retrying parked deliveries failed: {error}; retry {attempt} in {delay} ms", {
            error: errorMessage(error),
            attempt,
            delay,
          }),
      });
      if (tried === 0) await sleep(idleMs, signal);
    } catch (error) {
      if (!isAbort(error, signal)) throw error;
    }
  }
}
