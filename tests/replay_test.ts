import assert from "node:assert/strict";
import { parseRoutes } from "../src/config/routes.ts";
import { createDeliverer } from "../src/deliver/deliverer.ts";
import { createReplay } from "../src/deliver/replay.ts";
import { createSink } from "../src/deliver/kinds/registry.ts";
import { createPipeline } from "../src/pipeline.ts";
import { Metrics } from "../src/status/metrics.ts";
import { createRedisStore } from "../src/store/redis_store.ts";
import type { DeadLetter } from "../src/store/state_store.ts";
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
      const context = { redis: r, prefix: redis.prefix };
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
        redis: r,
      });
      assert.equal(await replay(), 2);
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
