/**
 * Replicas of the real service on the test Redis against the fake VK, for the tests that
 * run several processes: the cluster's working directory and environment, and what the
 * tests read from it.
 * @module
 */
import { assign } from "../../src/lease/assignment.ts";
import { instanceOf } from "../../src/lease/lease.ts";
import { redisKeys } from "../../src/redis/keys.ts";
import type { FakeVk, PollRequest } from "./fake_vk.ts";
import { TEST_REDIS_URL, type TestRedis } from "./redis.ts";
import { type ServiceProcess, spawnService } from "./service_process.ts";
import { waitFor } from "./wait.ts";

/** A message from a distinct user in one of a few chats. */
export function message(groupId: number, n: number): Record<string, unknown> {
  return {
    type: "message_new",
    event_id: `r${groupId}-${n}`,
    group_id: groupId,
    object: {
      message: {
        from_id: 1_000 + n,
        peer_id: 2_000_000_001 + (n % 50),
        text: `msg ${n}`,
        conversation_message_id: n,
      },
    },
  };
}

/** Replicas started from one working directory and environment. */
export interface Cluster extends AsyncDisposable {
  dir: string;
  env: Record<string, string>;
  /** The list every event is pushed to. */
  list: string;
  /** The replicas' `REDIS_PREFIX`. */
  routerPrefix: string;
  replicas: Map<string, ServiceProcess>;
  /** Spawns a replica with `INSTANCE_ID` `id` (and `extra` environment, e.g. another `REDIS_URL`). */
  start(id: string, extra?: Record<string, string>): Promise<void>;
  /** The instance id holding a community's lease, or null. */
  owner(groupId: number): Promise<string | null>;
  /** Waits until the replica the assignment picks among the started ones holds the lease. */
  assignedOwner(groupId: number): Promise<string>;
  /** The event ids in the list, in order. */
  ids(): Promise<string[]>;
}

/**
 * A working directory with a routes file that pushes every event to one list, and the
 * environment of replicas on the test Redis and the fake VK (lease TTL 2 s unless `extra`
 * says otherwise; `rules` to route by); `start` spawns one, `owner` tells who holds a community's lease.
 */
export async function setupCluster(
  redis: TestRedis,
  vk: FakeVk,
  groupIds: number[],
  extra: Record<string, string> = {},
  rules: unknown[] = [{ to: ["events"] }],
): Promise<Cluster> {
  const dir = await Deno.makeTempDir({ prefix: "vk-router-replicas-" });
  const list = `${redis.prefix}events`;
  await Deno.writeTextFile(
    `${dir}/routes.json`,
    JSON.stringify({
      destinations: { events: { kind: "redis-list", key: list } },
      rules,
    }),
  );
  const routerPrefix = `${redis.prefix}router:`;
  const keys = redisKeys(routerPrefix);
  for (const g of groupIds) await redis.handle.redis.set(keys.checkpoint(g), "0");
  const env = {
    VK_TOKEN: "replica-token",
    VK_GROUP_ID: groupIds.join(","),
    VK_API_URL: vk.apiUrl,
    VK_LONGPOLL_WAIT: "1",
    ROUTES_FILE: "routes.json",
    REDIS_URL: TEST_REDIS_URL,
    REDIS_PREFIX: routerPrefix,
    ENRICH_DEADLINE_MS: "100",
    LEASE_TTL_S: "2",
    HOST: "127.0.0.1",
    PORT: "0",
    ...extra,
  };
  const replicas = new Map<string, ServiceProcess>();
  const start = async (id: string, more: Record<string, string> = {}) => {
    replicas.set(id, await spawnService({ ...env, ...more, INSTANCE_ID: id }, dir));
  };
  const owner = async (groupId: number) => {
    const token = await redis.handle.redis.get(keys.lease(groupId));
    return token === null ? null : instanceOf(String(token));
  };
  /** Waits until the replica that the assignment over the started ones picks holds the lease. */
  const assignedOwner = async (groupId: number) => {
    const target = assign([groupId], [...replicas.keys()]).get(groupId)!;
    await waitFor(
      async () => (await owner(groupId)) === target,
      `${target} to hold ${groupId}`,
      30_000,
    );
    return target;
  };
  const ids = async () =>
    (await redis.handle.redis.lrange(list, 0, -1)).map((s) => JSON.parse(s).event_id as string);
  return {
    dir,
    env,
    list,
    routerPrefix,
    replicas,
    start,
    owner,
    assignedOwner,
    ids,
    async [Symbol.asyncDispose]() {
      for (const r of replicas.values()) await r[Symbol.asyncDispose]();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** GET a path of a replica's status page: [status, JSON or text]. */
export async function getJson(
  service: ServiceProcess,
  path: string,
  // deno-lint-ignore no-explicit-any -- the tests read whatever the page answers
): Promise<readonly [number, any]> {
  const response = await fetch(`${await service.url()}${path}`);
  return response.headers.get("content-type")?.includes("json")
    ? [response.status, await response.json()] as const
    : [response.status, await response.text()] as const;
}

/**
 * Pairs of polls that were open at the same time on different connections: one process
 * polls a community one request after the other, so such a pair is two processes polling.
 */
export function overlaps(polls: readonly PollRequest[], now: number): [PollRequest, PollRequest][] {
  const out: [PollRequest, PollRequest][] = [];
  const sorted = [...polls].sort((a, b) => a.startedAt - b.startedAt);
  for (let i = 0; i < sorted.length; i++) {
    for (let j = i + 1; j < sorted.length; j++) {
      const [a, b] = [sorted[i]!, sorted[j]!];
      if (b.startedAt >= (a.endedAt ?? now)) break;
      if (a.peer !== b.peer) out.push([a, b]);
    }
  }
  return out;
}
