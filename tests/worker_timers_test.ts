/**
 * The worker starts no timer at import and leaves none behind a request: every timer it
 * sets is counted here and must be cleared or have fired when `fetch` resolves. Deno's
 * test sanitizers add their own check that no op or resource outlives the test.
 */
import assert from "node:assert/strict";
import { deleteKeys, TEST_REDIS_URL, testRedis } from "./support/redis.ts";
import { startUpstashGateway } from "../dev/upstash_gateway.ts";

Deno.test("the worker module starts no timers, at import or per request", async () => {
  await using redis = testRedis();
  await using gateway = startUpstashGateway(TEST_REDIS_URL);
  const hook = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("down", { status: 503 }),
  );
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(
    `${dir}/routes.json`,
    JSON.stringify({
      destinations: {
        q: { kind: "redis-list", key: `${redis.prefix}q` },
        hook: { kind: "webhook", url: `http://127.0.0.1:${hook.addr.port}/` },
      },
      rules: [{ to: ["q", "hook"] }],
    }),
  );
  const env: Record<string, string> = {
    VK_GROUP_ID: "42",
    VK_CALLBACK_CONFIRMATION: "conf",
    VK_CALLBACK_SECRET: "timers-secret-0123456789",
    UPSTASH_REDIS_REST_URL: gateway.url,
    UPSTASH_REDIS_REST_TOKEN: gateway.token,
    REDIS_PREFIX: `${redis.prefix}router:`,
    ROUTES_FILE: `${dir}/routes.json`,
    LOG_LEVEL: "error",
  };
  for (const [k, v] of Object.entries(env)) Deno.env.set(k, v);

  const live = new Set<unknown>();
  let intervals = 0;
  const { setTimeout: realSet, clearTimeout: realClear, setInterval: realInterval } = globalThis;
  globalThis.setTimeout = ((fn: () => void, ms?: number, ...args: unknown[]) => {
    const id = realSet(() => {
      live.delete(id);
      fn(...(args as []));
    }, ms);
    live.add(id);
    return id;
  }) as typeof setTimeout;
  globalThis.clearTimeout = ((id?: number) => {
    live.delete(id);
    realClear(id);
  }) as typeof clearTimeout;
  globalThis.setInterval = ((...args: Parameters<typeof setInterval>) => {
    intervals++;
    return realInterval(...args);
  }) as typeof setInterval;
  try {
    const worker = (await import("../src/worker.ts")).default;
    assert.equal(live.size, 0, "no timer at import");
    const requests = [
      new Request("http://w/callback", {
        method: "POST",
        body: JSON.stringify({ type: "confirmation", group_id: 42 }),
      }),
      new Request("http://w/callback", {
        method: "POST",
        body: JSON.stringify({
          type: "message_new",
          event_id: "t-1",
          group_id: 42,
          secret: "timers-secret-0123456789",
          object: { message: { from_id: 1, peer_id: 1, text: "x" } },
        }),
      }),
      new Request("http://w/api/status"),
      new Request("http://w/metrics"),
      new Request("http://w/readyz"),
      new Request("http://w/tasks/retry", { method: "POST" }),
    ];
    for (const request of requests) {
      const response = await worker.fetch(request);
      assert.ok(response.status < 500, `${request.url}: ${response.status}`);
      await response.body?.cancel();
      assert.equal(
        live.size,
        0,
        `a timer outlived ${request.method} ${new URL(request.url).pathname}`,
      );
    }
    assert.equal(intervals, 0, "no interval, ever");
  } finally {
    globalThis.setTimeout = realSet;
    globalThis.clearTimeout = realClear;
    globalThis.setInterval = realInterval;
    for (const k of Object.keys(env)) Deno.env.delete(k);
    await hook.shutdown();
    await deleteKeys(redis.handle, redis.prefix);
    await Deno.remove(dir, { recursive: true });
  }
});
