/**
 * A sliding-window limiter: at most `perSecond` starts in any 1000 ms. VK counts
 * requests per second per token (20/s for a community token); staying under it on our
 * side is cheaper than meeting error 6.
 * @module
 */
import { type Clock, type Sleep, sleep } from "../util/time.ts";

/** Options for {@linkcode createRateLimiter}. */
export interface RateLimiterOptions {
  /** @default 20 */
  perSecond?: number;
  now?: Clock;
  sleep?: Sleep;
}

/** Waits for a slot before each request. */
export interface RateLimiter {
  acquire(signal?: AbortSignal): Promise<void>;
}

/** Creates a limiter; callers queue in order of `acquire`. */
export function createRateLimiter(options: RateLimiterOptions = {}): RateLimiter {
  const perSecond = options.perSecond ?? 20;
  const now = options.now ?? Date.now;
  const wait = options.sleep ?? sleep;
  const starts: number[] = [];
  let queue: Promise<void> = Promise.resolve();

  async function take(signal?: AbortSignal): Promise<void> {
    for (;;) {
      const t = now();
      while (starts.length > 0 && t - starts[0]! >= 1000) starts.shift();
      if (starts.length < perSecond) {
        starts.push(t);
        return;
      }
      await wait(starts[0]! + 1000 - t, signal);
    }
  }

  return {
    acquire(signal) {
      const turn = queue.then(() => take(signal));
      queue = turn.catch(() => {});
      return turn;
    },
  };
}
