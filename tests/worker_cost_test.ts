/**
 * What a worker callback costs on Upstash, counted by the gateway: one request and at most
 * two commands in the steady state, and parked deliveries still retried by later
 * callbacks and by the cron endpoint.
 */
import { redisKeys } from "../src/redis/keys.ts";
import assert from "node:assert/strict";
import { createWorker } from "../src/worker/worker.ts";
import { TEST_REDIS_URL, type TestRedis, testRedis } from "./support/redis.ts";
import { startUpstashGateway } from "./support/upstash_gateway.ts";

const SECRET = "worker-cost-callback-secret";
const STATUS_TOKEN = "worker-cost-status";

const callback = (id: string) =>
  new Request("http://worker/callback", {
    method: "POST",
    body: JSON.stringify({
      type: "message_new",
      event_id: id,
      group_id: 42,
      secret: SECRET,
      object: { message: { from_id: 7, peer_id: 7, text: `hi ${id}`, date: 1709107923 } },
    }),
  });

/** A worker over a counting gateway, with its state under the test's prefix. */
async function setup(redis: TestRedis, destinations: Record<string, unknown>) {
  const gateway = startUpstashGateway(TEST_REDIS_URL);
  const dir = await Deno.makeTempDir({ prefix: "vk-router-worker-cost-" });
  await Deno.writeTextFile(
    `${dir}/routes.json`,
    JSON.stringify({ destinations, rules: [{ to: Object.keys(destinations) }] }),
  );
  const worker = await createWorker({
    VK_GROUP_ID: "42",
    VK_CALLBACK_CONFIRMATION: "confirm",
    VK_CALLBACK_SECRET: SECRET,
    STATUS_TOKEN,
    UPSTASH_REDIS_REST_URL: gateway.url,
    UPSTASH_REDIS_REST_TOKEN: gateway.token,
    REDIS_PREFIX: `${redis.prefix}router:`,
    ROUTES_FILE: `${dir}/routes.json`,
    RETRY_SCHEDULE_S: "0.05",
  });
  const send = async (request: Request) => {
    const response = await worker.handle(request);
    return [response.status, await response.text()] as const;
  };
  return {
    gateway,
    worker,
    send,
    status: async () =>
      await (await worker.handle(
        new Request("http://worker/api/status", {
          headers: { authorization: `Bearer ${STATUS_TOKEN}` },
        }),
      )).json(),
    async [Symbol.asyncDispose]() {
      await gateway.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("a worker callback costs one Upstash request and two commands in the steady state", async () => {
  await using redis = testRedis();
  await using w = await setup(redis, { q: { kind: "redis-list", key: `${redis.prefix}q` } });
  assert.deepEqual(await w.send(callback("warm-up")), [200, "ok"]);
  for (let n = 1; n <= 10; n++) {
    w.gateway.resetCounts();
    assert.deepEqual(await w.send(callback(`c-${n}`)), [200, "ok"]);
    assert.equal(w.gateway.counts.requests, 1, `callback ${n}: REST requests`);
    assert.ok(
      w.gateway.counts.commands <= 2,
      `callback ${n}: ${w.gateway.counts.commands} commands`,
    );
    assert.deepEqual([...w.gateway.counts.byCommand.keys()], ["EVALSHA"]);
  }
  w.gateway.resetCounts();
  assert.deepEqual(await w.send(callback("c-3")), [200, "ok"], "a redelivery");
  assert.equal(w.gateway.counts.requests, 1, "a redelivery costs the same");

  const ids = (await redis.handle.redis.lrange(`${redis.prefix}q`, 0, -1)).map((s) =>
    JSON.parse(s).event_id
  );
  assert.equal(ids.length, 11, "every event pushed once, the redelivery not again");
  const status = await w.status();
  assert.equal(status.events_received_total, 12);
  const q = status.destinations.find((d: { name: string }) => d.name === "q");
  assert.equal(q.delivered, 11, "the appends counted themselves in the shared counters");
  assert.equal(q.duplicates, 1);
  assert.equal(status.recent_events.length, 12);
});

Deno.test("a worker callback with a webhook too: still one request when the webhook answers", async () => {
  await using redis = testRedis();
  const hook = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    await req.body?.cancel();
    return new Response("ok");
  });
  await using w = await setup(redis, {
    q: { kind: "redis-list", key: `${redis.prefix}q` },
    hook: { kind: "webhook", url: `http://127.0.0.1:${hook.addr.port}/` },
  });
  await w.send(callback("warm-up"));
  w.gateway.resetCounts();
  assert.deepEqual(await w.send(callback("h-1")), [200, "ok"]);
  assert.equal(w.gateway.counts.requests, 1, JSON.stringify([...w.gateway.counts.byCommand]));
  assert.ok(w.gateway.counts.commands <= 2);
  const status = await w.status();
  assert.equal(
    status.destinations.find((d: { name: string }) => d.name === "hook").delivered,
    2,
    "the webhook's deliveries were counted in the same round trip",
  );
  await hook.shutdown();
});

Deno.test("a parked webhook is retried by the next callbacks and by /tasks/retry", async (t) => {
  await using redis = testRedis();
  let up = false;
  const received: string[] = [];
  const hook = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const body = await req.json();
    if (!up) return new Response("down", { status: 503 });
    received.push(body.event_id);
    return new Response("ok");
  });
  await using w = await setup(redis, {
    q: { kind: "redis-list", key: `${redis.prefix}q` },
    hook: { kind: "webhook", url: `http://127.0.0.1:${hook.addr.port}/` },
  });
  const parked = () => redis.handle.redis.zcard(redisKeys(`${redis.prefix}router:`).parkedDue);
  const due = () => new Promise((r) => setTimeout(r, 100)); // RETRY_SCHEDULE_S is 0.05

  await t.step("a failing webhook is parked; the callback still answers ok", async () => {
    assert.deepEqual(await w.send(callback("p-1")), [200, "ok"]);
    assert.equal(await parked(), 1);
  });
  await t.step("the next callback finds it due in its round trip and retries it", async () => {
    up = true;
    await due();
    assert.deepEqual(await w.send(callback("p-2")), [200, "ok"]);
    assert.deepEqual(received.sort(), ["p-1", "p-2"]);
    assert.equal(await parked(), 0);
  });
  await t.step("a callback that finds nothing due sends no retry command", async () => {
    w.gateway.resetCounts();
    assert.deepEqual(await w.send(callback("p-3")), [200, "ok"]);
    assert.equal(w.gateway.counts.requests, 1);
  });
  await t.step("the cron endpoint retries what is parked and due", async () => {
    up = false;
    assert.deepEqual(await w.send(callback("p-4")), [200, "ok"]);
    assert.equal(await parked(), 1);
    up = true;
    await due();
    const res = await w.worker.handle(
      new Request("http://worker/tasks/retry", {
        method: "POST",
        headers: { authorization: `Bearer ${STATUS_TOKEN}` },
      }),
    );
    assert.deepEqual(await res.json(), { retried: 1 });
    assert.ok(received.includes("p-4"));
    assert.equal(await parked(), 0);
  });
  await t.step("the shared counters saw every retry", async () => {
    const status = await w.status();
    const hookStatus = status.destinations.find((d: { name: string }) => d.name === "hook");
    assert.equal(hookStatus.delivered, 4);
    assert.equal(hookStatus.parked, 2);
    assert.equal(hookStatus.retried, 2);
  });
  await hook.shutdown();
});
