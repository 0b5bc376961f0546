/**
 * The state store in Redis, under `REDIS_PREFIX`, sharing the destinations' connection.
 * Parked deliveries are a sorted set by due time plus a hash of their bodies; dead
 * letters a list; login sessions keys that Redis expires itself (`SET … PX`).
 * @module
 */
import type { RedisClient } from "../redis/connection.ts";
import type { DeadLetter, ParkedDelivery, StateStore } from "./state_store.ts";

/** A store over an open Redis client; closing it leaves the connection to its owner. */
export function createRedisStore(redis: RedisClient, prefix: string): StateStore {
  const dueKey = `${prefix}retry:due`;
  const itemsKey = `${prefix}retry:items`;
  const deadKey = `${prefix}dead`;
  const sessionKey = (key: string) => `${prefix}session:${key}`;
  const close = () => Promise.resolve();
  return {
    kind: "redis",
    async getCheckpoint(groupId) {
      return await redis.get(`${prefix}checkpoint:${groupId}`);
    },
    async setCheckpoint(groupId, ts) {
      await redis.set(`${prefix}checkpoint:${groupId}`, ts);
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
      const ids = await redis.zrange(dueKey, 0, now, {
        byScore: true,
        offset: 0,
        count: limit,
      });
      if (ids.length === 0) return [];
      const bodies = await redis.hmget(itemsKey, ...ids);
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
