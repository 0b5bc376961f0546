/**
 * The serverless worker under `deno serve`, two processes at once, against the Upstash
 * gateway over the real Redis: one truth across instances, effectively-once pushes,
 * parked webhooks delivered by the cron endpoint.
 */
import assert from "node:assert/strict";
import { signWebhook } from "../src/deliver/signing.ts";
import { deleteKeys, TEST_REDIS_URL, testRedis } from "./support/redis.ts";
import { startUpstashGateway } from "../dev/upstash_gateway.ts";
import { serveWorker } from "./support/serve_process.ts";

const HOOK_SECRET = "whsec_d29ya2VyLXdlYmhvb2stc2VjcmV0LW9mLTMyLWJ5dGVz";

Deno.test("deno serve src/worker.ts refuses to start without Upstash, naming the variable", async () => {
  const dir = await Deno.makeTempDir();
  await using worker = await serveWorker({
    VK_GROUP_ID: "42",
    VK_CALLBACK_CONFIRMATION: "x",
    VK_CALLBACK_SECRET: "worker-secret-0123456789",
    REDIS_URL: TEST_REDIS_URL,
  }, dir);
  assert.notEqual(await worker.exited, 0);
  assert.match(worker.output(), /UPSTASH_REDIS_REST_URL: required by the serverless worker/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("two worker instances: confirmation, secret, once-only pushes, parked webhooks, shared counters", async (t) => {
  await using redis = testRedis();
  await using gateway = startUpstashGateway(TEST_REDIS_URL);
  let hookUp = false;
  const received: {
    id: string | null;
    signature: string | null;
    timestamp: string | null;
    body: string;
  }[] = [];
  const hook = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const body = await req.text();
    if (!hookUp) return new Response("down", { status: 503 });
    received.push({
      id: req.headers.get("webhook-id"),
      signature: req.headers.get("webhook-signature"),
      timestamp: req.headers.get("webhook-timestamp"),
      body,
    });
    return new Response("ok");
  });
  const dir = await Deno.makeTempDir({ prefix: "vk-router-worker-" });
  const list = `${redis.prefix}q`;
  await Deno.writeTextFile(
    `${dir}/routes.json`,
    JSON.stringify({
      destinations: {
        q: { kind: "redis-list", key: list },
        hook: {
          kind: "webhook",
          url: `http://127.0.0.1:${hook.addr.port}/hook`,
          secret_env: "HOOK_SECRET",
        },
      },
      rules: [{ to: ["q", "hook"] }],
    }),
  );
  const env = {
    VK_GROUP_ID: "42",
    VK_CALLBACK_CONFIRMATION: "w0rker",
    VK_CALLBACK_SECRET: "worker-secret-0123456789",
    STATUS_TOKEN: "worker-status-0123456789",
    UPSTASH_REDIS_REST_URL: gateway.url,
    UPSTASH_REDIS_REST_TOKEN: gateway.token,
    REDIS_PREFIX: `${redis.prefix}router:`,
    ROUTES_FILE: "routes.json",
    RETRY_SCHEDULE_S: "0.1",
    HOOK_SECRET,
  };
  await using a = await serveWorker(env, dir);
  await using b = await serveWorker(env, dir);
  const [urlA, urlB] = [await a.url(), await b.url()];
  const callback = (url: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${url}/callback`, { method: "POST", body: JSON.stringify(body), headers }).then(async (
      r,
    ) => [r.status, await r.text()]);
  const event = (id: string) => ({
    type: "message_new",
    event_id: id,
    group_id: 42,
    secret: "worker-secret-0123456789",
    object: { message: { from_id: 7, peer_id: 7, text: `hi ${id}`, conversation_message_id: 1 } },
  });

  await t.step("confirmation and the secret check", async () => {
    assert.deepEqual(await callback(urlA, { type: "confirmation", group_id: 42 }), [200, "w0rker"]);
    assert.deepEqual(await callback(urlB, { ...event("x"), secret: "wrong" }), [403, "forbidden"]);
  });

  await t.step("the same redelivered event at both instances at once is pushed once", async () => {
    const results = await Promise.all([
      callback(urlA, event("w-1")),
      callback(urlB, event("w-1"), { "x-retry-counter": "1" }),
      callback(urlA, event("w-2")),
      callback(urlB, event("w-2"), { "x-retry-counter": "1" }),
    ]);
    assert.deepEqual(
      results,
      Array(4).fill([200, "ok"]),
      "ok only once durably accepted (pushed, webhook parked)",
    );
    const ids = (await redis.handle.redis.lrange(list, 0, -1)).map((s) => JSON.parse(s).event_id)
      .sort();
    assert.deepEqual(ids, ["w-1", "w-2"]);
  });

  await t.step(
    "the failing webhook was parked; the cron endpoint delivers it once the receiver is back",
    async () => {
      assert.equal(received.length, 0);
      const parked = await redis.handle.redis.zcard(`${redis.prefix}router:retry:due`);
      assert.ok(parked >= 2, `parked: ${parked}`);
      assert.equal((await fetch(`${urlA}/tasks/retry`, { method: "POST" })).status, 401);
      hookUp = true;
      await new Promise((r) => setTimeout(r, 150));
      const res = await fetch(`${urlB}/tasks/retry`, {
        method: "POST",
        headers: { authorization: "Bearer worker-status-0123456789" },
      });
      assert.equal(res.status, 200);
      assert.ok((await res.json()).retried >= 2);
      assert.deepEqual([...new Set(received.map((r) => r.id))].sort(), ["w-1", "w-2"]);
      const first = received[0]!;
      assert.equal(
        first.signature,
        await signWebhook(HOOK_SECRET, first.id!, Number(first.timestamp), first.body),
      );
      assert.equal(await redis.handle.redis.zcard(`${redis.prefix}router:retry:due`), 0);
    },
  );

  await t.step("both instances report the same counters", async () => {
    const status = async (url: string) =>
      await (await fetch(`${url}/api/status`, {
        headers: { authorization: "Bearer worker-status-0123456789" },
      })).json();
    const [sa, sb] = [await status(urlA), await status(urlB)];
    assert.equal(sa.events_received_total, 4, "four accepted callbacks (two of them redeliveries)");
    assert.equal(sb.events_received_total, sa.events_received_total);
    // The oldest item's age is read at each request's own second: compare the rest.
    const counters = (s: { destinations: { oldest_age_s?: number }[] }) =>
      s.destinations.map(({ oldest_age_s: _, ...rest }) => rest);
    assert.deepEqual(counters(sa), counters(sb));
    assert.equal(
      sa.destinations.find((d: { name: string }) => d.name === "q").delivered,
      2,
      "new pushes",
    );
    assert.equal(
      sa.destinations.find((d: { name: string }) => d.name === "q").duplicates,
      2,
      "the redeliveries found the markers",
    );
    assert.ok(sa.destinations.find((d: { name: string }) => d.name === "hook").delivered >= 2);
    assert.equal(sa.recent_events.length, 4);
    const metrics = await (await fetch(`${urlB}/metrics`, {
      headers: { authorization: "Bearer worker-status-0123456789" },
    }))
      .text();
    assert.match(metrics, /^vk_router_events_received_total\{event_type="message_new"\} 4$/m);
    assert.equal((await fetch(`${urlA}/readyz`)).status, 200);
  });

  await hook.shutdown();
  await deleteKeys(redis.handle, redis.prefix);
  await Deno.remove(dir, { recursive: true });
});
