/**
/**
 * Checks that need both the environment and the routes file: each destination's
 * connection (configured?) and its kind's own checks; and whether the configured Redis
 * answers at all.
 * @module
 */
import {
  checkDestination,
  type Destination,
  destinationConnection,
} from "../deliver/kinds/registry.ts";
import { ConfigError, errorMessage } from "../errors.ts";
import { connectRedis } from "../redis/connection.ts";
import { withTimeout } from "../util/time.ts";
import type { RedisConnection } from "../redis/connection.ts";
import type { Config } from "./config.ts";
import type { Routes } from "./routes.ts";

/** Every destination of the routes file, the dead letter included. */
export function allDestinations(routes: Routes): Destination[] {
  return [...routes.destinations.values(), ...(routes.deadLetter ? [routes.deadLetter] : [])];
}

/** @throws {ConfigError} naming every problem, with the variable to set where one is missing. */
export function checkRoutesAgainstConfig(routes: Routes, config: Config): void {
  const destinations = allDestinations(routes);
  const problems: string[] = [];
  const unconfigured = Map.groupBy(
    destinations.filter((d) => {
      const spec = destinationConnection(d);
      return spec !== null && !(spec.name in config.connections);
    }),
    (d) => destinationConnection(d)!,
  );
  for (const [spec, needing] of unconfigured) {
    const names = [...new Set(needing.map((d) => `${JSON.stringify(d.name)} (${d.kind})`))];
    problems.push(
      `${spec.variables[0]}: required by the destinations ${
        names.join(", ")
      } of the routes file: ${spec.howToConfigure}`,
    );
  }
  for (const d of destinations) problems.push(...checkDestination(d, config));
  if (problems.length > 0) throw new ConfigError([...new Set(problems)]);
}

/** The variable that names `connection`, for the lines that blame it. */
function redisVariable(connection: RedisConnection): string {
  return connection.kind === "upstash" ? "UPSTASH_REDIS_REST_URL" : "REDIS_URL";
}

/** `host:port` of a Redis URL: what a line may show (the URL may hold a password). */
export function redisAddress(url: string): string {
  try {
    const { protocol, hostname, port } = new URL(url);
    const fallback = protocol === "https:" ? "443" : protocol === "http:" ? "80" : "6379";
    return `${hostname}:${port || fallback}`;
  } catch {
    return "an unparsable URL";
  }
}

/**
 * `null` when the configured Redis answers a PING within `timeoutMs`, else the `error:`
 * line that names its variable. At start an unreachable Redis is a mistake to fix now
 * (wrong host, server not started); once running, an outage is waited out instead.
 */
export async function redisUnreachable(
  connection: RedisConnection,
  timeoutMs: number,
): Promise<string | null> {
  await using handle = connectRedis(connection, { timeoutMs, retry: false });
  try {
    await withTimeout(handle.redis.ping(), timeoutMs);
    return null;
  } catch (error) {
    return `${redisVariable(connection)}: cannot reach Redis at ${redisAddress(connection.url)}: ${
      errorMessage(error)
    } (is it running? REDIS_TIMEOUT_MS waits longer)`;
  }
}
