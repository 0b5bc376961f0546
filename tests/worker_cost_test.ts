/**
 * What a worker callback costs on Upstash, counted by the gateway: one request and at most
 * two commands in the steady state; with a webhook route two, the claim that makes it
 * "posted once" and one round trip carrying everything else (the settle of that claim
 * included); and parked deliveries still retried by later callbacks and by the cron
 * endpoint.
 */
import { redisKeys } from "../src/redis/keys.ts";
import assert from "node:assert/strict";
import { createWorker } from "../src/worker/worker.ts";
import { TEST_REDIS_URL, type TestRedis, testRedis } from "./support/redis.ts";
import { startUpstashGateway } from "../dev/upstash_gateway.ts";

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

/** A webhook receiver on a free port that keeps the event ids it was posted. */
function receiver(answer: () => Response = () => new Response("ok")) {
  const received: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    received.push((await req.json()).event_id);
    return answer();
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/`,
    received,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

Deno.test("a worker callback with a webhook too: two requests, the claim and one round trip with its settle", async () => {
  await using redis = testRedis();
  await using hook = receiver();
  await using w = await setup(redis, {
    q: { kind: "redis-list", key: `${redis.prefix}q` },
    hook: { kind: "webhook", url: hook.url },
  });
  const marker = (id: string) =>
    redis.handle.redis.get(redisKeys(`${redis.prefix}router:`).dedup("hook", id));
  await w.send(callback("warm-up"));
  for (let n = 1; n <= 5; n++) {
    w.gateway.resetCounts();
    assert.deepEqual(await w.send(callback(`h-${n}`)), [200, "ok"]);
    // The claim must be read before the POST (so that VK redelivering the callback does not
    // reach the webhook twice); the settle then travels in the unit: sent alone, this is 3.
    assert.equal(w.gateway.counts.requests, 2, `callback ${n}: REST requests`);
    // The claim; then the push, the settle and the shared counters.
    assert.equal(w.gateway.counts.commands, 4, `callback ${n}: commands`);
    assert.deepEqual([...w.gateway.counts.byCommand.keys()], ["EVALSHA"]);
    assert.equal(await marker(`h-${n}`), "1", "the carried settle marked it delivered");
  }
  w.gateway.resetCounts();
  assert.deepEqual(await w.send(callback("h-2")), [200, "ok"], "a redelivery");
  assert.equal(w.gateway.counts.requests, 2, "a redelivery: the claim finds the marker");
  assert.equal(w.gateway.counts.commands, 3, "and nothing is left to settle");
  assert.deepEqual(hook.received, ["warm-up", "h-1", "h-2", "h-3", "h-4", "h-5"], "posted once");
  const status = await w.status();
  const hookStatus = status.destinations.find((d: { name: string }) => d.name === "hook");
  assert.equal(hookStatus.delivered, 6, "the webhook's deliveries were counted in the round trip");
  assert.equal(hookStatus.duplicates, 1);
});

Deno.test("a carried settle that does not land leaves the claim to expire: a later attempt posts again", async () => {
  await using redis = testRedis();
  await using hook = receiver();
  await using w = await setup(redis, {
    q: { kind: "redis-list", key: `${redis.prefix}q` },
    hook: { kind: "webhook", url: hook.url },
  });
  const marker = redisKeys(`${redis.prefix}router:`).dedup("hook", "s-1");
  let refused = 0;
  // Upstash fails the one round trip that carries the settle (the claim travels alone).
  w.gateway.setFailing((commands) =>
    refused === 0 && commands.length > 1 && commands.flat().includes(marker) && ++refused > 0
  );
  assert.deepEqual(await w.send(callback("s-1")), [200, "ok"]);
  assert.equal(refused, 1);
  assert.deepEqual(hook.received, ["s-1"]);
  assert.match(await redis.handle.redis.get(marker) ?? "", /^claim:/, "still a claim");
  const ttl = Number(await redis.handle.redis.call(["PTTL", marker]));
  assert.ok(ttl > 0 && ttl <= 5_000 + 30_000, `the claim expires on its own (${ttl} ms)`);
  assert.deepEqual(await w.send(callback("s-1")), [200, "ok"], "a redelivery within the claim");
  assert.deepEqual(hook.received, ["s-1"], "not posted while the claim holds");
  await redis.handle.redis.call(["PEXPIRE", marker, "1"]); // as if its time had passed
  await new Promise((r) => setTimeout(r, 100)); // and the parked retry is due
  assert.deepEqual(await w.send(callback("s-2")), [200, "ok"]);
  assert.deepEqual(hook.received.sort(), ["s-1", "s-1", "s-2"], "posted again, never lost");
  assert.equal(await redis.handle.redis.get(marker), "1");
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
    assert.equal(w.gateway.counts.requests, 2, "the webhook's claim, then the round trip");
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
