/**
 * Checks that need both the environment and the routes file.
 * @module
 */
import { ConfigError } from "../errors.ts";
import type { Config } from "./config.ts";
import type { Routes } from "./routes.ts";

/** Redis-list destinations need a Redis connection; say which variable to set. */
export function checkRoutesAgainstConfig(routes: Routes, config: Config): void {
  if (config.redis) return;
  const needRedis = [
    ...routes.destinations.values(),
    ...(routes.deadLetter ? [routes.deadLetter] : []),
  ]
    .filter((d) => d.kind === "redis-list")
    .map((d) => JSON.stringify(d.name));
  if (needRedis.length > 0) {
    throw new ConfigError([
      `REDIS_URL: required by the redis-list destinations ${
        [...new Set(needRedis)].join(", ")
      } of the routes file: set REDIS_URL, or UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN`,
    ]);
  }
}
