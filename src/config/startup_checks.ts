/**
 * Checks that need both the environment and the routes file: each destination's
 * connection (configured?) and its kind's own checks.
 * @module
 */
import {
  checkDestination,
  type Destination,
  destinationConnection,
} from "../deliver/kinds/registry.ts";
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
