/**
 * One commit's round trip, shared by everyone taking part in it, as a pipelined client
 * shares one request: each participant adds its calls to the unit's channel of a transport
 * and awaits its own results; whoever owns the commit sends the unit once, one request per
 * transport. No participant sees another's calls or results, and no stage between the
 * participants needs to know what travels: the ingestion adds the checkpoint, the Redis
 * sinks their appends, the worker its shared counters, and the pipeline only passes the
 * unit on.
 * @module
 */

/** Sends calls of one kind in one request; one result per call, in order; never throws. */
export interface Transport<C, R> {
  send(calls: readonly C[]): Promise<R[]>;
}

/** A participant's view of one transport in a unit. */
export interface Channel<C, R> {
  /**
   * Adds a call; resolves with its result once the unit is sent. A function builds the
   * call just before sending: a participant that reports what the others answered (the
   * worker's counters) adds it that way, and the unit then waits for the others first
   * ({@linkcode UnitOfWork.late}).
   */
  add(call: C | (() => C)): Promise<R>;
}

interface Pending<C, R> {
  call: C | (() => C);
  resolve(result: R): void;
  reject(error: unknown): void;
}

/** The calls of one commit, by transport. */
export class UnitOfWork {
  // deno-lint-ignore no-explicit-any -- each transport meets only its own calls
  readonly #channels = new Map<Transport<any, any>, Pending<any, any>[]>();
  #late = false;
  #done = false;

  /** The unit's channel of `transport`; the same transport always gets the same channel. */
  channel<C, R>(transport: Transport<C, R>): Channel<C, R> {
    return {
      add: (call) => {
        if (this.#done) return Promise.reject(new Error("This unit of work was already sent"));
        if (typeof call === "function") this.#late = true;
        let pending = this.#channels.get(transport);
        if (!pending) this.#channels.set(transport, pending = []);
        const queue = pending;
        const result = new Promise<R>((resolve, reject) => queue.push({ call, resolve, reject }));
        // A participant that stopped waiting (its commit failed first) leaves no unhandled
        // rejection behind; one that awaits still sees it.
        result.catch(() => {});
        return result;
      },
    };
  }

  /** Whether a participant builds its call at sending time: send after the others answered. */
  get late(): boolean {
    return this.#late;
  }

  /** Sends every transport's calls, one request each, and settles each participant's promise. */
  async send(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    await Promise.all([...this.#channels].map(async ([transport, pending]) => {
      let calls;
      try {
        calls = pending.map((p) => typeof p.call === "function" ? p.call() : p.call);
      } catch (error) {
        for (const p of pending) p.reject(error);
        return;
      }
      const results = await transport.send(calls);
      pending.forEach((p, i) => p.resolve(results[i]));
    }));
  }

  /** Gives up what was not sent: its participants' promises reject with `reason`. */
  cancel(reason: unknown): void {
    if (this.#done) return;
    this.#done = true;
    for (const pending of this.#channels.values()) for (const p of pending) p.reject(reason);
  }

  /** Runs `work` in a unit of its own and sends it: a participant on its own. */
  static async alone<T>(work: (unit: UnitOfWork) => Promise<T>): Promise<T> {
    const unit = new UnitOfWork();
    const result = work(unit);
    result.catch(() => {}); // awaited below, once the unit is sent
    await unit.send();
    return await result;
  }
}
