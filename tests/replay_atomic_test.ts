/**
 * Replays at once (a double click, two operators, two replicas) replay each letter once,
 * wherever the letters are (Deno KV, Redis, a redis-stream or redis-list dead-letter
 * destination), and an item of the dead-letter destination that is not a letter is set
 * aside, not dropped and not fatal.
 */
import assert from "node:assert/strict";
import { loadConfig } from "../src/config/config.ts";
import { parseRoutes, type Routes } from "../src/config/routes.ts";
import { buildRouter } from "../src/router.ts";
import { createReplay, type Replay } from "../src/replay.ts";
import { createRoutedDeliverer } from "../src/deliver/sinks.ts";
import { createPipeline } from "../src/pipeline.ts";
import type { RedisClient } from "../src/redis/connection.ts";
import { Metrics } from "../src/status/metrics.ts";
import { openKvStore } from "../src/store/kv_store.ts";
import { createRedisStore } from "../src/store/redis_store.ts";
import {
  type DeadLetter,
  LockBusyError,
  newLetterId,
  type StateStore,
} from "../src/store/state_store.ts";
import { redisConnections } from "./support/connections.ts";
import { redisKeys } from "../src/redis/keys.ts";
import { testRedis } from "./support/redis.ts";

/** A webhook that refuses everything (so a replayed letter is dead again) and counts posts. */
function refusingHook() {
  const posted: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    posted.push(JSON.parse(await req.text()).event_id);
    await new Promise((resolve) => setTimeout(resolve, 20));
    return new Response("no", { status: 400 });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/hook`,
    posted,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

function letters(n: number): DeadLetter[] {
  return Array.from({ length: n }, (_, i) => ({
    id: newLetterId(),
    reason: "delivery_failed",
    destination: "w",
    event_id: `ev-${i}`,
    attempts: 5,
    last_error: "HTTP 503",
    last_status: 503,
    failed_at: 1,
    event: { event_id: `ev-${i}`, event_type: "message_new" },
  }));
}

/** A replica: its own store over its own connection, its deliverer, pipeline and replay. */
function replica(routes: Routes, store: StateStore, redis: RedisClient | null, prefix: string) {
  const metrics = new Metrics();
  const deliverer = createRoutedDeliverer(routes, {
    store,
    metrics,
    scheduleS: [1],
    context: { connections: redis ? redisConnections(redis) : new Map(), prefix },
  });
  const pipeline = createPipeline({
    routes,
    deliverer,
    enricherFor: () => null,
    metrics,
    timezone: "UTC",
    commandPrefixes: ["/"],
  });
  return createReplay({
    store,
    deliverer,
    pipeline,
    deadLetter: routes.deadLetter,
    connections: redis ? redisConnections(redis) : new Map(),
  });
}

/** Five replays at once: one replays all 20, the others are refused; 20 posts in all. */
async function replayAtOnce(replays: Replay[], posted: string[]): Promise<void> {
  const results = await Promise.allSettled(
    Array.from({ length: 5 }, (_, i) => replays[i % replays.length]!()),
  );
  const done = results.filter((r) => r.status === "fulfilled");
  assert.deepEqual(done.map((r) => r.value.replayed), [20], "one replay took the 20 letters");
  for (const r of results) {
    if (r.status === "rejected") assert.ok(r.reason instanceof LockBusyError, String(r.reason));
  }
  assert.equal(posted.length, 20, "each letter posted once");
  assert.equal(new Set(posted).size, 20);
}

Deno.test("concurrent replays replay each of 20 letters once (Deno KV)", async () => {
  await using hook = refusingHook();
  const dir = await Deno.makeTempDir();
  await using store = await openKvStore(dir);
  const routes = parseRoutes({
    destinations: { w: { kind: "webhook", url: hook.url } },
    rules: [{ to: ["w"] }],
  });
  await store.addDeadLetters(letters(20));
  await replayAtOnce([replica(routes, store, null, "")], hook.posted);
  assert.equal(await store.deadLetterCount(), 20, "dead again, once each");
  await Deno.remove(dir, { recursive: true });
});

for (const where of ["Redis state store", "redis-stream", "redis-list"] as const) {
  Deno.test(`concurrent replays of two replicas replay each of 20 letters once (${where})`, async () => {
    await using hook = refusingHook();
    await using a = testRedis();
    await using b = testRedis(); // the second replica's own connection
    const prefix = a.prefix;
    const deadKey = `${prefix}x:dead`;
    const routes = parseRoutes({
      destinations: { w: { kind: "webhook", url: hook.url } },
      rules: [{ to: ["w"] }],
      dead_letter: where === "Redis state store" ? null : { kind: where, key: deadKey },
    });
    const stores = [a, b].map((r) => createRedisStore(r.handle.redis, prefix));
    const r = a.handle.redis;
    if (where === "Redis state store") await stores[0]!.addDeadLetters(letters(20));
    else if (where === "redis-list") {
      await r.lpush(
        deadKey,
        ...letters(20).map((l) => JSON.stringify(l)),
      );
    } else {
      for (const l of letters(20)) {
        await r.xadd(deadKey, {
          event_type: "dead_letter",
          event_id: l.event_id!,
          event: JSON.stringify(l),
        });
      }
    }
    const replays = [a, b].map((x, i) => replica(routes, stores[i]!, x.handle.redis, prefix));
    await replayAtOnce(replays, hook.posted);
    const left = where === "Redis state store"
      ? await stores[0]!.deadLetterCount()
      : where === "redis-list"
      ? await r.llen(deadKey)
      : await r.xlen(deadKey);
    assert.equal(left, 20, "dead again, once each");
    assert.equal(await r.get(redisKeys(prefix).lock("replay")), null, "the lock is released");
  });
}

Deno.test("a foreign item in a redis-list dead-letter destination is set aside; the rest is replayed", async () => {
  await using hook = refusingHook();
  await using redis = testRedis();
  const r = redis.handle.redis;
  const deadKey = `${redis.prefix}x:dead`;
  const routes = parseRoutes({
    destinations: { w: { kind: "webhook", url: hook.url } },
    rules: [{ to: ["w"] }],
    dead_letter: { kind: "redis-list", key: deadKey },
  });
  const items = letters(20).map((l) => JSON.stringify(l));
  items.splice(7, 0, "hello from someone else", '{"not":"a letter"}');
  await r.lpush(deadKey, ...items);
  const store = createRedisStore(r, redis.prefix);
  const replay = replica(routes, store, r, redis.prefix);
  assert.equal((await replay({ limit: 100 })).replayed, 20);
  assert.equal(hook.posted.length, 20);
  const aside = await store.listSetAside(10);
  assert.deepEqual(aside.map((a) => a.item).sort(), [
    "hello from someone else",
    '{"not":"a letter"}',
  ]);
  assert.ok(aside.every((a) => a.source === "dead-letter destination dead_letter" && a.error));
  assert.equal(await r.llen(deadKey), 20, "the 20 letters are dead again, nothing lost");
});

Deno.test("replay by id takes only those letters from the state store", async () => {
  await using hook = refusingHook();
  const dir = await Deno.makeTempDir();
  await using store = await openKvStore(dir);
  const routes = parseRoutes({
    destinations: { w: { kind: "webhook", url: hook.url } },
    rules: [{ to: ["w"] }],
  });
  const all = letters(5);
  await store.addDeadLetters(all);
  const replay = replica(routes, store, null, "");
  assert.equal((await replay({ ids: [all[1]!.id, all[3]!.id, "dl_gone"] })).replayed, 2);
  assert.deepEqual(hook.posted.sort(), ["ev-1", "ev-3"]);
  assert.equal(await store.deadLetterCount(), 5, "3 untouched, 2 dead again");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("five concurrent POST /dead-letters/replay: one replays the 20 letters, the others answer 409", async () => {
  await using hook = refusingHook();
  const dir = await Deno.makeTempDir();
  const token = "status-token-0123456789";
  const config = loadConfig({
    VK_GROUP_ID: "42",
    VK_LONGPOLL: "off",
    VK_CALLBACK_CONFIRMATION: "conf-abc",
    VK_CALLBACK_INSECURE_NO_SECRET: "1",
    STATUS_TOKEN: token,
    DATA_DIR: dir,
  });
  const routes = parseRoutes({
    destinations: { w: { kind: "webhook", url: hook.url } },
    rules: [{ to: ["w"] }],
  });
  const router = await buildRouter({ config, routes });
  try {
    await router.store.addDeadLetters(letters(20));
    const answers = await Promise.all(Array.from({ length: 5 }, async () => {
      const res = await router.app.request("/dead-letters/replay", {
        method: "POST",
        headers: { authorization: `Bearer ${token}` },
      });
      return [res.status, await res.json()] as const;
    }));
    assert.deepEqual(answers.filter(([s]) => s === 200).map(([, b]) => b), [
      { replayed: 20, delivered: 0, failed: 20, set_aside: 0 },
    ]);
    assert.deepEqual(answers.filter(([s]) => s !== 200).map(([s]) => s), [409, 409, 409, 409]);
    assert.equal(hook.posted.length, 20, "each letter posted once");
    assert.equal(await router.store.deadLetterCount(), 20);
  } finally {
    await router.close();
    await Deno.remove(dir, { recursive: true });
  }
});
