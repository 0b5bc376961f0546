/**
 * Everything a worker request starts ends with it: each timeout set while the request
 * runs is a timer of its scope, cleared at the end, and any I/O still running then is
 * aborted. The router's graph is built once per isolate, so its clients find the current
 * request's scope through async context instead of being rebuilt per request.
 * @module
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { TimeoutSignal } from "../util/timeouts.ts";

const current = new AsyncLocalStorage<RequestScope>();

/** The lifetime of one request. */
export class RequestScope {
  readonly #controller = new AbortController();
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();

  /** Runs `work` inside a new scope, ended when `work` settles. */
  static run<T>(work: () => Promise<T>): Promise<T> {
    const scope = new RequestScope();
    return current.run(scope, work).finally(() => scope.end());
  }

  /**
   * A signal that aborts after `ms` or when the current request ends; outside any request
   * (never in the worker), a plain `AbortSignal.timeout`.
   */
  static readonly timeoutSignal: TimeoutSignal = (ms) =>
    current.getStore()?.timeoutSignal(ms) ?? AbortSignal.timeout(ms);

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
