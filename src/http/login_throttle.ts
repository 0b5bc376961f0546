/**
 * Failed tries of the status token per client address, whichever way it is presented (the
 * login form, `Authorization: Bearer`, a session cookie): after `limit` failures within a
 * window, that address may not try again until the window ends. Callers check and record
 * in one synchronous step after their last await (`auth.ts`), so that concurrent wrong
 * tries cannot all pass the check before the first failure is counted. Hand-written
 * because Hono has no rate limiter of its own; in memory, since one process serves the
 * page (a serverless worker's isolates each count their own).
 * @module
 */
import { getLogger } from "@logtape/logtape";

const log = getLogger(["vk-event-router", "http"]);

/** Options for {@linkcode createLoginThrottle}. */
export interface LoginThrottleOptions {
  /** Failures allowed per window. @default 5 */
  limit?: number;
  /** @default 60_000 */
  windowMs?: number;
  /** Addresses remembered at most; the oldest are forgotten first. @default 10_000 */
  maxTracked?: number;
  now?: () => number;
}

/** Counts failed tries per address. */
export interface LoginThrottle {
  /** Seconds until `address` may try again; 0 when it may now. */
  retryAfterS(address: string): number;
  /** Records a failed try. */
  failed(address: string): void;
  /** Forgets an address's failures after a successful login. */
  succeeded(address: string): void;
}

/** Creates a throttle. */
export function createLoginThrottle(options: LoginThrottleOptions = {}): LoginThrottle {
  const limit = options.limit ?? 5;
  const windowMs = options.windowMs ?? 60_000;
  const maxTracked = options.maxTracked ?? 10_000;
  const now = options.now ?? Date.now;
  /** Failures per address in the window that began at `since`; insertion order is age. */
  const failures = new Map<string, { since: number; count: number }>();
  const current = (address: string) => {
    const entry = failures.get(address);
    if (entry && now() - entry.since >= windowMs) {
      failures.delete(address);
      return undefined;
    }
    return entry;
  };
  return {
    retryAfterS(address) {
      const entry = current(address);
      if (!entry || entry.count < limit) return 0;
      return Math.max(1, Math.ceil((entry.since + windowMs - now()) / 1000));
    },
    failed(address) {
      const entry = current(address) ?? { since: now(), count: 0 };
      entry.count++;
      failures.delete(address);
      failures.set(address, entry);
      while (failures.size > maxTracked) failures.delete(failures.keys().next().value!);
      if (entry.count === limit) {
        log.warn(
          "Refusing status-page logins from {address} for {seconds} s: {count} failed tries (login form, bearer token or session cookie)",
          { address, seconds: Math.ceil((entry.since + windowMs - now()) / 1000), count: limit },
        );
      }
    },
    succeeded(address) {
      failures.delete(address);
    },
  };
}
