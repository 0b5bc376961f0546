/**
 * On Upstash the long-poll checkpoint costs no request of its own: it travels in the next
 * batch's round trip, beside that batch's pushes, and it only ever names batches that
 * were already handled, so a failing batch never moves it.
 */
import { redisKeys } from "../src/redis/keys.ts";
import assert from "node:assert/strict";
import { redisConnections } from "./support/connections.ts";
import { parseRoutes } from "../src/config/routes.ts";
import { createRoutedDeliverer } from "../src/deliver/sinks.ts";
import { runIngestion } from "../src/ingest/ingestion.ts";
import { createPipeline } from "../src/pipeline.ts";
import { connectRedis } from "../src/redis/connection.ts";
import { Metrics } from "../src/status/metrics.ts";
import { createRedisStore } from "../src/store/redis_store.ts";
import { createVkApi } from "../src/vk/api.ts";
import { startFakeVk } from "./support/fake_vk.ts";
import { TEST_REDIS_URL, testRedis } from "./support/redis.ts";
import { startUpstashGateway } from "../dev/upstash_gateway.ts";
import { waitFor } from "./support/wait.ts";

Deno.test("the checkpoint rides with the next batch's pushes and never passes an unhandled batch", async (t) => {
  await using redis = testRedis();
  await using gateway = startUpstashGateway(TEST_REDIS_URL);
  await using vk = await startFakeVk({ maxBatch: 1 });
  const upstash = connectRedis({ kind: "upstash", url: gateway.url, token: gateway.token }, {
    timeoutMs: 1000,
    retry: false,
  });
  const prefix = `${redis.prefix}router:`;
  const list = `${redis.prefix}q`;
  const store = createRedisStore(upstash.redis, prefix);
  await store.setCheckpoint(1, "0");
  const routes = parseRoutes({
    destinations: { q: { kind: "redis-list", key: list, push: "rpush" } },
    rules: [{ to: ["q"] }],
  });
  const metrics = new Metrics();
  const pipeline = createPipeline({
    routes,
    deliverer: createRoutedDeliverer(routes, {
      store,
      metrics,
      scheduleS: [60],
      context: { connections: redisConnections(upstash.redis), prefix },
    }),
    enricherFor: () => null,
    metrics,
    timezone: "UTC",
    commandPrefixes: ["/"],
  });
  const controller = new AbortController();
  const run = runIngestion({
    poller: {
      groupId: 1,
      api: createVkApi({ token: "test-token", apiUrl: vk.apiUrl }),
      wait: 1,
      graceMs: 500,
      backoff: { minMs: 20, maxMs: 100 },
    },
    store,
    signal: controller.signal,
    backoff: { minMs: 20, maxMs: 100 },
    handler: pipeline,
  });
  const event = (n: number) => ({
    type: "message_new",
    event_id: `carry-${n}`,
    group_id: 1,
    object: { message: { from_id: 5, peer_id: 5, text: `m${n}` } },
  });
  const landed = (n: number) =>
    waitFor(async () => await redis.handle.redis.llen(list) >= n, `${n} events in the list`);
  const checkpoint = async () =>
    Number(await redis.handle.redis.get(redisKeys(prefix).checkpoint(1)));

  try {
    await t.step("one request per batch: the checkpoint is carried, not sent", async () => {
      vk.push([event(0)]);
      await landed(1);
      gateway.resetCounts();
      for (let n = 1; n <= 10; n++) {
        vk.push([event(n)]);
        await landed(n + 1);
      }
      // Sent alone, the checkpoint doubled this; an empty poll (1 s) may add a write.
      assert.ok(
        gateway.counts.requests <= 13,
        `${gateway.counts.requests} requests for 10 batches`,
      );
      assert.ok(await checkpoint() >= 10, "the carried writes landed: one batch behind at most");
    });

    await t.step("while a batch fails, the checkpoint stays behind it", async () => {
      const before = await checkpoint();
      // The batch fails for whole attempts: its push (the list is in the way: WRONGTYPE, while
      // the checkpoint beside it in the round trip lands), then its park (refused by the
      // gateway until the step ends, so that however the list's return falls between an
      // attempt's push and its park, the event is pushed by the next attempt, never parked).
      const parkedDue = redisKeys(prefix).parkedDue;
      let refusedParks = 0;
      gateway.setFailing((commands) => {
        const park = commands.some(([name, key]) =>
          name!.toUpperCase() === "ZADD" && key === parkedDue
        );
        if (park) refusedParks++;
        return park;
      });
      const aside = `${list}:aside`;
      const swap = (script: string) =>
        redis.handle.redis.call(["EVAL", script, "2", list, aside, "in the way"]);
      await swap("redis.call('RENAME', KEYS[1], KEYS[2]); redis.call('SET', KEYS[1], ARGV[1])");
      try {
        vk.push([event(11)]);
        await waitFor(() => refusedParks >= 2, "two attempts of the batch refused");
        assert.equal(await checkpoint(), 11, "up to the batch before it, not past it (ts 12)");
        assert.equal(await redis.handle.redis.llen(aside), 11);
      } finally {
        await swap("redis.call('DEL', KEYS[1]); redis.call('RENAME', KEYS[2], KEYS[1])");
      }
      await landed(12);
      gateway.setFailing(false);
      assert.equal(await store.parkedCount(), 0, "pushed by a later attempt, not parked");
      assert.ok(await checkpoint() >= before);
    });
  } finally {
    controller.abort();
    await run;
  }
  await t.step("a stop writes the last handled ts", async () => {
    assert.equal(await checkpoint(), 12);
    const ids = (await redis.handle.redis.lrange(list, 0, -1)).map((s) => JSON.parse(s).event_id);
    assert.equal(new Set(ids).size, 12, "every event once");
  });
});
