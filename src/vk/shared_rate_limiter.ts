/**
 * One VK rate limit per token across every replica: the request starts of a token are a
 * sorted set in Redis, and each request reserves its start time there in one script call
 * (one round trip per VK call): now, or the first moment at which the window before it
 * holds fewer than `perSecond` starts. The caller then waits until its reserved time.
 * Reservations only move forward, so every window of `windowMs` holds at most
 * `perSecond` starts, however many replicas share the token. Time comes from Redis, so the
 * replicas' clocks do not matter. A process reserves for one caller at a time, the most
 * urgent first, and a caller whose timer fired late (a busy event loop) reserves again
 * rather than start late: a late start could land in the same second as later ones.
 *
 * When Redis fails or is slow, the limiter fails open to the in-process `fallback` (each
 * replica then keeps to the limit on its own, so N replicas may reach N times it for the
 * outage, and VK's error 6 is retried): a Redis outage must not stop VK calls, and the
 * long polls of a replica that cannot reach Redis stop anyway when their leases lapse.
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { errorMessage } from "../errors.ts";
import type { RedisClient } from "../redis/connection.ts";
import { redisKeys } from "../redis/keys.ts";
import { evalScript, LuaScript } from "../redis/scripts.ts";
import { type Clock, type Sleep, sleep, withTimeout } from "../util/time.ts";
import { prioritized, type RateLimiter } from "./rate_limiter.ts";
import reserveSource from "./rate_reserve.lua" with { type: "text" };

const log = getLogger(["vk-event-router", "vk-api"]);

/**
 * KEYS[1] the token's starts; ARGV[1] per window, ARGV[2] window ms, ARGV[3] a unique
 * member. Reserves the earliest start that keeps the limit, no earlier than the last
 * reservation; answers how many ms from now it is.
 */
const RESERVE_SCRIPT = new LuaScript(reserveSource);

/** The Redis key of a token's limiter: a hash of the token, never the token itself. */
export async function rateLimitKey(prefix: string, token: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token));
  const hex = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
  return redisKeys(prefix).vkRate(hex.slice(0, 32));
}

/** Options for {@linkcode createSharedRateLimiter}. */
export interface SharedRateLimiterOptions {
  redis: RedisClient;
  /** The token's key, e.g. from {@linkcode rateLimitKey}. */
  key: string | Promise<string>;
  /** Used while Redis fails. */
  fallback: RateLimiter;
  /** @default 20 */
  perSecond?: number;
  /**
   * 1100: more slack than the in-process limiter's 1050 (`createRateLimiter`), since the
   * replicas' starts also drift by their event loops' stalls, which VK counts all together.
   * @default 1100
   */
  windowMs?: number;
  /** How long a reservation may take before the fallback decides. @default 500 */
  timeoutMs?: number;
  /** After a failure, how long the fallback decides before Redis is asked again. @default 5_000 */
  fallbackForMs?: number;
  /** How late past its reserved time a start may be before it reserves again. @default 25 */
  lateMs?: number;
  now?: Clock;
  sleep?: Sleep;
}

/** Creates a limiter shared through Redis by every process using the same key. */
export function createSharedRateLimiter(options: SharedRateLimiterOptions): RateLimiter {
  const { redis, fallback } = options;
  const limit = String(options.perSecond ?? 20);
  const windowMs = String(options.windowMs ?? 1100);
  const timeoutMs = options.timeoutMs ?? 500;
  const fallbackForMs = options.fallbackForMs ?? 5_000;
  const now = options.now ?? (() => performance.now());
  const wait = options.sleep ?? sleep;
  const lateMs = options.lateMs ?? 25;
  let redisAgainAt = -Infinity;

  /** The shortest round trip lately: what a reservation's answer takes when nothing stalls. */
  let minRttMs = Infinity;
  /** One reservation in Redis and the wait for it; false when it came too late to use. */
  const reserve = async (signal?: AbortSignal): Promise<boolean> => {
    const key = await options.key;
    const sentAt = now();
    const delayMs = Number(
      await withTimeout(
        evalScript(redis, RESERVE_SCRIPT, [key], [limit, windowMs, crypto.randomUUID()]),
        timeoutMs,
        "no rate-limit reservation",
      ),
    );
    // Creeps up, so that a network that got slower for good is learnt again.
    minRttMs = Math.min(now() - sentAt, minRttMs + 1);
    if (redisAgainAt !== -Infinity) log.info("The shared VK rate limit is back in Redis");
    redisAgainAt = -Infinity;
    if (delayMs > 0) await wait(delayMs, signal);
    // Late by a stall while the answer was on its way, or by a timer that fired late.
    return now() - sentAt - minRttMs - Math.max(0, delayMs) <= lateMs;
  };

  return prioritized(async (signal) => {
    // Late three times running, the process is too busy to do better: it starts anyway.
    for (let attempt = 0; attempt < 3; attempt++) {
      if (now() < redisAgainAt) return await fallback.acquire(signal);
      try {
        if (await reserve(signal)) return;
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        if (redisAgainAt === -Infinity) {
          log.warn(
            "Cannot reserve a VK request in Redis: {error}; keeping to the limit in this process only",
            { error: errorMessage(error) },
          );
        }
        redisAgainAt = now() + fallbackForMs;
        return await fallback.acquire(signal);
      }
    }
  });
}
