/**
 * Checks that need both the environment and the routes file: each destination's needs
 * (a Redis connection, say) and its kind's own checks.
 * @module
 */
import { checkDestination, type Destination, destinationNeeds } from "../deliver/kinds/registry.ts";
import { ConfigError } from "../errors.ts";
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
  const needRedis = destinations.filter((d) => destinationNeeds(d, "redis"));
  if (!config.redis && needRedis.length > 0) {
    const names = [...new Set(needRedis.map((d) => `${JSON.stringify(d.name)} (${d.kind})`))];
    problems.push(
      `REDIS_URL: required by the destinations ${
        names.join(", ")
      } of the routes file: set REDIS_URL, or UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN`,
    );
  }
  for (const d of destinations) problems.push(...checkDestination(d, config));
  if (problems.length > 0) throw new ConfigError([...new Set(problems)]);
}
