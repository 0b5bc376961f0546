/**
 * Leases in Redis: which process polls a community. A lease is a key holding its owner
 * with a TTL, and released (only by its owner) on a graceful stop. Every acquisition takes
 * a fencing token from a per-community counter, so writes made under a lease can be
 * refused once a newer holder exists (the state store's fenced checkpoint write). A replica's
 * whole lease work is one script per renewal period (`tick.lua`): its heartbeat, the
 * renewal of every lease it holds, the acquisitions it wants, and every community's
 * holder, so its Redis cost does not grow with the number of communities.
 *
 * Keys, under `REDIS_PREFIX`: `lease:<group>` (the owner, with a TTL), `lease:<group>:fence`
 * (a hash: `token`, the last token issued, and `holder`, the owner that has not released
 * it yet, or empty), `instances` (heartbeats by instance id, scored by Redis time in ms)
 * and `instances:joined` (when each live instance joined).
 * Every script reads the time from Redis (`TIME`), so the replicas' clocks do not matter.
 * @module
 */
import type { RedisClient } from "../redis/connection.ts";
import { redisKeys } from "../redis/keys.ts";
import { evalScript, LuaScript } from "../redis/scripts.ts";
import releaseSource from "./release.lua" with { type: "text" };
import tickSource from "./tick.lua" with { type: "text" };

/** An owner token: the instance id, `#`, and a per-process nonce (instance ids hold no `#`). */
export type OwnerToken = string;

/** Makes this process's owner token. */
export function ownerToken(instanceId: string): OwnerToken {
  return `${instanceId}#${crypto.randomUUID().slice(0, 8)}`;
}

/** The instance id part of an owner token, for the status page. */
export function instanceOf(owner: OwnerToken): string {
  const at = owner.lastIndexOf("#");
  return at < 0 ? owner : owner.slice(0, at);
}

/** The batched heartbeat, renewal, acquisition and read of a replica (see the file). */
const TICK_SCRIPT = new LuaScript(tickSource);

/** KEYS[1] lease, KEYS[2] fence hash; ARGV[1] owner. 1 when released, 0 when not the owner. */
const RELEASE_SCRIPT = new LuaScript(releaseSource);

/** A live replica, as the last tick saw it. */
export interface Replica {
  instanceId: string;
  /** When its current stay began (its first heartbeat since it was last gone), Redis ms. */
  joinedAt: number;
}

/** What a tick does with one community's lease. */
export type TickAction = "renew" | "acquire" | "reclaim" | "read";

/** One community's lease after a tick. */
export interface LeaseState {
  /** The owner now (after the action), or null when free. */
  holder: OwnerToken | null;
  /** When this tick acquired the lease: its fencing token, greater than every earlier one. */
  fence: number | null;
  /** When acquired: the owner that held it before and did not release it, or null. */
  previous: OwnerToken | null;
}

/** What one tick learned. */
export interface Tick {
  /** Redis's clock, ms. */
  now: number;
  /** The live replicas (this one included), by instance id. */
  replicas: Replica[];
  /** Per community asked, in the order asked. */
  leases: LeaseState[];
}

/** The lease operations, over one Redis client. */
export interface LeaseClient {
  /**
   * One round trip: records the heartbeat of `instanceId`, forgets replicas silent for a
   * TTL, then per community renews (when `owner` holds it), acquires (when free; `reclaim`
   * also from an earlier process of this instance id) or only reads its lease.
   */
  tick(
    instanceId: string,
    owner: OwnerToken,
    communities: readonly (readonly [groupId: number, action: TickAction])[],
  ): Promise<Tick>;
  /** Gives the lease up at once; false when `owner` did not hold it. */
  release(groupId: number, owner: OwnerToken): Promise<boolean>;
  /** Removes `instanceId` from the live instances (a graceful stop). */
  leave(instanceId: string): Promise<void>;
}

/** Options for {@linkcode createLeaseClient}. */
export interface LeaseClientOptions {
  redis: RedisClient;
  /** `REDIS_PREFIX`. */
  prefix: string;
  ttlMs: number;
}

const ACTION_CODES: Record<TickAction, string> = {
  renew: "r",
  acquire: "a",
  reclaim: "A",
  read: "-",
};

/**
 * Creates the lease operations.
 *
 * @example
 * ```ts
 * const leases = createLeaseClient({ redis, prefix: "vk-router:", ttlMs: 10_000 });
 * const me = ownerToken("replica-1");
 * const tick = await leases.tick("replica-1", me, [[218730916, "acquire"]]);
 * if (tick.leases[0]!.fence !== null) await leases.tick("replica-1", me, [[218730916, "renew"]]);
 * ```
 */
export function createLeaseClient(options: LeaseClientOptions): LeaseClient {
  const { redis, prefix } = options;
  const ttl = String(options.ttlMs);
  const names = redisKeys(prefix);
  const keys = (groupId: number) => [names.lease(groupId), names.fence(groupId)];
  const { instances, instancesJoined: joined } = names;
  return {
    async tick(instanceId, owner, communities) {
      const answer = await evalScript(
        redis,
        TICK_SCRIPT,
        [instances, joined, ...communities.flatMap(([g]) => keys(g))],
        [instanceId, owner, ttl, communities.map(([, a]) => ACTION_CODES[a]).join("")],
      ) as [number, (string | number)[], (string | number)[]];
      const [now, live, out] = answer;
      const replicas: Replica[] = [];
      for (let i = 0; i < live.length; i += 2) {
        replicas.push({ instanceId: String(live[i]), joinedAt: Number(live[i + 1]) });
      }
      const leases: LeaseState[] = communities.map((_, i) => {
        const [holder, fence, previous] = [out[3 * i], Number(out[3 * i + 1]), out[3 * i + 2]];
        return {
          holder: holder ? String(holder) : null,
          fence: fence > 0 ? fence : null,
          previous: fence > 0 && previous ? String(previous) : null,
        };
      });
      return { now: Number(now), replicas, leases };
    },
    async release(groupId, owner) {
      return Number(await evalScript(redis, RELEASE_SCRIPT, keys(groupId), [owner])) === 1;
    },
    async leave(instanceId) {
      const multi = redis.multi();
      multi.zrem(instances, instanceId);
      multi.hdel(joined, instanceId);
      await multi.exec();
    },
  };
}
