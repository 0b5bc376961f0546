/**
 * The VK rate limit shared through Redis: reservations from several processes keep to
 * the limit in every window, cost one round trip each, never name the token, and fall
 * back to the in-process limiter when Redis fails or hangs.
 */
import assert from "node:assert/strict";
import { connectRedis } from "../src/redis/connection.ts";
import { createRateLimiter, PRIORITY, type RateLimiter } from "../src/vk/rate_limiter.ts";
import { createSharedRateLimiter, rateLimitKey } from "../src/vk/shared_rate_limiter.ts";
import { TEST_REDIS_URL, testRedis } from "./support/redis.ts";
import { redisCommands } from "./support/redis_commands.ts";
import { startUpstashGateway } from "../dev/upstash_gateway.ts";

/** A proxy in front of `target` that counts the HTTP requests (Upstash round trips) it passes. */
function countingProxy(target: string) {
  let requests = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    requests++;
    const { pathname, search } = new URL(req.url);
    return fetch(`${target}${pathname}${search}`, {
      method: req.method,
      headers: req.headers,
      body: req.body,
    });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    requests: () => requests,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

/** A fallback that counts its use and lets everything through. */
function countingFallback() {
  const counter = { calls: 0 };
  const limiter: RateLimiter = {
    acquire: () => (counter.calls++, Promise.resolve()),
  };
  return { limiter, counter };
}

Deno.test("rateLimitKey() hashes the token: the key never holds it", async () => {
  const key = await rateLimitKey("p:", "vk1.a.secret-token-value");
  assert.match(key, /^p:vk-rate:[0-9a-f]{32}$/);
  assert.doesNotMatch(key, /secret/);
  assert.equal(key, await rateLimitKey("p:", "vk1.a.secret-token-value"));
  assert.notEqual(key, await rateLimitKey("p:", "vk1.a.another-token"));
});

Deno.test("shared limiters on one key reserve at most perSecond starts in any window, one round trip each", async () => {
  await using redis = testRedis();
  await using gateway = startUpstashGateway(TEST_REDIS_URL);
  await using proxy = countingProxy(gateway.url);
  const upstash = connectRedis({ kind: "upstash", url: proxy.url, token: gateway.token });
  const key = `${redis.prefix}vk-rate:test`;
  const delays: number[] = [];
  // Two "replicas", one over each transport; sleeping is recorded, not done, so the
  // reservations (the sorted set's scores) are what is checked, not the machine's speed.
  const limiterOver = (client: typeof upstash.redis) =>
    createSharedRateLimiter({
      redis: client,
      key,
      perSecond: 5,
      windowMs: 1000,
      timeoutMs: 10_000,
      fallback: countingFallback().limiter,
      sleep: (ms) => (delays.push(ms), Promise.resolve()),
    });
  const replicas = [limiterOver(redis.handle.redis), limiterOver(upstash.redis)];
  await Promise.all(Array.from({ length: 40 }, (_, i) => replicas[i % 2]!.acquire()));
  assert.equal(proxy.requests(), 20, "one Upstash request per call");

  using raw = redisCommands();
  const scores = (await raw.send("ZRANGE", key, "0", "-1", "WITHSCORES") as string[])
    .filter((_, i) => i % 2 === 1).map(Number);
  assert.equal(scores.length, 40);
  for (let i = 5; i < scores.length; i++) {
    assert.ok(
      scores[i]! - scores[i - 5]! >= 1000,
      `starts ${i - 5} and ${i} are ${scores[i]! - scores[i - 5]!} ms apart: 6 in one window`,
    );
  }
  assert.equal(delays.length, 35, "the first five start at once, the rest wait");
  assert.ok(Math.max(...delays) >= 6000, `40 starts at 5 per second span 7 windows`);
});

Deno.test("the shared limiter falls back to the process's own when Redis fails, and when it hangs", async (t) => {
  await t.step("Redis answers 500", async () => {
    await using gateway = startUpstashGateway(TEST_REDIS_URL);
    await using proxy = countingProxy(gateway.url);
    const upstash = connectRedis({ kind: "upstash", url: proxy.url, token: gateway.token }, {
      retry: false,
    });
    const fallback = countingFallback();
    const limiter = createSharedRateLimiter({
      redis: upstash.redis,
      key: "x:vk-rate:fail",
      fallback: fallback.limiter,
    });
    gateway.setFailing(true);
    await limiter.acquire();
    await limiter.acquire();
    assert.equal(fallback.counter.calls, 2);
    assert.equal(proxy.requests(), 1, "after a failure, Redis is left alone for a while");
  });
  await t.step("Redis never answers", async () => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const connections: Deno.Conn[] = [];
    const accepting = (async () => {
      for await (const conn of listener) connections.push(conn);
    })();
    const hanging = connectRedis({
      kind: "native",
      url: `redis://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    }, { timeoutMs: 30_000 });
    const fallback = countingFallback();
    const limiter = createSharedRateLimiter({
      redis: hanging.redis,
      key: "x:vk-rate:hang",
      fallback: fallback.limiter,
      timeoutMs: 100,
    });
    const start = performance.now();
    await limiter.acquire();
    const waited = performance.now() - start;
    assert.equal(fallback.counter.calls, 1);
    assert.ok(waited < 15_000, `decided by the limiter's own deadline, not Redis's: ${waited} ms`);
    await hanging.close();
    listener.close();
    await accepting;
    for (const conn of connections) conn.close();
  });
});

Deno.test("both limiters give a freed slot to the most urgent waiter: long polls before names, names before checks", async () => {
  await using redis = testRedis();
  const limiters = {
    local: createRateLimiter({ perSecond: 1, windowMs: 150 }),
    shared: createSharedRateLimiter({
      redis: redis.handle.redis,
      key: `${redis.prefix}vk-rate:priority`,
      perSecond: 1,
      windowMs: 150,
      fallback: countingFallback().limiter,
    }),
  };
  for (const [name, limiter] of Object.entries(limiters)) {
    const order: string[] = [];
    const take = (label: string, priority: number) =>
      limiter.acquire(undefined, priority).then(() => order.push(label));
    await Promise.all([
      take("check", PRIORITY.background),
      take("name 1", PRIORITY.enrich),
      take("name 2", PRIORITY.enrich),
      take("poll", PRIORITY.poll),
    ]);
    // The first caller found the slot free; the others waited and were served by urgency.
    assert.deepEqual(order, ["check", "poll", "name 1", "name 2"], name);
  }
});

Deno.test("a start that comes too late past its reservation (a busy process) reserves again", async () => {
  await using redis = testRedis();
  using raw = redisCommands();
  const key = `${redis.prefix}vk-rate:late`;
  let clock = 0;
  let late = 1;
  const limiter = createSharedRateLimiter({
    redis: redis.handle.redis,
    key,
    perSecond: 20,
    fallback: countingFallback().limiter,
    now: () => clock,
    // The first start's timer fires 100 ms late; the next on time.
    sleep: (ms) => (clock += ms + (late-- > 0 ? 100 : 0), Promise.resolve()),
  });
  for (let i = 0; i < 20; i++) await limiter.acquire(); // fills the window: the next ones wait
  clock = 0;
  await limiter.acquire();
  assert.equal(Number(await raw.send("ZCARD", key)), 22, "the late reservation was replaced");
});
