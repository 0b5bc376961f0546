/**
 * Webhooks against hostile receivers and odd inputs: redirects are never followed, secrets
 * are Standard Webhooks secrets (checked by the official `standardwebhooks` package),
 * `webhook-id` is always a valid ASCII id, and one event reaches one webhook once.
 */
import assert from "node:assert/strict";
import { Webhook } from "standardwebhooks";
import { parseRoutes } from "../src/config/routes.ts";
import { createDeliverer } from "../src/deliver/deliverer.ts";
import { createWebhookSink } from "../src/deliver/kinds/webhook.ts";
import { Metrics } from "../src/status/metrics.ts";
import { openKvStore } from "../src/store/kv_store.ts";
import { createRedisStore } from "../src/store/redis_store.ts";
import type { StateStore } from "../src/store/state_store.ts";
import { testRedis } from "./support/redis.ts";
import { spawnService } from "./support/service_process.ts";
import { waitFor } from "./support/wait.ts";
import { UnitOfWork } from "../src/util/unit_of_work.ts";
import { LuaScript, scriptsOn } from "../src/redis/scripts.ts";

/** A real receiver on 127.0.0.1 that answers from a script and records every request. */
function receiver(answer: (req: Request) => Response | Promise<Response>) {
  const received: { method: string; path: string; headers: Headers; body: string }[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    received.push({
      method: req.method,
      path: new URL(req.url).pathname,
      headers: req.headers,
      body: await req.text(),
    });
    return await answer(req);
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/hook`,
    received,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

Deno.test("a webhook answering 3xx is never followed: dead-lettered with reason redirect and where it pointed, redacted", async (t) => {
  for (const status of [301, 302, 303, 307, 308]) {
    await t.step(`HTTP ${status}`, async () => {
      await using elsewhere = receiver(() => new Response("ok"));
      const target = new URL(elsewhere.url);
      target.username = "user";
      target.password = "hunter2";
      target.search = "?token=sekrit";
      target.hash = "#frag";
      await using hook = receiver((req) =>
        new URL(req.url).pathname === "/hook"
          ? new Response(null, { status, headers: { location: target.href } })
          : new Response("ok")
      );
      const dir = await Deno.makeTempDir();
      await using store = await openKvStore(dir);
      const metrics = new Metrics();
      const deliverer = createDeliverer({
        sinks: new Map([[
          "w",
          createWebhookSink({ name: "w", url: hook.url, secret: null, timeoutMs: 2000 }),
        ]]),
        store,
        deadLetterSink: null,
        metrics,
        attempts: 5,
        maxAgeS: 3600,
      });
      await deliverer.deliver([{ destination: "w", eventId: "e1", body: '{"event_id":"e1"}' }]);
      assert.equal(hook.received.length, 1, "posted once, to the webhook only");
      assert.equal(elsewhere.received.length, 0, "the redirect was not followed");
      assert.equal(metrics.sum("vk_router_delivered_total"), 0, "never counted delivered");
      assert.equal(await store.parkedCount(), 0, "not retried either");
      const [letter] = await store.takeDeadLetters(10);
      assert.equal(letter?.reason, "redirect");
      assert.equal(letter?.last_status, status);
      assert.equal(letter?.location, `http://127.0.0.1:${target.port}/hook`);
      assert.doesNotMatch(JSON.stringify(letter), /hunter2|sekrit|frag|user@/);
      await Deno.remove(dir, { recursive: true });
    });
  }
});

const GOOD = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

Deno.test("webhook secrets: Standard Webhooks format or a start-up problem naming the variable, never its value", () => {
  const resolve = (secret: string) =>
    parseRoutes({
      destinations: { w: { kind: "webhook", url: "http://127.0.0.1:1/h", secret_env: "HOOK" } },
      rules: [],
    }, { HOOK: secret });
  const bad: [string, RegExp][] = [
    ["whsec_MDEyMzQ1Njc4OWFi-2RlZjAxMjM0NTY3ODlh_mNkZWY", /base64/], // base64url
    ["whsec_not base64 at all!!", /base64/],
    ["whsec_AAAAAA==", /24 to 64 bytes, found 4 bytes/],
    ["MDEyMw==", /24 to 64 bytes, found 4 bytes/],
    ["whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY", /base64/], // unpadded
  ];
  for (const [secret, why] of bad) {
    assert.throws(() => resolve(secret), (error: Error) => {
      assert.match(error.message, /\$\.destinations\.w\.secret_env: environment variable HOOK: /);
      assert.match(error.message, why);
      assert.ok(!error.message.includes(secret), "the value is never shown");
      return true;
    });
  }
  assert.equal(resolve(GOOD).destinations.get("w")?.kind, "webhook");
  assert.equal(resolve(GOOD.slice(6)).destinations.get("w")?.kind, "webhook", "prefix optional");
});

Deno.test("deno task start exits 2 on a malformed webhook secret, naming the variable only", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(
    `${dir}/routes.json`,
    JSON.stringify({
      destinations: { w: { kind: "webhook", url: "http://127.0.0.1:1/h", secret_env: "HOOK" } },
      rules: [{ to: ["w"] }],
    }),
  );
  const secret = "whsec_c2VjcmV0LXZhbHVl-_";
  await using service = await spawnService({
    VK_TOKEN: "t",
    VK_GROUP_ID: "1",
    ROUTES_FILE: "routes.json",
    HOOK: secret,
  }, dir);
  assert.equal(await service.exited, 2);
  assert.match(service.output(), /secret_env: environment variable HOOK: expected a Standard/);
  assert.ok(!service.output().includes("c2VjcmV0LXZhbHVl"));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("signatures verify with the standardwebhooks package, with or without whsec_, for any event id", async () => {
  await using hook = receiver(() => new Response("ok"));
  for (const secret of [GOOD, GOOD.slice(6)]) {
    const sink = createWebhookSink({ name: "w", url: hook.url, secret, timeoutMs: 2000 });
    const ids = ["plain-id_1", "with.dot", "событие-1", "a".repeat(300), "x y\u0000z"];
    const outcomes = await sink.deliver(
      ids.map((eventId) => ({ eventId, body: JSON.stringify({ event_id: eventId }) })),
    );
    assert.ok(outcomes.every((o) => o.status === "delivered"), JSON.stringify(outcomes));
  }
  const verifier = new Webhook(GOOD);
  const seen = new Map<string, string>();
  for (const req of hook.received) {
    const headers = Object.fromEntries(req.headers);
    const id = headers["webhook-id"]!;
    assert.match(id, /^[A-Za-z0-9_-]+$/);
    for (const value of Object.values(headers)) assert.match(value, /^[\x20-\x7e]*$/);
    assert.deepEqual(verifier.verify(req.body, headers), JSON.parse(req.body));
    const eventId = JSON.parse(req.body).event_id as string;
    if (seen.has(eventId)) assert.equal(seen.get(eventId), id, "stable");
    seen.set(eventId, id);
  }
  assert.equal(seen.get("plain-id_1"), "plain-id_1", "a plain id is sent as it is");
  assert.match(seen.get("with.dot")!, /^sha256_[0-9a-f]{32}$/);
  assert.equal(new Set(seen.values()).size, seen.size, "distinct events, distinct ids");
});

/** Runs `body` with each state store. */
async function eachStore(t: Deno.TestContext, body: (store: StateStore) => Promise<void>) {
  await t.step("Deno KV", async () => {
    const dir = await Deno.makeTempDir();
    try {
      await using store = await openKvStore(dir);
      await body(store);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
  await t.step("Redis", async () => {
    await using redis = testRedis();
    await body(createRedisStore(redis.handle.redis, redis.prefix));
  });
}

Deno.test("one event reaches one webhook once: VK redelivering, long poll plus callback, at the same time", async (t) => {
  await eachStore(t, async (store) => {
    await using hook = receiver(async () => {
      await new Promise((resolve) => setTimeout(resolve, 50));
      return new Response("ok");
    });
    const metrics = new Metrics();
    const deliverer = createDeliverer({
      sinks: new Map([[
        "w",
        createWebhookSink({
          name: "w",
          url: hook.url,
          secret: GOOD,
          timeoutMs: 2000,
          markers: store,
        }),
      ]]),
      store,
      deadLetterSink: null,
      metrics,
      attempts: 5,
      maxAgeS: 3600,
    });
    const item = { destination: "w", eventId: "ev-1", body: '{"event_id":"ev-1"}' };
    await Promise.all([deliverer.deliver([item]), deliverer.deliver([item])]);
    await deliverer.deliver([item]);
    assert.equal(hook.received.length, 1, "posted once");
    assert.equal(metrics.sum("vk_router_delivered_total"), 1);
    assert.equal(metrics.sum("vk_router_duplicates_total"), 1, "the later redelivery");
    // The concurrent one found the claim and was parked; its retry finds the marker.
    assert.equal(await store.parkedCount(), 1);
    const [parked] = await store.due(Infinity, 10);
    await store.park([{ ...parked!, nextAttemptAt: 0 }]);
    await deliverer.retryDue();
    assert.equal(hook.received.length, 1, "still once");
    assert.equal(await store.parkedCount(), 0);
    // A failed post leaves no marker: the next attempt posts.
    await using down = receiver(() => new Response("no", { status: 503 }));
    const other = createWebhookSink({
      name: "w2",
      url: down.url,
      secret: null,
      timeoutMs: 2000,
      markers: store,
    });
    assert.equal((await other.deliver([item]))[0]!.status, "retry");
    assert.equal((await other.deliver([item]))[0]!.status, "retry");
    assert.equal(down.received.length, 2);
  });
});

Deno.test("a webhook's markers travel in a unit that waits for it, else alone", async () => {
  await using redis = testRedis();
  const r = redis.handle.redis;
  const store = createRedisStore(r, redis.prefix);
  await using hook = receiver(() => new Response("ok"));
  const sink = createWebhookSink({
    name: "w",
    url: hook.url,
    secret: null,
    timeoutMs: 2000,
    markers: store,
  });
  const waiting = new UnitOfWork();
  const late = waiting.channel(scriptsOn(r)).add(() => ({
    script: new LuaScript("return 1"),
    keys: [],
    args: [],
  }));
  assert.ok(waiting.late);
  await sink.deliver([{ eventId: "in-unit", body: "{}" }], waiting);
  assert.deepEqual(await store.claimDeliveries("w", ["in-unit"], 1000), ["busy"], "not sent yet");
  await waiting.send();
  await late;
  assert.deepEqual(await store.claimDeliveries("w", ["in-unit"], 1000), ["delivered"]);

  const sent = new UnitOfWork(); // late, but sent already: the markers go alone
  const sentLate = sent.channel(scriptsOn(r)).add(() => ({
    script: new LuaScript("return 1"),
    keys: [],
    args: [],
  }));
  await sent.send();
  await sentLate;
  await sink.deliver([{ eventId: "alone", body: "{}" }], sent);
  await waitFor(
    async () => (await store.claimDeliveries("w", ["alone"], 1000))[0] === "delivered",
    "the marker, alone",
  );
});
