/**
 * A sliding-window limiter: at most `perSecond` starts in any window (a little over a
 * second, so that network jitter cannot squeeze 21 requests into VK's second). VK counts
 * requests per second per token (20/s for a community token); staying under it on our
 * side is cheaper than meeting error 6. Callers wait in order of priority, then of
 * arrival: the calls that start a long poll go before enrichment, which goes before
 * background checks, so that a cold start with many communities polls first.
 * @module
 */
import { type Clock, type Sleep, sleep } from "../util/time.ts";

/** How urgent a VK call is; lower goes first. */
export const PRIORITY = {
  /** `groups.getLongPollServer`: a community waits for it to poll at all. */
  poll: 0,
  /** Names for events on their way out. */
  enrich: 1,
  /** Checks nobody waits for (the long-poll settings). */
  background: 2,
} as const;

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
  /** Resolves when the request may start; `priority` as in {@linkcode PRIORITY} (default enrich). */
  acquire(signal?: AbortSignal, priority?: number): Promise<void>;
}

interface Waiter {
  priority: number;
  signal: AbortSignal | undefined;
  resolve: () => void;
  reject: (reason: unknown) => void;
}

/**
 * A limiter that gives each slot, as it frees, to the most urgent waiter: `take` waits
 * for one slot and runs for one waiter at a time, so a call that arrives late but urgent
 * goes before those already waiting.
 */
export function prioritized(take: (signal?: AbortSignal) => Promise<void>): RateLimiter {
  const waiting: Waiter[] = [];
  let busy = false;
  const pump = async () => {
    if (busy) return;
    busy = true;
    while (waiting.length > 0) {
      let best = 0;
      for (let i = 1; i < waiting.length; i++) {
        if (waiting[i]!.priority < waiting[best]!.priority) best = i;
      }
      const [next] = waiting.splice(best, 1);
      try {
        await take(next!.signal);
        next!.resolve();
      } catch (error) {
        next!.reject(error);
      }
    }
    busy = false;
  };
  return {
    acquire(signal, priority = PRIORITY.enrich) {
      if (signal?.aborted) return Promise.reject(signal.reason);
      return new Promise<void>((resolve, reject) => {
        const waiter: Waiter = { priority, signal, resolve, reject };
        const abort = () => {
          const at = waiting.indexOf(waiter);
          if (at >= 0) waiting.splice(at, 1);
          reject(signal!.reason);
        };
        signal?.addEventListener("abort", abort, { once: true });
        waiter.resolve = () => (signal?.removeEventListener("abort", abort), resolve());
        waiter.reject = (reason) => (signal?.removeEventListener("abort", abort), reject(reason));
        waiting.push(waiter);
        pump();
      });
    },
  };
}

/** Creates a limiter of this process only. */
export function createRateLimiter(options: RateLimiterOptions = {}): RateLimiter {
  const perSecond = options.perSecond ?? 20;
  const windowMs = options.windowMs ?? 1050;
  const now = options.now ?? Date.now;
  const wait = options.sleep ?? sleep;
  const starts: number[] = [];

  return prioritized(async (signal) => {
    for (;;) {
      const t = now();
      while (starts.length > 0 && t - starts[0]! >= windowMs) starts.shift();
      if (starts.length < perSecond) {
        starts.push(t);
        return;
      }
      await wait(starts[0]! + windowMs - t, signal);
    }
  });
}
