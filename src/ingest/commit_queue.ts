/**
 * The ordered commit queue between the long poll and the pipeline. Batches are prepared
 * ahead (validated, enriched, routed) in whatever order their preparations finish, but they
 * leave the queue strictly in the order they arrived: a later batch is never delivered, nor
 * checkpointed, before an earlier one. Batches that are already prepared when their turn
 * comes leave together (group commit): one delivery round trip and one checkpoint for all.
 * @module
 */

interface Entry<B, P> {
  batch: B;
  /** What the batch counts against the queue's weight bound (its events). */
  weight: number;
  /** Null when there is nothing to prepare (an empty batch: only its ts matters). */
  prepared: Promise<P> | null;
  ready: boolean;
}

/** Batches taken together, in arrival order, with the prepared values of those that had any. */
export interface CommitGroup<B, P> {
  batches: B[];
  prepared: P[];
}

/** A bounded FIFO of batches being prepared; one producer, one consumer. */
export class CommitQueue<B, P> {
  readonly #entries: Entry<B, P>[] = [];
  readonly #capacity: number;
  readonly #maxGroup: number;
  readonly #maxWeight: number;
  #weight = 0;
  #closed = false;
  #wakeConsumer: (() => void) | null = null;
  #wakeProducer: (() => void) | null = null;

  /**
   * @param capacity batches queued at once; {@linkcode add} waits while the queue is full.
   * @param maxGroup most batches {@linkcode take} hands over at once.
   * @param maxWeight total weight (events) queued at once: {@linkcode add} also waits while
   *   it is reached, so many small batches may queue but few large ones.
   */
  constructor(capacity: number, maxGroup: number, maxWeight = Infinity) {
    this.#capacity = capacity;
    this.#maxGroup = maxGroup;
    this.#maxWeight = maxWeight;
  }

  /** Batches queued and not yet taken. */
  get size(): number {
    return this.#entries.length;
  }

  /** True after {@linkcode close}: nothing more is added. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Queues a batch whose preparation has started; resolves once there is room for the
   * next (backpressure on the producer) or the queue was closed.
   */
  async add(batch: B, prepared: Promise<P> | null, weight = 1): Promise<void> {
    if (this.#closed) throw new Error("Cannot add a batch to a closed commit queue");
    const entry: Entry<B, P> = { batch, weight, prepared, ready: prepared === null };
    this.#weight += weight;
    // Settled either way: a failed preparation is reported by take(), in its turn.
    prepared?.then(() => entry.ready = true, () => entry.ready = true);
    this.#entries.push(entry);
    this.#wake("consumer");
    while (
      (this.#entries.length >= this.#capacity || this.#weight >= this.#maxWeight) &&
      !this.#closed
    ) {
      await new Promise<void>((resolve) => this.#wakeProducer = resolve);
    }
  }

  /**
   * The next group: the oldest batch, plus the batches right behind it whose preparation
   * has already finished. Waits for the oldest batch's preparation. Null once the queue is
   * closed and empty.
   * @throws the error of a failed preparation in the group.
   */
  async take(): Promise<CommitGroup<B, P> | null> {
    while (this.#entries.length === 0) {
      if (this.#closed) return null;
      await new Promise<void>((resolve) => this.#wakeConsumer = resolve);
    }
    const group = [this.#entries.shift()!];
    while (
      this.#entries.length > 0 && this.#entries[0]!.ready && group.length < this.#maxGroup
    ) {
      group.push(this.#entries.shift()!);
    }
    for (const entry of group) this.#weight -= entry.weight;
    this.#wake("producer");
    const prepared: P[] = [];
    for (const entry of group) if (entry.prepared) prepared.push(await entry.prepared);
    return { batches: group.map((e) => e.batch), prepared };
  }

  /** Ends the queue: `take` drains what is queued and then answers null; `add` stops waiting. */
  close(): void {
    this.#closed = true;
    this.#wake("consumer");
    this.#wake("producer");
  }

  #wake(who: "consumer" | "producer"): void {
    const wake = who === "consumer" ? this.#wakeConsumer : this.#wakeProducer;
    if (who === "consumer") this.#wakeConsumer = null;
    else this.#wakeProducer = null;
    wake?.();
  }
}
