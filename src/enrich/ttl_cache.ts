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

/** An LRU cache with a time-to-live per entry. */
export class TtlCache<K, V> {
  readonly #entries = new Map<K, { value: V; expires: number }>();
  readonly #max: number;
  readonly #now: () => number;

  constructor(options: TtlCacheOptions) {
    this.#max = options.maxEntries;
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
    this.#entries.delete(key);
    if (entry.expires <= this.#now()) return undefined;
    this.#entries.set(key, entry);
    return entry.value;
  }

  set(key: K, value: V, ttlMs: number): void {
    this.#entries.delete(key);
    this.#entries.set(key, { value, expires: this.#now() + ttlMs });
    while (this.#entries.size > this.#max) this.#entries.delete(this.#entries.keys().next().value!);
  }

  get size(): number {
    return this.#entries.size;
  }
}
