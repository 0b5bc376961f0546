/**
 * The ingestion as the service runs it under a lease (the real router graph, Redis and
 * the fake VK): once a newer holder exists, no checkpoint write of the old one lands, by
 * whatever path the pipeline writes checkpoints, and the old one stops.
 */
import { redisKeys } from "../src/redis/keys.ts";
import assert from "node:assert/strict";
import { loadConfig } from "../src/config/config.ts";
import { parseRoutes } from "../src/config/routes.ts";
import { runIngestion } from "../src/ingest/ingestion.ts";
import { leasedApi, leasedFetch, leasedStore } from "../src/lease/fencing.ts";
import { holdLease, LeaseLostError } from "../src/lease/hold.ts";
import { createLeaseClient } from "../src/lease/lease.ts";
import { buildRouter } from "../src/router.ts";
import { startFakeVk } from "./support/fake_vk.ts";
import { TEST_REDIS_URL, testRedis } from "./support/redis.ts";
import { redisCommands } from "./support/redis_commands.ts";
import { waitFor } from "./support/wait.ts";

const GROUP = 5;

const message = (n: number) => ({
  type: "message_new",
  event_id: `fenced-${n}`,
  group_id: GROUP,
  object: { message: { from_id: 1, peer_id: 1, text: `m${n}`, conversation_message_id: n } },
});

Deno.test("under a lease, no checkpoint write lands once a newer holder exists, even under load", async () => {
  await using redis = testRedis();
  using raw = redisCommands();
  await using vk = await startFakeVk({ tokens: { [GROUP]: "fenced-token" } });
  const prefix = `${redis.prefix}router:`;
  const config = loadConfig({
    VK_TOKEN: "fenced-token",
    VK_GROUP_ID: String(GROUP),
    VK_API_URL: vk.apiUrl,
    VK_LONGPOLL_WAIT: "1",
    REDIS_URL: TEST_REDIS_URL,
    REDIS_PREFIX: prefix,
    ENRICH_DEADLINE_MS: "50",
  });
  const list = `${redis.prefix}events`;
  const routes = parseRoutes({
    destinations: { events: { kind: "redis-list", key: list } },
    rules: [{ to: ["events"] }],
  });
  await using router = await buildRouter({ config, routes });
  const checkpointKey = redisKeys(prefix).checkpoint(GROUP);
  await raw.send("SET", checkpointKey, "0");

  const client = createLeaseClient({ redis: router.redis!.redis, prefix, ttlMs: 10_000 });
  const acquiredAt = performance.now();
  const [got] = (await client.tick("old", "old#1", [[GROUP, "acquire"]])).leases;
  assert.ok(got!.fence !== null);
  const lease = holdLease({
    client,
    groupId: GROUP,
    owner: "old#1",
    fence: got!.fence,
    ttlMs: 10_000,
    acquiredAt,
  });
  const stop = new AbortController();
  const running = runIngestion({
    poller: {
      groupId: GROUP,
      api: leasedApi(router.apiFor("fenced-token"), lease),
      wait: 1,
      fetch: leasedFetch(fetch, lease),
    },
    store: leasedStore(router.store, lease),
    handler: router.pipeline,
    signal: AbortSignal.any([stop.signal, lease.signal]),
  });
  try {
    let pushed = 0;
    const push = (n: number) => {
      vk.push(Array.from({ length: n }, (_, i) => message(pushed + i)), GROUP);
      pushed += n;
    };
    push(10);
    await waitFor(async () => (await raw.send("GET", checkpointKey)) === "10", "checkpoint 10");

    // A newer holder appears (its acquisition takes the next token) while events keep coming.
    await raw.send("HINCRBY", redisKeys(prefix).fence(GROUP), "token", "1");
    for (let i = 0; i < 20 && !lease.signal.aborted; i++) {
      push(3);
      await new Promise((r) => setTimeout(r, 30));
    }
    await waitFor(() => lease.signal.aborted, "the old holder to find its lease lost");
    await running;
    assert.equal(await raw.send("GET", checkpointKey), "10", "no write of the old holder landed");
    const reason = lease.signal.reason;
    assert.ok(reason instanceof LeaseLostError && reason.reason === "fenced", String(reason));
  } finally {
    stop.abort();
    await running.catch(() => {});
    await lease.end();
  }
});
