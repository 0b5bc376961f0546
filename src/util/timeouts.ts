/**
 * Where a request's deadline comes from. Long-running code uses `AbortSignal.timeout`;
 * the serverless worker passes signals tied to the request, whose timers end with it.
 * @module
 */

/** A signal that aborts after `ms` milliseconds. */
export type TimeoutSignal = (ms: number) => AbortSignal;

/** The default: `AbortSignal.timeout`. */
export function defaultTimeoutSignal(ms: number): AbortSignal {
  return AbortSignal.timeout(ms);
}

/** A deadline for one request, tied to a longer-lived signal; disposing of it frees both. */
export interface Deadline extends Disposable {
  readonly signal: AbortSignal;
  /** Whether the deadline (not the outer signal) aborted the request. */
  readonly expired: boolean;
}

/**
 * `AbortSignal.any([outer, AbortSignal.timeout(ms)])` without what those leave behind: the
 * timeout's timer lives until it fires even after the request is done, and `any` registers
 * a weak reference on `outer` per call. A loop that makes one request after another on one
 * long-lived signal (a long poll, per community) would hold several of each at any time.
 */
export function deadline(outer: AbortSignal, ms: number): Deadline {
  const controller = new AbortController();
  let expired = false;
  const onAbort = () => controller.abort(outer.reason);
  const timer = setTimeout(() => {
    expired = true;
    controller.abort(new DOMException("Signal timed out.", "TimeoutError"));
  }, ms);
  if (outer.aborted) onAbort();
  else outer.addEventListener("abort", onAbort, { once: true });
  return {
    signal: controller.signal,
    get expired() {
      return expired;
    },
    [Symbol.dispose]() {
      clearTimeout(timer);
      outer.removeEventListener("abort", onAbort);
    },
  };
}
