/**
 * The one retry loop: try, and on failure wait a capped exponential backoff with jitter and
 * try again, until the work succeeds, the error is not worth retrying, the attempts run out
 * or the signal aborts. The long poll, the VK API client, ingestion and the retry worker all
 * use it, so a fix to backoff or abort handling lands everywhere at once.
 * @module
 */
import { type Backoff, backoffDelay, DEFAULT_BACKOFF, type Sleep, sleep } from "./time.ts";

/** Options for {@linkcode retry}. */
export interface RetryOptions {
  /** @default 0.5 s doubling up to 30 s */
  backoff?: Backoff;
  /** Aborting stops the waiting; the next attempt is not started. */
  signal?: AbortSignal;
  /** Attempts in all, the first included. @default Infinity */
  attempts?: number;
  /** Whether `error` is worth another attempt. @default every error */
  retryable?: (error: unknown) => boolean;
  /**
   * Told before each wait, e.g. to log or count the failure. `attempt` is the number of
   * the attempt that failed (1-based).
   */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  /**
   * Start the first attempt even when the signal has already aborted: the last batch of
   * a stopping service must still land. Later attempts never start after abort.
   */
  firstAttemptOnAbort?: boolean;
  sleep?: Sleep;
  random?: () => number;
}

/**
 * Runs `work` until it succeeds.
 * @throws the error of the last attempt when it is not retryable or attempts ran out,
 *   and the signal's reason when the signal aborts before success.
 */
export async function retry<T>(
  work: (attempt: number) => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const { signal } = options;
  const attempts = options.attempts ?? Infinity;
  const pause = options.sleep ?? sleep;
  for (let attempt = 1;; attempt++) {
    if (signal?.aborted && (attempt > 1 || !options.firstAttemptOnAbort)) throw signal.reason;
    try {
      return await work(attempt);
    } catch (error) {
      if (attempt >= attempts || !(options.retryable?.(error) ?? true)) throw error;
      if (signal?.aborted) throw signal.reason;
      const delay = backoffDelay(attempt, options.backoff ?? DEFAULT_BACKOFF, options.random);
      options.onRetry?.(error, attempt, delay);
      await pause(delay, signal);
    }
  }
}

/** Whether `error` is the reason of an aborted `signal` (a stop, not a failure). */
export function isAbort(error: unknown, signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true && error === signal.reason;
}
