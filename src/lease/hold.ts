/**
 * Holding a lease: the coordinator's tick renews it (with every other lease of the
 * process) every third of its TTL, and this gives it up on our side before it can have
 * expired in Redis. A timer on the monotonic clock (`performance.now()`), not an
 * answer from Redis, decides: when no renewal has succeeded for `ttl - margin`, the
 * holding's signal aborts even if Redis hangs, so the community's poll stops while the
 * lease is still ours. {@linkcode HeldLease.check} applies the same rule synchronously,
 * for the moment a paused process resumes before its timers have run.
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { errorMessage } from "../errors.ts";
import { withTimeout } from "../util/time.ts";
import type { LeaseClient, OwnerToken } from "./lease.ts";
import { LOSS_REASONS } from "../status/families.ts";

const log = getLogger(["vk-event-router", "lease"]);

/** Why a holding ended without a graceful release. */
export type LossReason = typeof LOSS_REASONS[number];

/** Raised through the holding's signal when the lease is lost. */
export class LeaseLostError extends Error {
  readonly reason: LossReason;

  constructor(groupId: number, reason: LossReason, detail: string) {
    super(`Lost the lease of community ${groupId}: ${detail}`);
    this.name = "LeaseLostError";
    this.reason = reason;
  }
}

/** A lease this process holds. */
export interface HeldLease {
  readonly groupId: number;
  /** The fencing token of this holding. */
  readonly fence: number;
  /** Aborts (with a {@linkcode LeaseLostError}) when the lease is lost or may be about to be. */
  readonly signal: AbortSignal;
  /** Throws the loss when the lease is lost, or not renewed for too long (checked now). */
  check(): void;
  /** Records a loss found elsewhere (a fenced write refused, a tick that saw another owner). */
  lose(reason: LossReason, detail: string): void;
  /** Records a renewal that Redis confirmed, sent at `sentAt` (on `now`'s clock). */
  renewed(sentAt: number): void;
  /**
   * Stops watching; when the lease was not lost, releases it in Redis so that another
   * process takes over at once. Never throws: a failed release only means the others
   * wait for the TTL.
   */
  end(): Promise<void>;
}

/** Options for {@linkcode holdLease}. */
export interface HoldOptions {
  /** Releases the lease at the end. */
  client: Pick<LeaseClient, "release">;
  groupId: number;
  owner: OwnerToken;
  fence: number;
  ttlMs: number;
  /** When the acquisition was sent (on `now`'s clock): the TTL runs from no earlier. */
  acquiredAt: number;
  /** Told once when the lease is lost. */
  onLost?: (error: LeaseLostError) => void;
  /** @default performance.now */
  now?: () => number;
}

/** How long before the TTL runs out the holder gives up. */
export function safetyMarginMs(ttlMs: number): number {
  return ttlMs / 5;
}

/** How often a holder renews. */
export function renewEveryMs(ttlMs: number): number {
  return ttlMs / 3;
}

/** Starts watching an acquired lease (renewed by the coordinator's ticks). */
export function holdLease(options: HoldOptions): HeldLease {
  const { client, groupId, owner, fence, ttlMs } = options;
  const now = options.now ?? (() => performance.now());
  const limitMs = ttlMs - safetyMarginMs(ttlMs);
  const lost = new AbortController();
  let ended = false;
  let renewedAt = options.acquiredAt;
  let watchdog: ReturnType<typeof setTimeout> | undefined;

  const lose = (reason: LossReason, detail: string) => {
    if (lost.signal.aborted || ended) return;
    clearTimeout(watchdog);
    const error = new LeaseLostError(groupId, reason, detail);
    lost.abort(error);
    options.onLost?.(error);
  };
  const expire = () =>
    lose("expired", `not renewed for ${Math.round(now() - renewedAt)} ms (TTL ${ttlMs} ms)`);
  const arm = () => {
    clearTimeout(watchdog);
    watchdog = setTimeout(expire, Math.max(0, renewedAt + limitMs - now()));
  };
  const check = () => {
    if (!lost.signal.aborted && now() - renewedAt > limitMs) expire();
    if (lost.signal.aborted) throw lost.signal.reason;
  };

  arm();

  return {
    groupId,
    fence,
    signal: lost.signal,
    check,
    lose,
    renewed(sentAt) {
      if (lost.signal.aborted || sentAt <= renewedAt) return;
      renewedAt = sentAt;
      arm();
    },
    async end() {
      ended = true;
      clearTimeout(watchdog);
      if (lost.signal.aborted) return;
      try {
        await withTimeout(client.release(groupId, owner), ttlMs, "no answer");
      } catch (error) {
        log.warn(
          "Cannot release the lease of community {groupId}: {error}; another process takes over when it expires",
          { groupId, error: errorMessage(error) },
        );
      }
    },
  };
}
