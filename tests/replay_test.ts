import { redisConnections } from "./support/connections.ts";
import assert from "node:assert/strict";
import { parseRoutes } from "../src/config/routes.ts";
import { createDeliverer } from "../src/deliver/deliverer.ts";
import { createReplay } from "../src/replay.ts";
import { createSink } from "../src/deliver/kinds/registry.ts";
import { createPipeline } from "../src/pipeline.ts";
import { Metrics } from "../src/status/metrics.ts";
import { createRedisStore } from "../src/store/redis_store.ts";
import { type DeadLetter, newLetterId } from "../src/store/state_store.ts";
import { testRedis } from "./support/redis.ts";

Deno.test("dead-letter replay re-delivers failed events and re-validates rejected ones", async (t) => {
  for (const where of ["state store", "dead-letter list"] as const) {
    await t.step(where, async () => {
      await using redis = testRedis();
      const r = redis.handle.redis;
      const routes = parseRoutes({
        destinations: { q: { kind: "redis-list", key: `${redis.prefix}q` } },
        rules: [{ to: ["q"] }],
        dead_letter: where === "dead-letter list"
          ? { kind: "redis-list", key: `${redis.prefix}dead` }
          : null,
      });
      const store = createRedisStore(r, redis.prefix);
      const context = { connections: redisConnections(r), prefix: redis.prefix };
      const deliverer = createDeliverer({
        sinks: new Map([["q", createSink(routes.destinations.get("q")!, context)]]),
        store,
        deadLetterSink: routes.deadLetter ? createSink(routes.deadLetter, context) : null,
        metrics: new Metrics(),
        attempts: 3,
        maxAgeS: 60,
      });
      const pipeline = createPipeline({
        routes,
        deliverer,
        enricherFor: () => null,
        metrics: new Metrics(),
        timezone: "UTC",
        commandPrefixes: ["/"],
      });
      const failed: DeadLetter = {
        id: newLetterId(),
        reason: "delivery_failed",
        destination: "q",
        event_id: "ev-1",
        attempts: 8,
        last_error: "HTTP 503",
        last_status: 503,
        failed_at: 1,
        event: { event_id: "ev-1", event_type: "message_new" },
      };
      const rejected: DeadLetter = {
        id: newLetterId(),
        reason: "rejected",
        destination: null,
        event_id: "ev-2",
        attempts: 0,
        last_error: "bad",
        last_status: null,
        failed_at: 1,
        event: { type: "message_new", event_id: "ev-2", group_id: 1, object: {} },
      };
      await deliverer.deadLetter([failed, rejected]);
      const replay = createReplay({
        store,
        deliverer,
        pipeline,
        deadLetter: routes.deadLetter,
        connections: redisConnections(r),
      });
      assert.equal((await replay()).replayed, 2);
      assert.deepEqual(
        (await r.lrange(`${redis.prefix}q`, 0, -1)).map((s) => JSON.parse(s).event_id),
        ["ev-1"],
      );
      const again = where === "state store"
        ? await store.takeDeadLetters(10)
        : (await r.lrange(`${redis.prefix}dead`, 0, -1)).map((s) => JSON.parse(s) as DeadLetter);
      assert.deepEqual(
        again.map((l) => [l.reason, l.event_id]),
        [["rejected", "ev-2"]],
        "still invalid, so back in the dead letter",
      );
    });
  }
});

Deno.test("replaying a still-invalid rejected event keeps one letter, its first reason, and the counters", async (t) => {
  for (const where of ["state store", "dead-letter list"] as const) {
    await t.step(where, async () => {
      await using redis = testRedis();
      const r = redis.handle.redis;
      const routes = parseRoutes({
        destinations: { q: { kind: "redis-list", key: `${redis.prefix}q` } },
        rules: [{ to: ["q"] }],
        dead_letter: where === "dead-letter list"
          ? { kind: "redis-list", key: `${redis.prefix}dead` }
          : null,
      });
      const store = createRedisStore(r, redis.prefix);
      const context = { connections: redisConnections(r), prefix: redis.prefix };
      const metrics = new Metrics();
      const deliverer = createDeliverer({
        sinks: new Map([["q", createSink(routes.destinations.get("q")!, context)]]),
        store,
        deadLetterSink: routes.deadLetter ? createSink(routes.deadLetter, context) : null,
        metrics,
        attempts: 3,
        maxAgeS: 60,
      });
      const pipeline = createPipeline({
        routes,
        deliverer,
        enricherFor: () => null,
        metrics,
        timezone: "UTC",
        commandPrefixes: ["/"],
      });
      // Two events rejected as they arrive; nothing fixes them before the replays.
      await pipeline.handle({
        updates: [
          { type: "message_new", event_id: "bad-1", group_id: 1, object: {} },
          { type: "message_new", event_id: "bad-2", group_id: 1, object: { message: {} } },
        ],
        receivedAt: 1_700_000_000_000,
      });
      assert.equal(metrics.sum("vk_router_events_rejected_total"), 2);
      const letters = async () =>
        where === "state store"
          ? await (async () => {
            const taken = await store.takeDeadLetters(100);
            await store.addDeadLetters(taken);
            return taken;
          })()
          : (await r.lrange(`${redis.prefix}dead`, 0, -1)).map((s) => JSON.parse(s) as DeadLetter);
      const [first] = (await letters()).filter((l) => l.event_id === "bad-1");
      assert.ok(first);
      const replay = createReplay({
        store,
        deliverer,
        pipeline,
        deadLetter: routes.deadLetter,
        connections: redisConnections(r),
      });
      const deadLettered = metrics.sum("vk_router_dead_lettered_total");
      for (let i = 1; i <= 3; i++) {
        assert.equal((await replay()).replayed, 2, `replay ${i} took both letters`);
        const now = await letters();
        assert.equal(now.length, 2, `replay ${i}: still two letters, no new one`);
        const again = now.find((l) => l.event_id === "bad-1")!;
        assert.deepEqual(
          { ...again, attempts: first.attempts },
          first,
          "the first reason, failed_at and issues are kept",
        );
        assert.equal(again.attempts, first.attempts + i, "one more attempt per replay");
      }
      assert.equal(metrics.sum("vk_router_events_rejected_total"), 2, "replays are not events");
      assert.equal(
        metrics.sum("vk_router_dead_lettered_total"),
        deadLettered,
        "nor new dead letters",
      );
      assert.equal(await r.llen(`${redis.prefix}q`), 0);
    });
  }
});

Deno.test("a replayed rejected event that validates now is routed like any other", async () => {
  await using redis = testRedis();
  const r = redis.handle.redis;
  const routes = parseRoutes({
    destinations: { q: { kind: "redis-list", key: `${redis.prefix}q` } },
    rules: [{ when: { event_type: ["command_call"] }, to: ["q"] }],
  });
  const store = createRedisStore(r, redis.prefix);
  const metrics = new Metrics();
  const deliverer = createDeliverer({
    sinks: new Map([[
      "q",
      createSink(routes.destinations.get("q")!, {
        connections: redisConnections(r),
        prefix: redis.prefix,
      }),
    ]]),
    store,
    deadLetterSink: null,
    metrics,
    attempts: 3,
    maxAgeS: 60,
  });
  const pipeline = createPipeline({
    routes,
    deliverer,
    enricherFor: () => null,
    metrics,
    timezone: "UTC",
    commandPrefixes: ["/"],
  });
  // A letter whose event is valid (as after a fix of the schema that had refused it).
  await store.addDeadLetters([{
    id: newLetterId(),
    reason: "rejected",
    destination: null,
    event_id: "fixed-1",
    attempts: 2,
    last_error: "object.message: required",
    last_status: null,
    failed_at: 1,
    event: {
      type: "message_new",
      event_id: "fixed-1",
      group_id: 1,
      object: { message: { from_id: 7, peer_id: 7, text: "/start", conversation_message_id: 1 } },
    },
  }]);
  const replay = createReplay({
    store,
    deliverer,
    pipeline,
    deadLetter: null,
    connections: redisConnections(r),
  });
  assert.equal((await replay()).replayed, 1);
  const [pushed] = await r.lrange(`${redis.prefix}q`, 0, -1);
  assert.equal(JSON.parse(pushed!).event_type, "command_call", "routed by the rules");
  assert.equal(await store.deadLetterCount(), 0);
  assert.equal(metrics.get("vk_router_events_received_total", { event_type: "command_call" }), 1);
  assert.equal(metrics.sum("vk_router_events_rejected_total"), 0);
});
