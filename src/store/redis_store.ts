/**
 * The state store in Redis, under `REDIS_PREFIX`, sharing the destinations' connection.
 * @module
 */
import type { RedisClient } from "../redis/connection.ts";
import type { StateStore } from "./state_store.ts";

/** A store over an open Redis client; closing it leaves the connection to its owner. */
export function createRedisStore(redis: RedisClient, prefix: string): StateStore {
  const close = () => Promise.resolve();
  return {
    kind: "redis",
    async getCheckpoint(groupId) {
      return await redis.get<string>(`${prefix}checkpoint:${groupId}`);
    },
    async setCheckpoint(groupId, ts) {
      await redis.set(`${prefix}checkpoint:${groupId}`, ts);
    },
    async ping() {
      await redis.ping();
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
