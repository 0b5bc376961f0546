/**
 * One place decides the fate of every delivery: delivered, parked for a later attempt,
 * or dead-lettered. A failing destination never blocks the others: its events are parked
 * durably in the state store and retried on a schedule by {@linkcode Deliverer.retryDue}.
 * `deliver` resolves only once each event is delivered or durably parked, and throws when
 * even parking fails (the store is down), so the caller keeps the batch and tries again.
 *
 * A batch is one unit of work: the destinations that can share a round trip (the Redis
 * kinds) add their calls to it, beside whatever the caller added (the worker's shared
 * counters and parked-retry probe, the service's checkpoint), and the deliverer sends it.
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { Metrics } from "../status/metrics.ts";
import {
  type DeadLetter,
  newLetterId,
  type ParkedDelivery,
  type StateStore,
} from "../store/state_store.ts";
import type { Delivery, Outcome, Sink } from "./types.ts";
import { errorMessage } from "../errors.ts";
import { isAbort, retry } from "../util/retry.ts";
import { sleep, withTimeout } from "../util/time.ts";
import { SILENT_TRACER, type Tracer } from "../status/trace.ts";
import { UnitOfWork } from "../util/unit_of_work.ts";

const log = getLogger(["vk-event-router", "deliver"]);

/** How long a destination may take to answer a batch before its events count as failed. */
export const DEFAULT_SINK_DEADLINE_MS = 300_000;

/** Seconds between attempts, after Standard Webhooks' schedule; the last repeats. */
export const DEFAULT_RETRY_SCHEDULE_S: readonly number[] = [5, 300, 1800, 7200, 18_000, 36_000];

/** The histogram of first attempts' delivery latency. */
const LATENCY = "vk_router_delivery_latency_seconds";

/** One event for one named destination. */
export interface Routed extends Delivery {
  destination: string;
  /** When the router received the event (ms since epoch), for the delivery latency. */
  receivedAt?: number;
}

/** The counter of a delivered event, by whether the destination already had it. */
export function deliveredCounter(
  destination: string,
  duplicate: boolean,
): { name: string; labels: { destination: string } } {
  return {
    name: duplicate ? "vk_router_duplicates_total" : "vk_router_delivered_total",
    labels: { destination },
  };
}

/**
 * Told of each attempt's fate per destination and event, for the health and the page's
 * last events (the status implements it).
 */
export interface DeliveryObserver {
  delivered(destination: string, eventId: string): void;
  failed(destination: string, error: string, eventId: string): void;
  parked(destination: string, eventId: string): void;
  deadLettered(destination: string, eventId: string | null): void;
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
  observer?: DeliveryObserver;
  /** Where each delivery's steps are logged: delivered, parked, dead-lettered. */
  tracer?: Tracer;
  /**
   * Look the paused destinations up in the store (at most once a
   * {@linkcode PAUSED_CACHE_MS}); false where a lookup would cost each request a round trip
   * (the serverless worker). @default true
   */
  honourPauses?: boolean;
  /** @default {@linkcode DEFAULT_SINK_DEADLINE_MS} */
  sinkDeadlineMs?: number;
  now?: () => number;
}

/** What became of one delivery: delivered, or durably parked or dead-lettered. */
export type DeliveryFate = "delivered" | "parked" | "dead_lettered";

/** Paused destinations are looked up in the store at most this often. */
export const PAUSED_CACHE_MS = 1000;
/** A paused destination's parked deliveries are looked at again this often (resuming makes them due at once). */
export const PAUSED_RECHECK_MS = 60_000;

/** Delivers, parks and dead-letters. */
export interface Deliverer {
  /**
   * Delivers each item or parks it durably (untried, when its destination is paused);
   * throws only when parking itself fails. Sends `unit` (the commit's unit of work, with
   * whatever the caller added to it) with the calls of the destinations that share it.
   * Resolves with each item's fate, in order.
   */
  deliver(items: readonly Routed[], unit?: UnitOfWork): Promise<DeliveryFate[]>;
  /** Sends dead letters to the dead-letter destination, or the store's list. */
  deadLetter(letters: readonly DeadLetter[]): Promise<void>;
  /** One round of retries of parked deliveries that are due; returns how many were tried. */
  retryDue(limit?: number): Promise<number>;
  /**
   * Makes a destination's parked deliveries due now and retries up to `limit` of them (an
   * operator's "retry now"): how many were tried and delivered. None while it is paused.
   */
  retryNow(destination: string, limit?: number): Promise<{ tried: number; delivered: number }>;
  /**
   * This process paused or resumed a destination: look the paused ones up again now (and
   * leave the retry of a resumed one's deliveries to the caller).
   */
  pausedChanged(destination: string, paused: boolean): void;
  /** When the next parked delivery falls due (ms since epoch); null when none is parked. */
  nextDueAt(): Promise<number | null>;
  /** How many times this deliverer has parked deliveries: a local signal, no Redis. */
  readonly parkings: number;
}

/** Creates the deliverer. */
export function createDeliverer(options: DelivererOptions): Deliverer {
  const { sinks, store, metrics } = options;
  const schedule = options.scheduleS ?? DEFAULT_RETRY_SCHEDULE_S;
  const now = options.now ?? Date.now;
  const observer = options.observer;
  const tracer = options.tracer ?? SILENT_TRACER;
  /** The trace fields of one delivery. */
  const traced = (d: Routed | ParkedDelivery, attempt: number) => ({
    event_id: d.eventId,
    event_type: d.eventType ?? null,
    group_id: d.groupId ?? null,
    destination: d.destination,
    attempt,
  });
  const deadlineMs = options.sinkDeadlineMs ?? DEFAULT_SINK_DEADLINE_MS;

  /**
   * Sends items grouped by destination: those of the sinks that share the unit of work
   * in its round trip, the others on their own at the same time (or first, when someone
   * in the unit builds its call late to count their answers).
   */
  async function attempt(
    items: readonly (Routed | ParkedDelivery)[],
    unit: UnitOfWork = new UnitOfWork(),
  ): Promise<Outcome[]> {
    const outcomes: Outcome[] = new Array(items.length);
    const startedAt = now();
    /**
     * Records a destination's outcomes as it answers, counting deliveries at once (before
     * the round trip) and timing first attempts from when the event arrived: each
     * destination by its own answer, so a slow webhook does not inflate the others. The
     * events of one poll answer arrived together: their latencies are one observation
     * counted as many, and the counters move once per destination, not per event.
     */
    const settle = (name: string, indexes: number[], results: Outcome[]) => {
      const answeredAt = now();
      let delivered = 0;
      let duplicates = 0;
      let since: number | undefined;
      let timed = 0;
      const observe = () => {
        if (timed === 0) return;
        const latencyS = Math.max(0, answeredAt - since!) / 1000;
        metrics.observe(LATENCY, { destination: name }, latencyS, timed);
        timed = 0;
      };
      indexes.forEach((i, j) => {
        const o = outcomes[i] = results[j]!;
        const item = items[i]!;
        if (o.status !== "delivered") return observer?.failed(name, o.error, item.eventId);
        observer?.delivered(name, item.eventId);
        tracer.step("Event {event_id} delivered to {destination}, attempt {attempt}", () => ({
          ...traced(item, "attempts" in item ? item.attempts + 1 : 1),
          duration_ms: answeredAt - startedAt,
          ...(o.duplicate ? { duplicate: true } : {}),
        }));
        if (!o.counted) o.duplicate ? duplicates++ : delivered++;
        const receivedAt = "receivedAt" in item ? item.receivedAt : undefined;
        if (o.duplicate || receivedAt === undefined) return;
        if (receivedAt !== since) {
          observe();
          since = receivedAt;
        }
        timed++;
      });
      observe();
      // The sink counted them in Redis when they carry `counted`.
      for (const [duplicate, n] of [[false, delivered], [true, duplicates]] as const) {
        if (n === 0) continue;
        const { name: counter, labels } = deliveredCounter(name, duplicate);
        metrics.inc(counter, labels, n);
      }
    };
    const direct: Promise<void>[] = [];
    const joined: Promise<void>[] = [];
    for (const [name, indexes] of Map.groupBy(items.keys(), (i) => items[i]!.destination)) {
      const sink = sinks.get(name);
      if (!sink) {
        for (const i of indexes) {
          outcomes[i] = { status: "dead", error: `no destination named ${name}` };
          observer?.failed(name, outcomes[i].error, items[i]!.eventId);
        }
        continue;
      }
      const batch = indexes.map((i) => items[i]!);
      (sink.deliverIn ? joined : direct).push(
        guarded(sink, batch, deadlineMs, unit).then((results) => settle(name, indexes, results)),
      );
    }
    if (unit.late) await Promise.all(direct);
    await unit.send();
    await Promise.all([...joined, ...direct]);
    return outcomes;
  }

  /**
   * The wait before the next attempt: the schedule's, or longer when the receiver asks
   * (`Retry-After`), but never longer than the schedule's longest step or than what is left
   * of the letter's maximum age: a receiver cannot park a delivery for ever.
   */
  function nextDelay(
    attempts: number,
    outcome: Outcome & { status: "retry" },
    ageMs: number,
  ): number {
    const scheduled = (schedule[Math.min(attempts - 1, schedule.length - 1)] ?? 60) * 1000;
    const longest = Math.max(...schedule, 0) * 1000;
    const asked = Math.min(outcome.retryAfterMs ?? 0, longest, options.maxAgeS * 1000 - ageMs);
    return Math.max(scheduled, asked);
  }

  function letter(
    d: { destination: string; eventId: string; body: string; firstFailedAt?: number },
    attempts: number,
    o: Exclude<Outcome, { status: "delivered" }>,
  ): DeadLetter {
    const t = now();
    const firstFailedAt = d.firstFailedAt ?? t;
    const redirect = o.status === "dead" && o.reason === "redirect";
    return {
      id: newLetterId(t),
      reason: redirect ? "redirect" : "delivery_failed",
      destination: d.destination,
      event_id: d.eventId,
      attempts,
      last_error: o.error,
      last_status: o.httpStatus ?? null,
      failed_at: Math.floor(t / 1000),
      first_failed_at: Math.floor(firstFailedAt / 1000),
      event: JSON.parse(d.body),
      ...(redirect && o.location !== undefined ? { location: o.location } : {}),
    };
  }

  async function deadLetter(letters: readonly DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    for (const l of letters) {
      metrics.inc("vk_router_dead_lettered_total", { destination: l.destination ?? "(rejected)" });
      if (l.destination !== null) observer?.deadLettered(l.destination, l.event_id);
      const event = l.event as { event_type?: unknown; group_id?: unknown } | null;
      tracer.failure(
        "Event {event_id} dead-lettered for {destination} after {attempt} attempts ({reason}): {error}",
        {
          event_id: l.event_id,
          event_type: typeof event?.event_type === "string" ? event.event_type : null,
          group_id: typeof event?.group_id === "number" ? event.group_id : null,
          destination: l.destination ?? "(rejected)",
          attempt: l.attempts,
          reason: l.reason,
          error: l.last_error,
          http_status: l.last_status,
        },
      );
    }
    const sink = options.deadLetterSink;
    if (sink) {
      // The letter's own id: unique, so two letters of one event stay two, and stable, so
      // a retried batch finds the dead-letter destination's dedup marker.
      const outcomes = await guarded(
        sink,
        letters.map((l) => ({ eventId: l.id, eventType: "dead_letter", body: JSON.stringify(l) })),
        deadlineMs,
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

  /** A failed attempt parked for the next one: what failed, and when it is tried again. */
  function traceParked(p: ParkedDelivery, t: number): void {
    tracer.failure(
      "Event {event_id} parked for {destination} after attempt {attempt}, next attempt in {delay_s} s: {error}",
      {
        ...traced(p, p.attempts),
        delay_s: Math.round((p.nextAttemptAt - t) / 1000),
        next_attempt_at: p.nextAttemptAt,
        error: p.lastError,
        http_status: p.lastStatus,
      },
    );
  }

  /** The parked form of a routed item, with where its attempts stand. */
  function parkedOf(
    item: Routed,
    state: Omit<
      ParkedDelivery,
      "id" | "destination" | "eventId" | "eventType" | "groupId" | "body"
    >,
  ): ParkedDelivery {
    return {
      id: `${item.destination}:${item.eventId}`,
      destination: item.destination,
      eventId: item.eventId,
      ...(item.eventType ? { eventType: item.eventType } : {}),
      ...(item.groupId !== undefined ? { groupId: item.groupId } : {}),
      body: item.body,
      ...state,
    };
  }

  /** A delivery parked without an attempt: its destination is paused. */
  function parkedUntried(item: Routed, t: number): ParkedDelivery {
    return parkedOf(item, {
      attempts: 0,
      firstFailedAt: t,
      nextAttemptAt: t + PAUSED_RECHECK_MS,
      lastError: "the destination is paused",
      lastStatus: null,
    });
  }

  /**
   * The paused destinations, read from the store at most once a {@linkcode PAUSED_CACHE_MS}.
   * A destination found resumed (by another replica, say) gets what this process parked
   * for it meanwhile retried at once, instead of after {@linkcode PAUSED_RECHECK_MS}.
   */
  let pausedRead: { at: number; names: Promise<ReadonlySet<string>> } | null = null;
  let lastPaused: ReadonlySet<string> = new Set();
  const noPauses: Promise<ReadonlySet<string>> = Promise.resolve(new Set());
  const pausedNow = (): Promise<ReadonlySet<string>> => {
    if (options.honourPauses === false) return noPauses;
    if (!pausedRead || now() - pausedRead.at >= PAUSED_CACHE_MS) {
      pausedRead = {
        at: now(),
        // Unreadable (the store is down): deliver as if none were paused; parking fails anyway.
        names: store.pausedDestinations().then((n) => {
          const names = new Set(n);
          for (const resumed of [...lastPaused].filter((d) => !names.has(d))) {
            retryParked(resumed).catch((error) =>
              log.warn("Cannot retry the deliveries of resumed {destination}: {error}", {
                destination: resumed,
                error: errorMessage(error),
              })
            );
          }
          lastPaused = names;
          return names;
        }, () => new Set<string>()),
      };
    }
    return pausedRead.names;
  };

  /** Makes a destination's parked deliveries due now and retries them. */
  async function retryParked(
    destination: string,
    limit = 100,
  ): Promise<{ tried: number; delivered: number }> {
    const { items } = await store.listParked({ limit, filter: { destination } });
    const t = now();
    await store.park(items.map((d) => ({ ...d, nextAttemptAt: Math.min(d.nextAttemptAt, t) })));
    return await retryRound(limit, destination);
  }

  let parkings = 0;
  return {
    deadLetter,
    get parkings() {
      return parkings;
    },
    nextDueAt: () => store.nextDueAt(),

    async deliver(all, unit) {
      // A paused destination's deliveries are parked untried, to go once it is resumed.
      const paused = await pausedNow();
      const held = paused.size === 0 ? [] : all.filter((item) => paused.has(item.destination));
      const items = held.length === 0 ? all : all.filter((item) => !paused.has(item.destination));
      const outcomes = await attempt(items, unit);
      const parked: ParkedDelivery[] = [];
      const dead: DeadLetter[] = [];
      const fates = new Map<Routed, DeliveryFate>();
      const t = now();
      for (const item of held) {
        fates.set(item, "parked");
        parked.push(parkedUntried(item, t));
      }
      items.forEach((item, i) => {
        const o = outcomes[i]!;
        fates.set(item, o.status === "delivered" ? "delivered" : "parked");
        if (o.status === "delivered") return;
        metrics.inc("vk_router_delivery_failures_total", { destination: item.destination });
        if (o.status === "dead" || options.attempts <= 1) {
          fates.set(item, "dead_lettered");
          dead.push(letter(item, 1, o));
          return;
        }
        parked.push(parkedOf(item, {
          attempts: 1,
          firstFailedAt: t,
          nextAttemptAt: t + nextDelay(1, o, 0),
          lastError: o.error,
          lastStatus: o.httpStatus ?? null,
          lastFailedAt: t,
        }));
      });
      if (parked.length > 0) {
        await store.park(parked);
        parkings++;
        for (const p of parked) {
          metrics.inc("vk_router_parked_total", { destination: p.destination });
          observer?.parked(p.destination, p.eventId);
          traceParked(p, t);
        }
      }
      await deadLetter(dead);
      return all.map((item) => fates.get(item)!);
    },

    retryDue: async (limit = 100) => (await retryRound(limit)).tried,

    async retryNow(destination, limit = 100) {
      if ((await pausedNow()).has(destination)) return { tried: 0, delivered: 0 };
      return await retryParked(destination, limit);
    },

    pausedChanged(destination, paused) {
      const names = new Set(lastPaused);
      if (paused) names.add(destination);
      else names.delete(destination);
      lastPaused = names;
      pausedRead = null;
    },
  };

  /** Retries up to `limit` due deliveries (of `only` that destination); paused ones wait. */
  async function retryRound(
    limit: number,
    only?: string,
  ): Promise<{ tried: number; delivered: number }> {
    const found = await store.due(now(), limit);
    const paused = await pausedNow();
    // A paused destination's deliveries wait untried; `only` retries one destination's.
    const due = found.filter((d) =>
      !paused.has(d.destination) && (!only || d.destination === only)
    );
    const waiting = found.filter((d) => paused.has(d.destination));
    const t = now();
    if (waiting.length > 0) {
      await store.park(waiting.map((d) => ({ ...d, nextAttemptAt: t + PAUSED_RECHECK_MS })));
    }
    if (due.length === 0) return { tried: 0, delivered: 0 };
    const outcomes = await attempt(due);
    const done: string[] = [];
    const again: ParkedDelivery[] = [];
    const dead: DeadLetter[] = [];
    let delivered = 0;
    due.forEach((d, i) => {
      const o = outcomes[i]!;
      metrics.inc("vk_router_retried_total", { destination: d.destination });
      if (o.status === "delivered") {
        delivered++;
        done.push(d.id);
        return;
      }
      const attempts = d.attempts + 1;
      const tooOld = t - d.firstFailedAt >= options.maxAgeS * 1000;
      if (o.status === "dead" || attempts >= options.attempts || tooOld) {
        dead.push(letter(d, attempts, o));
        done.push(d.id);
        return;
      }
      again.push({
        ...d,
        attempts,
        nextAttemptAt: t + nextDelay(attempts, o, t - d.firstFailedAt),
        lastError: o.error,
        lastStatus: o.httpStatus ?? null,
        lastFailedAt: t,
      });
    });
    await store.park(again);
    for (const p of again) traceParked(p, t);
    await deadLetter(dead);
    await store.unpark(done);
    return { tried: due.length, delivered };
  }
}

/**
 * A sink's outcomes whatever it does: a throw, a rejection, no answer within `deadlineMs`
 * or a wrong number of outcomes make the events concerned retries (logged), never an
 * unhandled rejection, so a broken destination keeps its failure to itself.
 */
async function guarded(
  sink: Sink,
  batch: readonly Delivery[],
  deadlineMs: number,
  unit?: UnitOfWork,
): Promise<Outcome[]> {
  let answer: Outcome[];
  try {
    // Called at once, not in a later tick: a sink that joins the unit adds its calls now.
    const delivering = unit && sink.deliverIn
      ? sink.deliverIn(batch, unit)
      : sink.deliver(batch, unit);
    answer = await withTimeout(delivering, deadlineMs, "no answer");
  } catch (error) {
    return failAll(sink.name, batch.length, errorMessage(error));
  }
  return checked(sink.name, batch.length, () => answer);
}

const STATUSES = new Set(["delivered", "retry", "dead"]);

/** `count` outcomes from `read`: missing, malformed or thrown ones become retries. */
function checked(name: string, count: number, read: () => unknown): Outcome[] {
  let answer: unknown;
  try {
    answer = read();
  } catch (error) {
    return failAll(name, count, errorMessage(error));
  }
  const list = Array.isArray(answer) ? answer : [];
  const valid = (o: unknown): o is Outcome =>
    typeof o === "object" && o !== null && STATUSES.has((o as Outcome).status);
  if (list.length !== count || !list.every(valid)) {
    log.error(
      "Destination {destination} answered {answered} valid outcomes for {count} events; the others will be retried",
      { destination: name, answered: list.filter(valid).length, count },
    );
  }
  return Array.from(
    { length: count },
    (_, i): Outcome =>
      valid(list[i])
        ? list[i]
        : { status: "retry", error: `destination ${name} gave no valid outcome for this event` },
  );
}

/** Every event of a batch failed with the same error, to be retried. */
function failAll(name: string, count: number, error: string): Outcome[] {
  log.error("Destination {destination} failed a batch of {count} events: {error}", {
    destination: name,
    count,
    error,
  });
  const outcome: Outcome = { status: "retry", error: `destination failed: ${error}` };
  return Array.from({ length: count }, () => outcome);
}

/**
 * Retries parked deliveries as they fall due, until the signal aborts. Each round asks
 * the store when the first parked delivery falls due (one Redis command) and sleeps until
 * then: at most `maxIdleMs`, since another process may park sooner ones, and it wakes at
 * once when this process parks something (checked every `idleMs`, without Redis). An idle
 * service so asks Redis once per `maxIdleMs`, not every `idleMs`. A failing store is
 * retried with backoff.
 */
export async function runRetryWorker(
  deliverer: Deliverer,
  signal: AbortSignal,
  idleMs = 500,
  maxIdleMs = 30_000,
): Promise<void> {
  /** One round: retries what is due; answers when to look again. */
  const round = async (): Promise<number> => {
    const lookedAt = Date.now();
    const next = await deliverer.nextDueAt();
    if (next !== null && next <= lookedAt) {
      // Again at once while there is work; if another process took it, after a pause.
      return await deliverer.retryDue(100) > 0 ? lookedAt : lookedAt + idleMs;
    }
    return Math.min(next ?? Infinity, lookedAt + maxIdleMs);
  };
  while (!signal.aborted) {
    try {
      const parkings = deliverer.parkings;
      const wakeAt = await retry(round, {
        signal,
        backoff: { minMs: idleMs, maxMs: 30_000 },
        onRetry: (error, attempt, delay) =>
          log.error("Retrying parked deliveries failed: {error}; retry {attempt} in {delay} ms", {
            error: errorMessage(error),
            attempt,
            delay,
          }),
      });
      while (Date.now() < wakeAt && deliverer.parkings === parkings) {
        await sleep(Math.min(idleMs, wakeAt - Date.now()), signal);
      }
    } catch (error) {
      if (!isAbort(error, signal)) throw error;
    }
  }
}
