/**
 * The state store in Redis, under `REDIS_PREFIX`, sharing the destinations' connection.
 * Parked deliveries are a sorted set by due time plus a hash of their bodies; dead
 * letters a list. A checkpoint written under a lease is fenced by its token.
 * @module
 */
import { FENCED_SET_SCRIPT, fenceKey, isStaleFence } from "../lease/lease.ts";
import type { RedisClient } from "../redis/connection.ts";
import { runScript } from "../redis/script.ts";
import {
  type DeadLetter,
  FenceError,
  type ParkedDelivery,
  type StateStore,
} from "./state_store.ts";

/** A store over an open Redis client; closing it leaves the connection to its owner. */
export function createRedisStore(redis: RedisClient, prefix: string): StateStore {
  const dueKey = `${prefix}retry:due`;
  const itemsKey = `${prefix}retry:items`;
  const deadKey = `${prefix}dead`;
  const close = () => Promise.resolve();
  return {
    kind: "redis",
    async getCheckpoint(groupId) {
      return await redis.get<string>(`${prefix}checkpoint:${groupId}`);
    },
    async setCheckpoint(groupId, ts, fence) {
      const key = `${prefix}checkpoint:${groupId}`;
      if (fence === undefined) return void await redis.set(key, ts);
      try {
        await runScript(redis, FENCED_SET_SCRIPT, [key, fenceKey(prefix, groupId)], [
          ts,
          String(fence),
        ]);
      } catch (error) {
        if (!isStaleFence(error)) throw error;
        throw new FenceError(
          `Cannot write the checkpoint of community ${groupId}: fence ${fence} is stale, another process holds the lease`,
        );
      }
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
      const ids = await redis.zrange<string[]>(dueKey, 0, now, {
        byScore: true,
        offset: 0,
        count: limit,
      });
      if (ids.length === 0) return [];
      // Without automatic deserialization, HMGET answers Redis's plain array, in the order asked.
      const bodies = await redis.hmget(itemsKey, ...ids) as unknown as (string | null)[];
      return ids.flatMap((_, i) => {
        const body = bodies?.[i];
        return body ? [JSON.parse(body) as ParkedDelivery] : [];
      });
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
      const items = await redis.lpop<string[]>(deadKey, limit);
      return (items ?? []).map((s) => JSON.parse(s) as DeadLetter);
    },
    async deadLetterCount() {
      return await redis.llen(deadKey);
    },
    async ping() {
      await redis.ping();
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
