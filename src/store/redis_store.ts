/**
 * The state store in Redis, under `REDIS_PREFIX`, sharing the destinations' connection.
 * Parked deliveries are a sorted set by due time plus a hash of their bodies; dead
 * letters a list; login sessions keys that Redis expires itself (`SET … PX`). A checkpoint
 * written under a lease is fenced by its token.
 * @module
 */
import { FENCED_SET_SCRIPT, fenceKey, isStaleFence } from "../lease/lease.ts";
import type { RedisClient } from "../redis/connection.ts";
import { LuaScript, runScript, type ScriptCall, scriptsOn } from "../redis/scripts.ts";
import {
  type DeadLetter,
  FenceError,
  type ParkedDelivery,
  type StateStore,
} from "./state_store.ts";

/** The keys of parked deliveries: ids by due time (ms), and their bodies by id. */
export function parkedKeys(prefix: string): { due: string; items: string } {
  return { due: `${prefix}retry:due`, items: `${prefix}retry:items` };
}

/** Up to ARGV[2] ids due by ARGV[1] and their bodies, in one command. */
const DUE_SCRIPT = new LuaScript(
  `local ids = redis.call('ZRANGE', KEYS[1], '-inf', ARGV[1], 'BYSCORE', 'LIMIT', 0, ARGV[2])
if #ids == 0 then return {{}, {}} end
return {ids, redis.call('HMGET', KEYS[2], unpack(ids))}`,
);

/** Writes a checkpoint; a script, so that the write can travel with a batch's pushes. */
const CHECKPOINT_SCRIPT = new LuaScript("return redis.call('SET', KEYS[1], ARGV[1])");

/** A failed checkpoint write; a {@linkcode FenceError} when a newer lease holder exists. */
function checkpointError(error: unknown, groupId: number, fence: number | undefined): unknown {
  if (!isStaleFence(error)) return error;
  return new FenceError(
    `Cannot write the checkpoint of community ${groupId}: fence ${fence} is stale, another process holds the lease`,
  );
}

/** A store over an open Redis client; closing it leaves the connection to its owner. */
export function createRedisStore(redis: RedisClient, prefix: string): StateStore {
  const { due: dueKey, items: itemsKey } = parkedKeys(prefix);
  const deadKey = `${prefix}dead`;
  const sessionKey = (key: string) => `${prefix}session:${key}`;
  const close = () => Promise.resolve();
  /**
   * The one checkpoint write, alone or carried in a batch's round trip; with the fencing
   * token of the writer's lease it fails (STALE_FENCE) once a newer holder exists.
   */
  const checkpointWrite = (groupId: number, ts: string, fence?: number): ScriptCall => {
    const key = `${prefix}checkpoint:${groupId}`;
    return fence === undefined ? { script: CHECKPOINT_SCRIPT, keys: [key], args: [ts] } : {
      script: FENCED_SET_SCRIPT,
      keys: [key, fenceKey(prefix, groupId)],
      args: [ts, String(fence)],
    };
  };
  return {
    kind: "redis",
    async getCheckpoint(groupId) {
      return await redis.get(`${prefix}checkpoint:${groupId}`);
    },
    async setCheckpoint(groupId, ts, fence) {
      try {
        await runScript(redis, checkpointWrite(groupId, ts, fence));
      } catch (error) {
        throw checkpointError(error, groupId, fence);
      }
    },
    async carryCheckpoint(unit, groupId, ts, fence) {
      const result = await unit.channel(scriptsOn(redis)).add(checkpointWrite(groupId, ts, fence));
      if (!result.ok) throw checkpointError(new Error(result.error), groupId, fence);
    },
    async park(deliveries) {
      if (deliveries.length === 0) return;
      const multi = redis.multi();
      for (const d of deliveries) {
        multi.hset(itemsKey, { [d.id]: JSON.stringify(d) });
        multi.zadd(dueKey, { score: d.nextAttemptAt, member: d.id });
      }
      await multi.exec();
    },
    async due(now, limit) {
      const [ids, bodies] = await runScript(redis, {
        script: DUE_SCRIPT,
        keys: [dueKey, itemsKey],
        args: [String(now), String(limit)],
      }) as [string[], (string | null)[]];
      return ids.flatMap((_, i) => {
        const body = bodies[i];
        return body ? [JSON.parse(body) as ParkedDelivery] : [];
      });
    },
    async nextDueAt() {
      return await redis.lowestScore(dueKey);
    },
    async unpark(ids) {
      if (ids.length === 0) return;
      const multi = redis.multi();
      multi.zrem(dueKey, ...ids);
      multi.hdel(itemsKey, ...ids);
      await multi.exec();
    },
    async parkedCount() {
      return await redis.zcard(dueKey);
    },
    async addDeadLetters(letters) {
      if (letters.length === 0) return;
      await redis.rpush(deadKey, ...letters.map((l) => JSON.stringify(l)));
    },
    async takeDeadLetters(limit) {
      const items = await redis.lpop(deadKey, limit);
      return (items ?? []).map((s) => JSON.parse(s) as DeadLetter);
    },
    async deadLetterCount() {
      return await redis.llen(deadKey);
    },
    async putSession(key, ttlMs) {
      await redis.set(sessionKey(key), "1", { px: Math.max(1, Math.ceil(ttlMs)) });
    },
    async hasSession(key) {
      return await redis.exists(sessionKey(key)) === 1;
    },
    async deleteSession(key) {
      await redis.del(sessionKey(key));
    },
    async ping() {
      await redis.ping();
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
