/**
 * In-process counters and gauges with labels: the one source for the status page,
 * `/api/status` and `/metrics`. Stages increment; nothing here does I/O.
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

/** Counters and gauges by name and labels. */
export class Metrics {
  readonly #values = new Map<string, Sample>();

  /** Adds `by` (default 1) to a counter. */
  inc(name: string, labels: Labels = {}, by = 1): void {
    const sample = this.#sample(name, labels);
    sample.value += by;
  }

  /** Sets a gauge. */
  set(name: string, labels: Labels, value: number): void {
    this.#sample(name, labels).value = value;
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
    return [...this.#values.values()].sort((a, b) =>
      a.name === b.name
        ? key("", a.labels).localeCompare(key("", b.labels))
        : a.name.localeCompare(b.name)
    );
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

function key(name: string, labels: Labels): string {
  return `${name}{${Object.keys(labels).sort().map((k) => `${k}=${labels[k]}`).join(",")}}`;
}
