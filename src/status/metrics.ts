/**
 * In-process counters, gauges and histograms with labels: the one source for the status
 * page, `/api/status` and `/metrics`. Stages increment; nothing here does I/O.
 * @module
 */

/** Label values of one series, e.g. `{ destination: "buttons" }`. */
export type Labels = Readonly<Record<string, string | number>>;

/** One series: a metric name, its labels and value. */
export interface Sample {
  name: string;
  labels: Labels;
  value: number;
}

/**
 * Told of every counter increment and histogram observation, e.g. the status page's
 * timeline, which keeps them per minute. Called synchronously: keep it O(1).
 */
export interface MetricsObserver {
  inc(name: string, labels: Labels, by: number): void;
  /** `count` observations of the same `value` (a batch's events delivered together). */
  observe(name: string, labels: Labels, value: number, count: number): void;
}

/**
 * Upper bounds of every histogram's buckets, in seconds: the Prometheus clients' defaults
 * from 1 ms, widened to a minute for slow webhooks.
 */
export const HISTOGRAM_BUCKETS_S: readonly number[] = [
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
];

/**
 * The longest label value kept: values past it are cut. Label values name things the
 * configuration names (destinations) or small fixed sets (types), so only hostile input
 * reaches this, and each series' memory (and `/metrics`) stays bounded whatever it sends.
 */
export const MAX_LABEL_VALUE_CHARS = 64;

/** `labels` with every value cut to {@linkcode MAX_LABEL_VALUE_CHARS}; the same object when none is longer. */
export function boundedLabels(labels: Labels): Labels {
  let bounded: Record<string, string | number> | null = null;
  for (const k in labels) {
    const value = labels[k]!;
    if (typeof value === "string" && value.length > MAX_LABEL_VALUE_CHARS) {
      bounded ??= { ...labels };
      bounded[k] = value.slice(0, MAX_LABEL_VALUE_CHARS);
    }
  }
  return bounded ?? labels;
}

interface Histogram {
  name: string;
  labels: Labels;
  /** Per bucket of {@linkcode HISTOGRAM_BUCKETS_S}, then the +Inf bucket; not cumulative. */
  counts: number[];
  sum: number;
  count: number;
}

/** Counters, gauges and histograms by name and labels. */
export class Metrics {
  readonly #values = new Map<string, Sample>();
  readonly #histograms = new Map<string, Histogram>();
  readonly #observer: MetricsObserver | null;

  constructor(observer?: MetricsObserver) {
    this.#observer = observer ?? null;
  }

  /** Adds `by` (default 1) to a counter. */
  inc(name: string, unbounded: Labels = {}, by = 1): void {
    const labels = boundedLabels(unbounded);
    const sample = this.#sample(name, labels);
    sample.value += by;
    this.#observer?.inc(name, labels, by);
  }

  /**
   * Adds an observation (in seconds, by Prometheus convention) to a histogram, `count`
   * times: a batch's deliveries that share a latency are recorded in one call.
   */
  observe(name: string, unbounded: Labels, value: number, count = 1): void {
    if (!Number.isFinite(value)) return;
    const labels = boundedLabels(unbounded);
    const k = key(name, labels);
    let h = this.#histograms.get(k);
    if (!h) {
      h = {
        name,
        labels: { ...labels },
        counts: new Array(HISTOGRAM_BUCKETS_S.length + 1).fill(0),
        sum: 0,
        count: 0,
      };
      this.#histograms.set(k, h);
    }
    const i = HISTOGRAM_BUCKETS_S.findIndex((bound) => value <= bound);
    h.counts[i === -1 ? HISTOGRAM_BUCKETS_S.length : i]! += count;
    h.sum += value * count;
    h.count += count;
    this.#observer?.observe(name, labels, value, count);
  }

  /** Sets a gauge. */
  set(name: string, labels: Labels, value: number): void {
    this.#sample(name, boundedLabels(labels)).value = value;
  }

  /** The value of one series (0 when never touched). */
  get(name: string, labels: Labels = {}): number {
    return this.#values.get(key(name, labels))?.value ?? 0;
  }

  /** Sum of a metric over all its label sets, or those matching `filter`. */
  sum(name: string, filter: Labels = {}): number {
    let total = 0;
    for (const s of this.#values.values()) {
      if (s.name === name && Object.entries(filter).every(([k, v]) => s.labels[k] === v)) {
        total += s.value;
      }
    }
    return total;
  }

  /** Every series, then forgets them all: the worker adds each request's counts to Redis once. */
  drain(): Sample[] {
    const samples = this.samples();
    this.#values.clear();
    return samples;
  }

  /** Every series, sorted by name then labels. */
  samples(): Sample[] {
    return [...this.#values.values()].sort(bySeries);
  }

  /**
   * Every histogram as Prometheus series: cumulative `<name>_bucket` (with `le`), then
   * `<name>_sum` and `<name>_count`. Apart from {@linkcode samples}, whose counters the
   * worker adds up in Redis with integer increments.
   */
  histogramSamples(): Sample[] {
    const histograms = [...this.#histograms.values()].sort(bySeries);
    const out: Sample[] = [];
    for (const [name, family] of Map.groupBy(histograms, (h) => h.name)) {
      for (const h of family) {
        let cumulative = 0;
        h.counts.forEach((n, i) => {
          cumulative += n;
          const le = i < HISTOGRAM_BUCKETS_S.length ? String(HISTOGRAM_BUCKETS_S[i]) : "+Inf";
          out.push({ name: `${name}_bucket`, labels: { ...h.labels, le }, value: cumulative });
        });
      }
      for (const h of family) out.push({ name: `${name}_sum`, labels: h.labels, value: h.sum });
      for (const h of family) out.push({ name: `${name}_count`, labels: h.labels, value: h.count });
    }
    return out;
  }

  #sample(name: string, labels: Labels): Sample {
    const k = key(name, labels);
    let sample = this.#values.get(k);
    if (!sample) {
      sample = { name, labels: { ...labels }, value: 0 };
      this.#values.set(k, sample);
    }
    return sample;
  }
}

/** Orders series by name, then labels. */
function bySeries(
  a: { name: string; labels: Labels },
  b: { name: string; labels: Labels },
): number {
  return a.name === b.name
    ? key("", a.labels).localeCompare(key("", b.labels))
    : a.name.localeCompare(b.name);
}

/** `name{k=v,...}` with the labels in name order; built on every increment, so kept lean. */
function key(name: string, labels: Labels): string {
  const names = Object.keys(labels);
  if (names.length > 1) names.sort();
  let k = `${name}{`;
  for (let i = 0; i < names.length; i++) k += `${i > 0 ? "," : ""}${names[i]}=${labels[names[i]!]}`;
  return `${k}}`;
}
