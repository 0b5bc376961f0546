/** Two real replicas of one community on one Redis, for the fleet view's tests. */
import { TEST_REDIS_URL } from "./redis.ts";
import { type ServiceProcess, spawnService } from "./service_process.ts";

/** Two replicas of one community on one Redis, started one after the other. */
export async function startTwoReplicas(
  prefix: string,
  vkApiUrl: string,
  dir: string,
): Promise<{ a: ServiceProcess; b: ServiceProcess; urls: readonly [string, string] }> {
  await Deno.writeTextFile(
    `${dir}/routes.json`,
    JSON.stringify({ destinations: { console: { kind: "log" } }, rules: [{ to: ["console"] }] }),
  );
  const env = {
    VK_TOKEN: "fleet-token",
    VK_GROUP_ID: "42",
    VK_API_URL: vkApiUrl,
    VK_LONGPOLL_WAIT: "1",
    ROUTES_FILE: "routes.json",
    REDIS_URL: TEST_REDIS_URL,
    REDIS_PREFIX: `${prefix}router:`,
    LEASE_TTL_S: "2",
    STATUS_TOKEN: "fleet-status-token",
    HOST: "127.0.0.1",
    PORT: "0",
  };
  const a = await spawnService({ ...env, INSTANCE_ID: "replica-a" }, dir);
  const b = await spawnService({ ...env, INSTANCE_ID: "replica-b" }, dir);
  return { a, b, urls: [await a.url(), await b.url()] as const };
}

export const FLEET_AUTH = { authorization: "Bearer fleet-status-token" };
