/**
 * A size-bounded LRU cache whose entries expire. Enrichment keeps names here so that a
 * busy chat costs VK one lookup per hour, not one per message.
 * @module
 */

/** Options for {@linkcode TtlCache}. */
export interface TtlCacheOptions {
  /** Entries kept at most; the least recently used go first. */
  maxEntries: number;
  now?: () => number;
}

/**
 * An LRU cache with a time-to-live per entry. A read moves its entry to the new end only
 * when it is not already among the newest quarter: a busy chat's name is read on every
 * batch, and a Map delete and insert for each read was the cache's whole cost. Such an
 * entry is at least three quarters of the cache away from eviction, so the order stays
 * that of the reads but for the newest quarter.
 */
export class TtlCache<K, V> {
  readonly #entries = new Map<K, { value: V; expires: number; at: number }>();
  readonly #max: number;
  readonly #slack: number;
  readonly #now: () => number;
  /** Entries placed at the new end so far: an entry's `at` says how far from it it is. */
  #placed = 0;

  constructor(options: TtlCacheOptions) {
    this.#max = options.maxEntries;
    this.#slack = Math.floor(options.maxEntries / 4);
    this.#now = options.now ?? Date.now;
  }

  /** Whether a fresh entry exists (without touching its recency). */
  has(key: K): boolean {
    const entry = this.#entries.get(key);
    return entry !== undefined && entry.expires > this.#now();
  }

  /** The fresh entry's value, or undefined (expired entries are dropped). */
  get(key: K): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expires <= this.#now()) {
      this.#entries.delete(key);
      return undefined;
    }
    if (this.#placed - entry.at > this.#slack) {
      this.#entries.delete(key);
      entry.at = ++this.#placed;
      this.#entries.set(key, entry);
    }
    return entry.value;
  }

  set(key: K, value: V, ttlMs: number): void {
    this.#entries.delete(key);
    this.#entries.set(key, { value, expires: this.#now() + ttlMs, at: ++this.#placed });
    while (this.#entries.size > this.#max) this.#entries.delete(this.#entries.keys().next().value!);
  }

  get size(): number {
    return this.#entries.size;
  }
}
