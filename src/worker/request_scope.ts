/**
 * Everything a worker request starts ends with it: each timeout it sets is a timer of
 * this scope, cleared at the end, and any I/O still running then is aborted.
 * @module
 */
import type { TimeoutSignal } from "../util/timeouts.ts";

/** The lifetime of one request. */
export class RequestScope {
  readonly #controller = new AbortController();
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();

  /** A signal that aborts after `ms`, or when the request ends. */
  readonly timeoutSignal: TimeoutSignal = (ms) => {
    const controller = new AbortController();
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      controller.abort(new DOMException(`No answer within ${ms} ms`, "TimeoutError"));
    }, ms);
    this.#timers.add(timer);
    return AbortSignal.any([controller.signal, this.#controller.signal]);
  };

  /** Clears every timer and aborts what is still running. */
  end(): void {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#controller.abort(new DOMException("The request ended", "AbortError"));
  }
}
