/**
 * A router's open connections for tests that build sinks, replay or backlogs by hand.
 * @module
 */
import { redisConnection } from "../../src/deliver/kinds/redis_connection.ts";
import type { Connections } from "../../src/deliver/kinds/registry.ts";
import type { RedisClient } from "../../src/redis/connection.ts";

/** Connections holding only this Redis client, as the Redis kinds read it. */
export function redisConnections(redis: RedisClient): Connections {
  return new Map([[redisConnection.name, { redis }]]);
}
