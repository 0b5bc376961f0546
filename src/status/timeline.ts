/**
 * Traffic over time for the status page's charts: events by type, delivery latency and
 * errors, in two rings of fixed-width buckets, the last hour per minute and the last five
 * minutes per 10 s. All memory is allocated up front; recording is O(1) and overwrites the
 * oldest bucket, so nothing grows however long the service runs. It is fed as a
 * {@linkcode MetricsObserver}, so the stages only ever talk to `Metrics`.
 *
 * @example
 * ```ts
 * const timeline = new Timeline();
 * const metrics = new Metrics(timeline);
 * metrics.inc("vk_router_events_received_total", { event_type: "message_new" });
 * timeline.series().last_hour.events_by_type.message_new; // [0, 0, …, 1]
 * ```
 * @module
 */
import * as v from "valibot";
import type { Labels, MetricsObserver } from "./metrics.ts";

/** The histogram the deliverer observes (seconds), which the latency chart reads. */
export const DELIVERY_LATENCY = "vk_router_delivery_latency_seconds";

/** What the errors chart stacks, in order. */
export const ERROR_KINDS = ["delivery_failures", "rejected", "poll_faults"] as const;
/** One kind of error on the errors chart. */
export type ErrorKind = typeof ERROR_KINDS[number];

const EVENTS_RECEIVED = "vk_router_events_received_total";
const ERROR_COUNTERS: ReadonlyMap<string, ErrorKind> = new Map([
  ["vk_router_delivery_failures_total", "delivery_failures"],
  ["vk_router_events_rejected_total", "rejected"],
  ["vk_router_poll_faults_total", "poll_faults"],
  ["vk_router_history_lost_total", "poll_faults"],
]);

/** Event types kept apart; types beyond the first 15 are counted as {@linkcode OTHER_TYPE}. */
export const MAX_EVENT_TYPES = 16;
/** The name under which event types beyond {@linkcode MAX_EVENT_TYPES} are counted. */
export const OTHER_TYPE = "(other)";
const OTHER_INDEX = MAX_EVENT_TYPES - 1;

const STEPS_PER_DOUBLING = 4;
const DOUBLINGS = 17;
/**
 * Buckets of the per-bucket latency sketch: [0, 1) ms, then four per doubling (each about
 * 19 % wide) up to 2^17 ms (131 s), then one for everything slower.
 */
export const LATENCY_BUCKETS = 2 + STEPS_PER_DOUBLING * DOUBLINGS;

/** The latency sketch bucket of `ms`. */
export function latencyBucket(ms: number): number {
  if (!(ms >= 1)) return 0;
  return Math.min(LATENCY_BUCKETS - 1, 1 + Math.floor(STEPS_PER_DOUBLING * Math.log2(ms)));
}

/** The bounds [low, high) in ms of a latency sketch bucket; the last is open-ended. */
export function latencyBucketBounds(bucket: number): [number, number] {
  if (bucket <= 0) return [0, 1];
  if (bucket >= LATENCY_BUCKETS - 1) return [2 ** DOUBLINGS, Infinity];
  return [2 ** ((bucket - 1) / STEPS_PER_DOUBLING), 2 ** (bucket / STEPS_PER_DOUBLING)];
}

/**
 * The `q` quantile (0..1] of a latency sketch, interpolated within its bucket and never
 * above the slowest delivery seen; null when the sketch is empty.
 */
export function sketchQuantile(
  counts: ArrayLike<number>,
  q: number,
  maxMs: number,
): number | null {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i]!;
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil(q * total));
  let below = 0;
  for (let i = 0; i < counts.length; i++) {
    const n = counts[i]!;
    if (below + n >= rank) {
      const [low, high] = latencyBucketBounds(i);
      const top = Math.max(low, Math.min(high, maxMs));
      return low + (top - low) * ((rank - below - 0.5) / n);
    }
    below += n;
  }
  return maxMs;
}

/** One resolution of the timeline as the snapshot carries it (`/api/status`). */
export interface TimelineSeries {
  /** Seconds per bucket. */
  step_s: number;
  /** Start of each bucket (ms since epoch), oldest first; the last one is still filling. */
  starts: number[];
  /** Events received per bucket, by event type; only types seen in the window. */
  events_by_type: Record<string, number[]>;
  /** Deliveries confirmed at the first attempt per bucket: the latency's sample size. */
  deliveries: number[];
  /** Median latency from receiving an event to its confirmed delivery; null without any. */
  latency_p50_ms: (number | null)[];
  /** 99th percentile of the same. */
  latency_p99_ms: (number | null)[];
  /** The median over the whole window. */
  window_latency_p50_ms: number | null;
  /** The 99th percentile over the whole window. */
  window_latency_p99_ms: number | null;
  /** Delivery failures, rejected events and long-poll faults per bucket. */
  errors: Record<ErrorKind, number[]>;
}

/** Both resolutions. */
export interface TimelineSnapshot {
  /** 60 buckets of a minute. */
  last_hour: TimelineSeries;
  /** 30 buckets of 10 s. */
  last_5_minutes: TimelineSeries;
}

/** The two rings: bucket width and how many buckets each keeps. */
export const TIMELINE_RESOLUTIONS = {
  last_hour: { stepMs: 60_000, size: 60 },
  last_5_minutes: { stepMs: 10_000, size: 30 },
} as const;
/** One of the two rings. */
export type Resolution = keyof typeof TIMELINE_RESOLUTIONS;

/** One non-empty bucket in {@linkcode TimelineJSON}. */
export interface TimelineBucketJSON {
  /** ms since epoch. */
  start: number;
  events: Record<string, number>;
  errors: Partial<Record<ErrorKind, number>>;
  /** The latency sketch: deliveries by {@linkcode latencyBucket} index. */
  latency: Record<string, number>;
  latency_max_ms: number;
}

/** A timeline as plain JSON, e.g. to keep it in Redis. */
export interface TimelineJSON {
  version: 1;
  last_hour: TimelineBucketJSON[];
  last_5_minutes: TimelineBucketJSON[];
}

const Count = v.pipe(v.number(), v.integer(), v.minValue(0));
const BucketSchema = v.object({
  start: v.pipe(v.number(), v.finite()),
  events: v.record(v.pipe(v.string(), v.minLength(1), v.maxLength(100)), Count),
  errors: v.object({
    delivery_failures: v.optional(Count),
    rejected: v.optional(Count),
    poll_faults: v.optional(Count),
  }),
  latency: v.record(
    v.pipe(
      v.string(),
      v.regex(/^\d{1,3}$/),
      v.check((i) => Number(i) < LATENCY_BUCKETS, "unknown latency bucket"),
    ),
    Count,
  ),
  latency_max_ms: v.pipe(v.number(), v.finite(), v.minValue(0)),
});
const TimelineSchema = v.object({
  version: v.literal(1),
  last_hour: v.pipe(v.array(BucketSchema), v.maxLength(TIMELINE_RESOLUTIONS.last_hour.size * 2)),
  last_5_minutes: v.pipe(
    v.array(BucketSchema),
    v.maxLength(TIMELINE_RESOLUTIONS.last_5_minutes.size * 2),
  ),
});

/** A ring of `size` buckets of `stepMs`, each slot holding one bucket's counts. */
class Ring {
  /** The bucket number (time / stepMs) each slot holds; -1 when none yet. */
  readonly epochs: Float64Array;
  readonly events: Float64Array;
  readonly errors: Float64Array;
  readonly latency: Float64Array;
  readonly latencyMax: Float64Array;

  constructor(readonly stepMs: number, readonly size: number) {
    this.epochs = new Float64Array(size).fill(-1);
    this.events = new Float64Array(size * MAX_EVENT_TYPES);
    this.errors = new Float64Array(size * ERROR_KINDS.length);
    this.latency = new Float64Array(size * LATENCY_BUCKETS);
    this.latencyMax = new Float64Array(size);
  }

  get byteLength(): number {
    return this.epochs.byteLength + this.events.byteLength + this.errors.byteLength +
      this.latency.byteLength + this.latencyMax.byteLength;
  }

  /** The slot of the bucket holding `t`, reset if it held an older bucket; -1 if `t` is too old. */
  slotAt(t: number): number {
    const epoch = Math.floor(t / this.stepMs);
    const slot = ((epoch % this.size) + this.size) % this.size;
    const held = this.epochs[slot]!;
    if (held === epoch) return slot;
    if (held > epoch) return -1;
    this.epochs[slot] = epoch;
    this.events.fill(0, slot * MAX_EVENT_TYPES, (slot + 1) * MAX_EVENT_TYPES);
    this.errors.fill(0, slot * ERROR_KINDS.length, (slot + 1) * ERROR_KINDS.length);
    this.latency.fill(0, slot * LATENCY_BUCKETS, (slot + 1) * LATENCY_BUCKETS);
    this.latencyMax[slot] = 0;
    return slot;
  }

  /** The slots of the window ending with the bucket of `t`, oldest first; -1 for empty buckets. */
  window(t: number): { first: number; slots: number[] } {
    const last = Math.floor(t / this.stepMs);
    const first = last - this.size + 1;
    const slots: number[] = [];
    for (let epoch = first; epoch <= last; epoch++) {
      const slot = ((epoch % this.size) + this.size) % this.size;
      slots.push(this.epochs[slot] === epoch ? slot : -1);
    }
    return { first, slots };
  }

  latencyRow(slot: number): Float64Array {
    return this.latency.subarray(slot * LATENCY_BUCKETS, (slot + 1) * LATENCY_BUCKETS);
  }
}

/** Events, latency and errors over the last hour, fed by {@linkcode Metrics}. */
export class Timeline implements MetricsObserver {
  readonly #now: () => number;
  readonly #rings: Record<Resolution, Ring> = {
    last_hour: new Ring(TIMELINE_RESOLUTIONS.last_hour.stepMs, TIMELINE_RESOLUTIONS.last_hour.size),
    last_5_minutes: new Ring(
      TIMELINE_RESOLUTIONS.last_5_minutes.stepMs,
      TIMELINE_RESOLUTIONS.last_5_minutes.size,
    ),
  };
  /** Event type names by index, up to {@linkcode OTHER_INDEX}. */
  readonly #types: string[] = [];
  readonly #typeIndex = new Map<string, number>();

  /**
   * @param now The clock. The default is monotonic (the wall clock at start plus elapsed
   * time), so a clock step does not wipe or freeze the rings.
   */
  constructor(now: () => number = () => performance.timeOrigin + performance.now()) {
    this.#now = now;
  }

  /** Bytes held by the rings: fixed at construction. */
  get byteLength(): number {
    return this.#rings.last_hour.byteLength + this.#rings.last_5_minutes.byteLength;
  }

  /** Counts `count` events of `type` received now. */
  recordEvents(type: string, count = 1): void {
    const index = this.#indexOf(type);
    this.#add(this.#now(), (ring, slot) => ring.events[slot * MAX_EVENT_TYPES + index]! += count);
  }

  /** Counts `count` errors of `kind` now. */
  recordErrors(kind: ErrorKind, count = 1): void {
    const index = ERROR_KINDS.indexOf(kind);
    this.#add(
      this.#now(),
      (ring, slot) => ring.errors[slot * ERROR_KINDS.length + index]! += count,
    );
  }

  /** Adds `count` deliveries that each took `ms` from receipt to confirmation. */
  recordLatency(ms: number, count = 1): void {
    if (Number.isNaN(ms)) return;
    const bucket = latencyBucket(ms);
    this.#add(this.#now(), (ring, slot) => {
      ring.latency[slot * LATENCY_BUCKETS + bucket]! += count;
      ring.latencyMax[slot] = Math.max(ring.latencyMax[slot]!, ms);
    });
  }

  /** Takes events received, errors and delivery latency from the counters `Metrics` sees. */
  inc(name: string, labels: Labels, by: number): void {
    if (name === EVENTS_RECEIVED) return this.recordEvents(String(labels.event_type), by);
    const kind = ERROR_COUNTERS.get(name);
    // failed: 2 is routine (the long-poll key expires every few hours), not an error.
    if (kind && labels.kind !== "failed_2") this.recordErrors(kind, by);
  }

  /** Takes the delivery latency histogram's observations (seconds). */
  observe(name: string, _labels: Labels, value: number, count: number): void {
    if (name === DELIVERY_LATENCY) this.recordLatency(value * 1000, count);
  }

  /** Both resolutions as compact series ending with the bucket in progress. */
  series(): TimelineSnapshot {
    const t = this.#now();
    return {
      last_hour: this.#series(this.#rings.last_hour, t),
      last_5_minutes: this.#series(this.#rings.last_5_minutes, t),
    };
  }

  /** The non-empty buckets of both windows, by event type name. */
  toJSON(): TimelineJSON {
    const t = this.#now();
    const buckets = (ring: Ring): TimelineBucketJSON[] => {
      const { first, slots } = ring.window(t);
      return slots.flatMap((slot, i) => {
        if (slot < 0) return [];
        const events: Record<string, number> = {};
        for (let type = 0; type < MAX_EVENT_TYPES; type++) {
          const n = ring.events[slot * MAX_EVENT_TYPES + type]!;
          if (n > 0) events[this.#nameOf(type)] = n;
        }
        const errors: Partial<Record<ErrorKind, number>> = {};
        ERROR_KINDS.forEach((kind, k) => {
          const n = ring.errors[slot * ERROR_KINDS.length + k]!;
          if (n > 0) errors[kind] = n;
        });
        const latency: Record<string, number> = {};
        ring.latencyRow(slot).forEach((n, b) => {
          if (n > 0) latency[b] = n;
        });
        return [{
          start: (first + i) * ring.stepMs,
          events,
          errors,
          latency,
          latency_max_ms: ring.latencyMax[slot]!,
        }];
      });
    };
    return {
      version: 1,
      last_hour: buckets(this.#rings.last_hour),
      last_5_minutes: buckets(this.#rings.last_5_minutes),
    };
  }

  /**
   * The non-empty buckets, then forgets them all: the worker adds each request's part to
   * the timeline in Redis once (see `worker/shared_state.ts`).
   */
  drain(): TimelineJSON {
    const json = this.toJSON();
    // A slot whose epoch matches no bucket is zeroed when next written.
    for (const ring of Object.values(this.#rings)) ring.epochs.fill(-1);
    this.#types.length = 0;
    this.#typeIndex.clear();
    return json;
  }

  /**
   * Adds the counts of a serialised timeline (another instance's, or this one's from
   * before a restart) to this one; buckets older than the windows are left out.
   * @throws {TypeError} when `json` is not a {@linkcode TimelineJSON}; nothing is added then.
   */
  merge(json: unknown): this {
    const parsed = v.safeParse(TimelineSchema, json);
    if (!parsed.success) {
      const issue = parsed.issues[0];
      const path = issue.path?.map((p) => String(p.key)).join(".") ?? "(root)";
      throw new TypeError(`Cannot merge a timeline: ${path}: ${issue.message}`);
    }
    for (const resolution of Object.keys(TIMELINE_RESOLUTIONS) as Resolution[]) {
      const ring = this.#rings[resolution];
      for (const b of parsed.output[resolution]) {
        const slot = ring.slotAt(b.start);
        if (slot < 0) continue;
        for (const [type, n] of Object.entries(b.events)) {
          ring.events[slot * MAX_EVENT_TYPES + this.#indexOf(type)]! += n;
        }
        ERROR_KINDS.forEach((kind, k) =>
          ring.errors[slot * ERROR_KINDS.length + k]! += b.errors[kind] ?? 0
        );
        for (const [bucket, n] of Object.entries(b.latency)) {
          ring.latency[slot * LATENCY_BUCKETS + Number(bucket)]! += n;
        }
        ring.latencyMax[slot] = Math.max(ring.latencyMax[slot]!, b.latency_max_ms);
      }
    }
    return this;
  }

  /** A timeline holding a serialised one's counts. @throws {TypeError} as {@linkcode merge}. */
  static fromJSON(json: unknown, now?: () => number): Timeline {
    return new Timeline(now).merge(json);
  }

  #add(t: number, write: (ring: Ring, slot: number) => void): void {
    for (const ring of [this.#rings.last_hour, this.#rings.last_5_minutes]) {
      const slot = ring.slotAt(t);
      if (slot >= 0) write(ring, slot);
    }
  }

  #indexOf(type: string): number {
    const known = this.#typeIndex.get(type);
    if (known !== undefined) return known;
    if (type === OTHER_TYPE || this.#types.length >= OTHER_INDEX) return OTHER_INDEX;
    this.#types.push(type);
    this.#typeIndex.set(type, this.#types.length - 1);
    return this.#types.length - 1;
  }

  #nameOf(index: number): string {
    return index === OTHER_INDEX ? OTHER_TYPE : this.#types[index]!;
  }

  #series(ring: Ring, t: number): TimelineSeries {
    const { first, slots } = ring.window(t);
    const column = (data: Float64Array, width: number, offset: number) =>
      slots.map((slot) => slot < 0 ? 0 : data[slot * width + offset]!);
    const events_by_type: Record<string, number[]> = {};
    for (let type = 0; type < MAX_EVENT_TYPES; type++) {
      const values = column(ring.events, MAX_EVENT_TYPES, type);
      if (values.some((n) => n > 0)) events_by_type[this.#nameOf(type)] = values;
    }
    const errors = Object.fromEntries(
      ERROR_KINDS.map((kind, k) => [kind, column(ring.errors, ERROR_KINDS.length, k)]),
    ) as Record<ErrorKind, number[]>;
    const window = new Float64Array(LATENCY_BUCKETS);
    let windowMax = 0;
    const deliveries: number[] = [];
    const p50: (number | null)[] = [];
    const p99: (number | null)[] = [];
    for (const slot of slots) {
      if (slot < 0) {
        deliveries.push(0);
        p50.push(null);
        p99.push(null);
        continue;
      }
      const row = ring.latencyRow(slot);
      const max = ring.latencyMax[slot]!;
      deliveries.push(row.reduce((a, n) => a + n, 0));
      p50.push(round(sketchQuantile(row, 0.5, max)));
      p99.push(round(sketchQuantile(row, 0.99, max)));
      row.forEach((n, b) => window[b]! += n);
      windowMax = Math.max(windowMax, max);
    }
    return {
      step_s: ring.stepMs / 1000,
      starts: slots.map((_, i) => (first + i) * ring.stepMs),
      events_by_type,
      deliveries,
      latency_p50_ms: p50,
      latency_p99_ms: p99,
      window_latency_p50_ms: round(sketchQuantile(window, 0.5, windowMax)),
      window_latency_p99_ms: round(sketchQuantile(window, 0.99, windowMax)),
      errors,
    };
  }
}

/** Two decimals are plenty for a sketch ~19 % wide. */
function round(ms: number | null): number | null {
  return ms === null ? null : Math.round(ms * 100) / 100;
}
