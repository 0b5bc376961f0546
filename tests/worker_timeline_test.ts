/**
 * The serverless worker's charts: every instance adds its requests' events, errors and
 * delivery latency to per-bucket hashes in Redis with its one shared script call, and any
 * instance's status page draws them all.
 */
import assert from "node:assert/strict";
import { createWorker, type Worker } from "../src/worker/worker.ts";
import type { TimelineSeries, TimelineSnapshot } from "../src/status/timeline.ts";
import { TEST_REDIS_URL, testRedis } from "./support/redis.ts";
import { startUpstashGateway } from "../dev/upstash_gateway.ts";

const SECRET = "worker-timeline-secret-0123";
const STATUS_TOKEN = "worker-timeline-status-0123";

const sum = (values: readonly number[] | undefined) => (values ?? []).reduce((a, n) => a + n, 0);

Deno.test("two worker instances share one timeline in Redis: events by type, errors, latency", async () => {
  await using redis = testRedis();
  await using gateway = startUpstashGateway(TEST_REDIS_URL);
  let hookFailures = 1;
  await using hook = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    await req.body?.cancel();
    if (hookFailures > 0) {
      hookFailures--;
      return new Response("down", { status: 503 });
    }
    return new Response("ok");
  });
  const dir = await Deno.makeTempDir({ prefix: "vk-router-worker-timeline-" });
  await Deno.writeTextFile(
    `${dir}/routes.json`,
    JSON.stringify({
      destinations: {
        q: { kind: "redis-list", key: `${redis.prefix}q` },
        hook: { kind: "webhook", url: `http://127.0.0.1:${hook.addr.port}/hook` },
      },
      rules: [{ to: ["q", "hook"] }],
    }),
  );
  const env = {
    VK_GROUP_ID: "42",
    VK_CALLBACK_CONFIRMATION: "confirm",
    VK_CALLBACK_SECRET: SECRET,
    STATUS_TOKEN,
    UPSTASH_REDIS_REST_URL: gateway.url,
    UPSTASH_REDIS_REST_TOKEN: gateway.token,
    REDIS_PREFIX: `${redis.prefix}router:`,
    ROUTES_FILE: `${dir}/routes.json`,
    RETRY_SCHEDULE_S: "60",
  };
  const [a, b] = [await createWorker(env), await createWorker(env)];
  const send = async (worker: Worker, body: Record<string, unknown>) => {
    const response = await worker.handle(
      new Request("http://worker/callback", {
        method: "POST",
        body: JSON.stringify({ ...body, group_id: 42, secret: SECRET }),
      }),
    );
    return [response.status, await response.text()];
  };
  const message = (id: string) => ({
    type: "message_new",
    event_id: id,
    object: { message: { from_id: 7, peer_id: 7, text: `hi ${id}`, date: 1709107923 } },
  });
  const join = (id: string) => ({
    type: "group_join",
    event_id: id,
    object: { user_id: 300, join_type: "join" },
  });
  const get = (worker: Worker, path: string) =>
    worker.handle(
      new Request(`http://worker${path}`, {
        headers: { authorization: `Bearer ${STATUS_TOKEN}` },
      }),
    );

  for (
    const [worker, body] of [
      [a, message("t-1")],
      [b, message("t-2")],
      [a, join("t-3")],
      [b, message("t-4")],
      [b, join("t-5")],
    ] as const
  ) {
    assert.deepEqual(await send(worker, body), [200, "ok"]);
  }
  assert.equal(hookFailures, 0, "the webhook failed once");

  for (const worker of [a, b]) {
    const status = await (await get(worker, "/api/status")).json();
    const timeline = status.timeline as TimelineSnapshot | null;
    assert.ok(timeline, "the worker's snapshot has a timeline");
    for (const [name, series] of Object.entries(timeline) as [string, TimelineSeries][]) {
      assert.deepEqual(
        Object.fromEntries(
          Object.entries(series.events_by_type).map(([type, values]) => [type, sum(values)]),
        ),
        { message_new: 3, member_join: 2 },
        `${name}: events of both instances by type`,
      );
      assert.equal(sum(series.errors.delivery_failures), 1, `${name}: the webhook's failure`);
      assert.ok(
        series.window_latency_p50_ms !== null && series.window_latency_p50_ms >= 0,
        `${name}: a latency p50`,
      );
      assert.ok(sum(series.deliveries) >= 4, `${name}: deliveries behind the latency`);
    }
    const page = await (await get(worker, "/")).text();
    assert.doesNotMatch(page, /keeps no timeline/);
    assert.match(page, /class="charts"/);
  }
  await Deno.remove(dir, { recursive: true });
});
