/**
 * The state store in Redis, under `REDIS_PREFIX`, sharing the destinations' connection.
 * Parked deliveries are a sorted set by due time plus a hash of their bodies; dead
 * letters a list; login sessions keys that Redis expires itself (`SET … PX`). A checkpoint
 * written under a lease is fenced by its token.
 * @module
 */
import type { RedisClient } from "../redis/connection.ts";
import { redisKeys } from "../redis/keys.ts";
import { LuaScript, runScript, type ScriptCall, scriptsOn } from "../redis/scripts.ts";
import CHECKPOINT_SOURCE from "./checkpoint.lua" with { type: "text" };
import DUE_SOURCE from "./due.lua" with { type: "text" };
import FENCED_SET_SOURCE from "./fenced_set.lua" with { type: "text" };
import {
  type DeadLetter,
  FenceError,
  type ParkedDelivery,
  type StateStore,
} from "./state_store.ts";

/** Up to ARGV[2] ids due by ARGV[1] and their bodies, in one command. */
const DUE_SCRIPT = new LuaScript(DUE_SOURCE);

/** Writes a checkpoint; a script, so that the write can travel with a batch's pushes. */
const CHECKPOINT_SCRIPT = new LuaScript(CHECKPOINT_SOURCE);

/**
 * A write under a lease, fenced by the writer's token (`fenced_set.lua`): it fails with
 * `STALE_FENCE` once a newer holder took the lease, so that a refusal looks like a failed
 * write wherever the call travels (alone, or in a batch's round trip), never like a success.
 */
export const FENCED_SET_SCRIPT: LuaScript = new LuaScript(FENCED_SET_SOURCE);

/** Whether `error` is Redis refusing a write fenced by a stale token. */
export function isStaleFence(error: unknown): boolean {
  return error instanceof Error && error.message.includes("STALE_FENCE");
}

/** A failed checkpoint write; a {@linkcode FenceError} when a newer lease holder exists. */
function checkpointError(error: unknown, groupId: number, fence: number | undefined): unknown {
  if (!isStaleFence(error)) return error;
  return new FenceError(
    `Cannot write the checkpoint of community ${groupId}: fence ${fence} is stale, another process holds the lease`,
  );
}

/** A store over an open Redis client; closing it leaves the connection to its owner. */
export function createRedisStore(redis: RedisClient, prefix: string): StateStore {
  const keys = redisKeys(prefix);
  const { parkedDue: dueKey, parkedItems: itemsKey, deadLetters: deadKey } = keys;
  const close = () => Promise.resolve();
  /**
   * The one checkpoint write, alone or carried in a batch's round trip; with the fencing
   * token of the writer's lease it fails (STALE_FENCE) once a newer holder exists.
   */
  const checkpointWrite = (groupId: number, ts: string, fence?: number): ScriptCall => {
    const key = keys.checkpoint(groupId);
    return fence === undefined ? { script: CHECKPOINT_SCRIPT, keys: [key], args: [ts] } : {
      script: FENCED_SET_SCRIPT,
      keys: [key, keys.fence(groupId)],
      args: [ts, String(fence)],
    };
  };
  return {
    kind: "redis",
    async getCheckpoint(groupId) {
      return await redis.get(keys.checkpoint(groupId));
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
      await redis.set(keys.session(key), "1", { px: Math.max(1, Math.ceil(ttlMs)) });
    },
    async hasSession(key) {
      return await redis.exists(keys.session(key)) === 1;
    },
    async deleteSession(key) {
      await redis.del(keys.session(key));
    },
    async ping() {
      await redis.ping();
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
