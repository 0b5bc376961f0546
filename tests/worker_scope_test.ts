/**
 * The worker builds the router's graph (store, sinks, pipeline, Hono app) once per isolate
 * and keeps only a per-request scope.
 */
import assert from "node:assert/strict";
import { buildRouter } from "../src/router.ts";
import { createWorker } from "../src/worker/worker.ts";
import { TEST_REDIS_URL, testRedis } from "./support/redis.ts";
import { startUpstashGateway } from "../dev/upstash_gateway.ts";

Deno.test("the worker builds its graph once and handles each request in a scope of its own", async () => {
  await using redis = testRedis();
  await using gateway = startUpstashGateway(TEST_REDIS_URL);
  let builds = 0;
  const worker = await createWorker({
    VK_GROUP_ID: "42",
    VK_CALLBACK_CONFIRMATION: "confirm-me",
    VK_CALLBACK_SECRET: "callback-secret-of-sixteen",
    UPSTASH_REDIS_REST_URL: gateway.url,
    UPSTASH_REDIS_REST_TOKEN: gateway.token,
    REDIS_PREFIX: redis.prefix,
  }, {
    buildRouter: (options) => {
      builds++;
      return buildRouter(options);
    },
  });
  assert.equal(builds, 1, "built when the module loads");
  const callback = (n: number) =>
    new Request("http://worker/callback", {
      method: "POST",
      body: JSON.stringify({
        type: "message_new",
        event_id: `scope-${n}`,
        group_id: 42,
        secret: "callback-secret-of-sixteen",
        object: { message: { from_id: 7, peer_id: 7, text: `hello ${n}`, date: 1709107923 } },
      }),
    });
  const answers = await Promise.all([1, 2, 3].map((n) => worker.handle(callback(n))));
  assert.deepEqual(await Promise.all(answers.map((r) => r.text())), ["ok", "ok", "ok"]);
  const status = await worker.handle(new Request("http://worker/api/status"));
  assert.equal(status.status, 200);
  assert.equal(
    (await status.json()).events_received_total,
    3,
    "counters flushed to Redis once each",
  );
  assert.equal(builds, 1, "no request builds the graph, the app or the pipeline again");
});
