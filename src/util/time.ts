/**
 * Time as an injectable dependency, so tests run on deterministic clocks and short delays.
 * @module
 */

/** Waits `ms` milliseconds; rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** A `sleep` with the shape of {@linkcode sleep}; tests pass a faster one. */
export type Sleep = typeof sleep;

/** Milliseconds since the epoch; tests pass a fixed clock. */
export type Clock = () => number;

/** Capped exponential backoff with jitter, the delay before retry number `attempt` (1-based). */
export interface Backoff {
  /** @default 500 */
  minMs: number;
  /** @default 30_000 */
  maxMs: number;
}

/** The default backoff for network and server faults: 0.5 s doubling up to 30 s. */
export const DEFAULT_BACKOFF: Backoff = { minMs: 500, maxMs: 30_000 };

/**
 * Delay before retry `attempt` (1, 2, ...): `min * 2^(attempt-1)` capped at `max`, then
 * "equal jitter" (half fixed, half random) so that many routers do not retry in step.
 */
export function backoffDelay(
  attempt: number,
  backoff: Backoff = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number {
  const exp = Math.min(backoff.maxMs, backoff.minMs * 2 ** Math.min(30, Math.max(0, attempt - 1)));
  return Math.round(exp / 2 + (exp / 2) * random());
}

/**
 * Settles like `promise`, or rejects with a "no answer within" error after `ms`. The timer
 * is cleared either way, so nothing outlives the call (the worker counts its timers).
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, what = "no answer"): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
