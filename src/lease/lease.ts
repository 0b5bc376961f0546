/**
 * Leases in Redis: which process polls a community. A lease is a key holding its owner
 * with a TTL (`SET NX PX`), renewed by a script that checks the owner, and released (only
 * by its owner) on a graceful stop. Every acquisition takes a fencing token from a
 * per-community counter, so writes made under a lease can be refused once a newer holder
 * exists (the state store's fenced checkpoint write). Heartbeats tell how many replicas are alive
 * and how many leases each holds, so that leases can be spread among them.
 *
 * Keys, under `REDIS_PREFIX`: `lease:<group>` (the owner, with a TTL), `lease:<group>:fence`
 * (a hash: `token`, the last token issued, and `holder`, the owner that has not released
 * it yet, or empty), `instances` (heartbeats by instance id, scored by Redis time in ms)
 * and `instances:leases` (how many leases each holds).
 * Every script reads the time from Redis (`TIME`), so the replicas' clocks do not matter.
 * @module
 */
import type { RedisClient } from "../redis/connection.ts";
import { evalScript, LuaScript } from "../redis/scripts.ts";

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

/** The key holding a community's lease. */
export function leaseKey(prefix: string, groupId: number): string {
  return `${prefix}lease:${groupId}`;
}

/** The hash holding a community's fencing counter and last holder. */
export function fenceKey(prefix: string, groupId: number): string {
  return `${prefix}lease:${groupId}:fence`;
}

/**
 * KEYS[1] lease, KEYS[2] fence hash; ARGV[1] owner, ARGV[2] ttl ms, ARGV[3] an instance
 * id whose earlier process's lease may be taken at once ("" for none).
 * Answers `{1, token, previous holder or ""}` when acquired, `{0, current owner}` when not.
 */
const ACQUIRE_SCRIPT = new LuaScript(`
local current = redis.call('GET', KEYS[1])
if current then
  local mine = ARGV[3] ~= '' and current ~= ARGV[1]
    and string.sub(current, 1, #ARGV[3] + 1) == ARGV[3] .. '#'
  if not mine then return {0, current} end
end
local token = redis.call('HINCRBY', KEYS[2], 'token', 1)
local previous = redis.call('HGET', KEYS[2], 'holder') or ''
redis.call('HSET', KEYS[2], 'holder', ARGV[1])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {1, token, previous}
`);

/** KEYS[1] lease; ARGV[1] owner, ARGV[2] ttl ms. 1 when renewed, 0 when no longer the owner. */
const RENEW_SCRIPT = new LuaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`);

/** KEYS[1] lease, KEYS[2] fence hash; ARGV[1] owner. 1 when released, 0 when not the owner. */
const RELEASE_SCRIPT = new LuaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[2], 'holder', '')
  return 1
end
return 0
`);

/**
 * KEYS[1] the instances (by last heartbeat), KEYS[2] their lease counts; ARGV[1] instance
 * id, ARGV[2] age in ms after which an instance counts as gone, ARGV[3] how many leases it
 * holds. Records the heartbeat, forgets the gone, answers `{live instances, fewest leases
 * held by one of them}`.
 */
const HEARTBEAT_SCRIPT = new LuaScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for _, gone in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))) do
  redis.call('ZREM', KEYS[1], gone)
  redis.call('HDEL', KEYS[2], gone)
end
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
local fewest = tonumber(ARGV[3])
for _, n in ipairs(redis.call('HVALS', KEYS[2])) do fewest = math.min(fewest, tonumber(n)) end
return {redis.call('ZCARD', KEYS[1]), fewest}
`);

/** What a heartbeat learns about the replicas. */
export interface Replicas {
  /** Instances that sent a heartbeat lately, this one included. */
  live: number;
  /** The fewest leases one of them holds. */
  fewestLeases: number;
}

/** The outcome of an acquisition attempt. */
export type Acquisition =
  | {
    acquired: true;
    /** The fencing token of this holding: greater than every earlier one. */
    fence: number;
    /** The owner that held the lease before and did not release it (crashed, paused), or null. */
    previous: OwnerToken | null;
  }
  | { acquired: false; holder: OwnerToken };

/** The lease operations, over one Redis client. */
export interface LeaseClient {
  /**
   * Takes the lease of `groupId` when nobody holds it. `reclaimFrom`: an instance id
   * whose holding may be taken over at once (this replica's own previous life).
   */
  acquire(groupId: number, owner: OwnerToken, reclaimFrom?: string): Promise<Acquisition>;
  /** Extends the lease by the TTL; false when `owner` no longer holds it. */
  renew(groupId: number, owner: OwnerToken): Promise<boolean>;
  /** Gives the lease up at once; false when `owner` did not hold it. */
  release(groupId: number, owner: OwnerToken): Promise<boolean>;
  /** The current holder, or null. */
  holder(groupId: number): Promise<OwnerToken | null>;
  /** Records that `instanceId` is alive and holds `leases` leases; answers what the others do. */
  heartbeat(instanceId: string, maxAgeMs: number, leases: number): Promise<Replicas>;
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

/**
 * Creates the lease operations.
 *
 * @example
 * ```ts
 * const leases = createLeaseClient({ redis, prefix: "vk-router:", ttlMs: 10_000 });
 * const me = ownerToken("replica-1");
 * const got = await leases.acquire(218730916, me);
 * if (got.acquired) await leases.renew(218730916, me);
 * ```
 */
export function createLeaseClient(options: LeaseClientOptions): LeaseClient {
  const { redis, prefix } = options;
  const ttl = String(options.ttlMs);
  const keys = (groupId: number) => [leaseKey(prefix, groupId), fenceKey(prefix, groupId)];
  const instancesKey = `${prefix}instances`;
  const countsKey = `${prefix}instances:leases`;
  return {
    async acquire(groupId, owner, reclaimFrom = "") {
      const answer = await evalScript(redis, ACQUIRE_SCRIPT, keys(groupId), [
        owner,
        ttl,
        reclaimFrom,
      ]);
      const [acquired, a, b] = answer as [number, number | string, string];
      if (Number(acquired) !== 1) return { acquired: false, holder: String(a) };
      return { acquired: true, fence: Number(a), previous: b ? String(b) : null };
    },
    async renew(groupId, owner) {
      const renewed = await evalScript(redis, RENEW_SCRIPT, [leaseKey(prefix, groupId)], [
        owner,
        ttl,
      ]);
      return Number(renewed) === 1;
    },
    async release(groupId, owner) {
      return Number(await evalScript(redis, RELEASE_SCRIPT, keys(groupId), [owner])) === 1;
    },
    async holder(groupId) {
      const owner = await redis.get(leaseKey(prefix, groupId));
      return owner === null ? null : String(owner);
    },
    async heartbeat(instanceId, maxAgeMs, leases) {
      const [live, fewest] = await evalScript(redis, HEARTBEAT_SCRIPT, [instancesKey, countsKey], [
        instanceId,
        String(maxAgeMs),
        String(leases),
      ]) as [number, number];
      return { live: Number(live), fewestLeases: Number(fewest) };
    },
    async leave(instanceId) {
      const multi = redis.multi();
      multi.zrem(instancesKey, instanceId);
      multi.hdel(countsKey, instanceId);
      await multi.exec();
    },
  };
}
