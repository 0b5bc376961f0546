/**
 * A sliding-window limiter: at most `perSecond` starts in any window (a little over a
 * second, so that network jitter cannot squeeze 21 requests into VK's second). VK counts
 * requests per second per token (20/s for a community token); staying under it on our
 * side is cheaper than meeting error 6.
 * @module
 */
import { type Clock, type Sleep, sleep } from "../util/time.ts";

/** Options for {@linkcode createRateLimiter}. */
export interface RateLimiterOptions {
  /** @default 20 */
  perSecond?: number;
  /** The window `perSecond` applies to. @default 1050 */
  windowMs?: number;
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
  const windowMs = options.windowMs ?? 1050;
  const now = options.now ?? Date.now;
  const wait = options.sleep ?? sleep;
  const starts: number[] = [];
  let queue: Promise<void> = Promise.resolve();

  async function take(signal?: AbortSignal): Promise<void> {
    for (;;) {
      const t = now();
      while (starts.length > 0 && t - starts[0]! >= windowMs) starts.shift();
      if (starts.length < perSecond) {
        starts.push(t);
        return;
      }
      await wait(starts[0]! + windowMs - t, signal);
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
