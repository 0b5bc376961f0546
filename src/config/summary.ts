/**
 * The one line a start (and `deno task check-config`) prints about what it is about to run:
 * routes, destinations by kind, the state store and its Redis host, the communities. Safe to
 * log: it names hosts, never a URL's credentials or a token.
 * @module
 */
import type { Config } from "./config.ts";
import type { Routes } from "./routes.ts";

/** `host:port` of a Redis or Upstash URL, without credentials. */
export function redisAddress(url: string): string {
  const u = new URL(url);
  const port = u.port || (u.protocol === "https:" ? "443" : u.protocol === "http:" ? "80" : "6379");
  return `${u.hostname}:${port}`;
}

/** Where the router keeps its own state, as the summary names it. */
export function storeSummary(config: Config, embeddedStore = false): string {
  if (!config.redis || embeddedStore) return `Deno KV in ${config.dataDir}`;
  const at = redisAddress(config.redis.url);
  return config.redis.kind === "upstash"
    ? `Upstash Redis at ${at} (prefix ${JSON.stringify(config.redisPrefix)})`
    : `Redis at ${at} (prefix ${JSON.stringify(config.redisPrefix)})`;
}

/** The summary line of a configuration and its routes. */
export function configSummary(config: Config, routes: Routes, embeddedStore = false): string {
  const kinds = Map.groupBy(routes.destinations.values(), (d) => d.kind);
  const byKind = [...kinds].map(([kind, list]) => `${list.length} ${kind}`).join(", ");
  const ingestion = [
    ...(config.vk.longPoll ? ["long poll"] : []),
    ...(config.callback.confirmation ? ["Callback API"] : []),
  ].join(" and ") || "nothing";
  const communities = config.communities.map((c) => c.groupId);
  return [
    `Routes: ${
      config.routesFile ?? "built in (every event to the log)"
    }, ${routes.rules.length} rule${routes.rules.length === 1 ? "" : "s"}`,
    `destinations: ${routes.destinations.size}${byKind ? ` (${byKind})` : ""}`,
    `dead letters: ${routes.deadLetter ? routes.deadLetter.name : "the state store"}`,
    `state store: ${storeSummary(config, embeddedStore)}`,
    `communities: ${communities.join(", ")} by ${ingestion}`,
    `instance: ${config.instanceId}`,
  ].join("; ");
}
