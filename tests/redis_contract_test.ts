/**
 * One contract, run against both Redis transports: native `redis://` and Upstash REST
 * (through the local gateway). Each transport gets its own redis-server, which some
 * cases stop and start again.
 */
import assert from "node:assert/strict";
import { parseRoutes } from "../src/config/routes.ts";
import { createDeliverer, runRetryWorker } from "../src/deliver/deliverer.ts";
import { createRedisListSink } from "../src/deliver/kinds/redis_list.ts";
import type { Delivery } from "../src/deliver/types.ts";
import { runIngestion } from "../src/ingest/ingestion.ts";
import { createPipeline } from "../src/pipeline.ts";
import { Metrics } from "../src/status/metrics.ts";
import { createRedisStore } from "../src/store/redis_store.ts";
import { createVkApi } from "../src/vk/api.ts";
import { startFakeVk } from "./support/fake_vk.ts";
import { newLetterId } from "../src/store/state_store.ts";
import { startRedisServer } from "./support/redis_server.ts";
import { redisTransports } from "./support/redis_transports.ts";
import { waitFor } from "./support/wait.ts";

const transports = redisTransports(1000);

function items(from: number, count: number): Delivery[] {
  return Array.from(
    { length: count },
    (_, i) => ({ eventId: `ev${from + i}`, body: JSON.stringify({ n: from + i }) }),
  );
}

for (const [transport, open] of transports) {
  Deno.test(`Redis contract over ${transport}`, async (t) => {
    await using server = await startRedisServer();
    await using conn = open(server.url);
    const redis = conn.handle.redis;
    const prefix = `contract-${transport}:`;

    await t.step("lpush and rpush keep arrival order for consumers", async () => {
      const left = createRedisListSink({
        name: "left",
        redis,
        key: "list:left",
        push: "lpush",
        prefix,
      });
      const right = createRedisListSink({
        name: "right",
        redis,
        key: "list:right",
        push: "rpush",
        prefix,
      });
      assert.deepEqual(
        (await left.deliver(items(0, 5))).map((o) => o.status),
        Array(5).fill("delivered"),
      );
      await right.deliver(items(0, 5));
      const n = (s: string) => JSON.parse(s).n;
      assert.deepEqual((await redis.lrange("list:left", 0, -1)).map(n), [4, 3, 2, 1, 0]);
      assert.deepEqual((await redis.lrange("list:right", 0, -1)).map(n), [0, 1, 2, 3, 4]);
      assert.deepEqual(
        JSON.parse((await redis.rpop("list:left"))!),
        { n: 0 },
        "values come back untouched",
      );
    });

    await t.step("a replayed batch pushes nothing twice", async () => {
      const sink = createRedisListSink({
        name: "replay",
        redis,
        key: "list:replay",
        push: "lpush",
        prefix,
      });
      await sink.deliver(items(0, 10));
      await sink.deliver(items(5, 10)); // half replayed, half new
      await sink.deliver(items(0, 15));
      assert.equal(await redis.llen("list:replay"), 15);
      const other = createRedisListSink({
        name: "other",
        redis,
        key: "list:other",
        push: "lpush",
        prefix,
      });
      await other.deliver(items(0, 3));
      assert.equal(await redis.llen("list:other"), 3, "markers are per destination");
    });

    await t.step("state store: checkpoints, parked deliveries and dead letters", async () => {
      const store = createRedisStore(redis, prefix);
      assert.equal(await store.getCheckpoint(7), null);
      await store.setCheckpoint(7, "123");
      assert.equal(await store.getCheckpoint(7), "123");
      const parked = (n: number, due: number) => ({
        id: `d:${n}`,
        destination: "d",
        eventId: `${n}`,
        body: "{}",
        attempts: 1,
        firstFailedAt: 0,
        nextAttemptAt: due,
        lastError: "x",
        lastStatus: null,
      });
      assert.equal(await store.nextDueAt(), null, "nothing parked");
      await store.park([parked(1, 100), parked(2, 50), parked(3, 500)]);
      assert.equal(await store.nextDueAt(), 50);
      assert.deepEqual((await store.due(200, 10)).map((d) => d.id), ["d:2", "d:1"]);
      assert.deepEqual((await store.due(200, 1)).map((d) => d.id), ["d:2"], "at most limit");
      await store.park([{ ...parked(2, 300), attempts: 2 }]);
      assert.deepEqual((await store.due(200, 10)).map((d) => d.id), ["d:1"], "re-parking replaces");
      assert.equal(await store.parkedCount(), 3);
      await store.unpark(["d:1", "d:2", "d:3"]);
      assert.equal(await store.parkedCount(), 0);
      const letter = {
        id: newLetterId(),
        reason: "rejected" as const,
        destination: null,
        event_id: "x",
        attempts: 0,
        last_error: "bad",
        last_status: null,
        failed_at: 1,
        event: { a: 1 },
      };
      await store.addDeadLetters([letter, { ...letter, id: newLetterId(), event_id: "y" }]);
      assert.equal(await store.deadLetterCount(), 2);
      assert.deepEqual((await store.takeDeadLetters(10)).map((l) => l.event_id), ["x", "y"]);
      assert.equal(await store.deadLetterCount(), 0);
    });

    await t.step("a refused push is parked, then delivered once the cause is fixed", async () => {
      const store = createRedisStore(redis, `${prefix}retry1:`);
      let now = 1_000_000;
      const metrics = new Metrics();
      await redis.set("list:blocked", "not a list");
      const deliverer = createDeliverer({
        sinks: new Map([[
          "blocked",
          createRedisListSink({
            name: "blocked",
            redis,
            key: "list:blocked",
            push: "lpush",
            prefix,
          }),
        ]]),
        store,
        deadLetterSink: null,
        metrics,
        attempts: 5,
        maxAgeS: 3600,
        scheduleS: [1],
        now: () => now,
      });
      await deliverer.deliver(items(0, 3).map((d) => ({ ...d, destination: "blocked" })));
      assert.equal(await store.parkedCount(), 3);
      assert.equal(await deliverer.retryDue(), 0, "not due yet");
      now += 1000;
      await redis.del("list:blocked");
      assert.equal(await deliverer.retryDue(), 3);
      assert.equal(await store.parkedCount(), 0);
      assert.equal(await redis.llen("list:blocked"), 3);
      assert.equal(metrics.sum("vk_router_delivered_total"), 3);
    });

    await t.step(
      "deliveries that keep failing go to the dead letter after the attempts",
      async () => {
        const store = createRedisStore(redis, `${prefix}retry2:`);
        let now = 0;
        await redis.set("list:broken", "not a list");
        const deliverer = createDeliverer({
          sinks: new Map([[
            "broken",
            createRedisListSink({
              name: "broken",
              redis,
              key: "list:broken",
              push: "rpush",
              prefix,
            }),
          ]]),
          store,
          deadLetterSink: null,
          metrics: new Metrics(),
          attempts: 3,
          maxAgeS: 3600,
          scheduleS: [1],
          now: () => now,
        });
        await deliverer.deliver(items(0, 2).map((d) => ({ ...d, destination: "broken" })));
        for (let i = 0; i < 3; i++) {
          now += 1000;
          await deliverer.retryDue();
        }
        assert.equal(await store.parkedCount(), 0);
        const letters = await store.takeDeadLetters(10);
        assert.deepEqual(letters.map((l) => [l.event_id, l.attempts, l.destination]), [[
          "ev0",
          3,
          "broken",
        ], ["ev1", 3, "broken"]]);
        assert.match(letters[0]!.last_error, /WRONGTYPE/);
        assert.deepEqual(letters[0]!.event, { n: 0 });
      },
    );

    await t.step("Redis down mid-stream, then back: every event once, nothing lost", async () => {
      await using vk = await startFakeVk();
      const routes = parseRoutes({
        destinations: { q: { kind: "redis-list", key: "list:flow", push: "rpush" } },
        rules: [{ to: ["q"] }],
      });
      const store = createRedisStore(redis, `${prefix}flow:`);
      await store.setCheckpoint(1, "0");
      // Pushes refused while Redis restarts (LOADING) are parked and retried by the worker.
      // One round trip per batch: the pushes and the carried checkpoint travel together.
      const deliverer = createDeliverer({
        sinks: new Map([[
          "q",
          createRedisListSink({ name: "q", redis, key: "list:flow", push: "rpush", prefix }),
        ]]),
        store,
        deadLetterSink: null,
        metrics: new Metrics(),
        attempts: 8,
        maxAgeS: 3600,
        scheduleS: [0.2],
      });
      const pipeline = createPipeline({
        routes,
        deliverer,
        enricherFor: () => null,
        metrics: new Metrics(),
        timezone: "UTC",
        commandPrefixes: ["/"],
      });
      const controller = new AbortController();
      const retries = runRetryWorker(deliverer, controller.signal, 50);
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
        backoff: { minMs: 50, maxMs: 200 },
        handler: pipeline,
      });
      const event = (n: number) => ({
        type: "message_new",
        event_id: `flow${n}`,
        group_id: 1,
        object: { message: { from_id: 5, peer_id: 5, text: `m${n}` } },
      });
      for (let n = 0; n < 300; n++) {
        vk.push([event(n)]);
        if (n === 100) await server.stop();
        if (n === 200) {
          await new Promise((r) => setTimeout(r, 1500)); // a real outage, not a blip
          await server.start();
        }
        if (n % 10 === 0) await new Promise((r) => setTimeout(r, 5));
      }
      await waitFor(
        async () => (await redis.llen("list:flow").catch(() => 0)) >= 300,
        "300 events in the list",
        20_000,
      );
      controller.abort();
      await run;
      await retries;
      const ids = (await redis.lrange("list:flow", 0, -1)).map((s) => JSON.parse(s).event_id);
      assert.equal(ids.length, 300);
      assert.equal(new Set(ids).size, 300, "no duplicates");
    });
  });
}
