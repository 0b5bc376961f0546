/**
 * Backlog of the queueing destinations: how many items wait and how old the oldest is,
 * read cheaply (a length and one item).
 */
import assert from "node:assert/strict";
import { redisConnections } from "./support/connections.ts";
import { parseRoutes } from "../src/config/routes.ts";
import { backlogReader, backlogSources, createSink } from "../src/deliver/kinds/registry.ts";
import { loadConfig } from "../src/config/config.ts";
import { buildRouter } from "../src/router.ts";
import { createBacklogWatch } from "../src/status/backlog_watch.ts";
import { TEST_REDIS_URL, testRedis } from "./support/redis.ts";

Deno.test("destinationBacklog() reads the depth and the oldest item's age of lists and streams", async () => {
  await using redis = testRedis();
  const r = redis.handle.redis;
  const routes = parseRoutes({
    destinations: {
      left: { kind: "redis-list", key: `${redis.prefix}left` },
      right: { kind: "redis-list", key: `${redis.prefix}right`, push: "rpush" },
      stream: { kind: "redis-stream", key: `${redis.prefix}stream` },
      hook: { kind: "webhook", url: "http://127.0.0.1:9/" },
    },
    rules: [],
  });
  const now = Math.floor(Date.now() / 1000);
  const items = [300, 120, 5].map((ago, i) => ({
    eventId: `b${i}`,
    eventType: "message_new",
    body: JSON.stringify({ event_id: `b${i}`, ts: now - ago }),
  }));
  const backlog = (name: string) =>
    backlogReader(routes.destinations.get(name)!, redisConnections(r))?.() ?? Promise.resolve(null);

  assert.deepEqual(await backlog("left"), { depth: 0, oldestAgeS: null }, "empty");
  for (const name of ["left", "right", "stream"]) {
    await createSink(routes.destinations.get(name)!, {
      connections: redisConnections(r),
      prefix: redis.prefix,
    })
      .deliver(items);
  }
  for (const name of ["left", "right"]) {
    const { depth, oldestAgeS } = (await backlog(name))!;
    assert.equal(depth, 3, name);
    assert.ok(oldestAgeS! >= 299 && oldestAgeS! <= 302, `${name}: the first pushed, ${oldestAgeS}`);
  }
  await r.rpop(`${redis.prefix}left`); // a consumer took the oldest
  assert.ok((await backlog("left"))!.oldestAgeS! <= 122);

  const stream = (await backlog("stream"))!;
  assert.equal(stream.depth, 3);
  assert.ok(stream.oldestAgeS !== null && stream.oldestAgeS <= 2, "appended just now");
  assert.equal(
    backlogReader(routes.destinations.get("hook")!, redisConnections(r)),
    null,
    "webhooks queue nothing",
  );
});

Deno.test("createBacklogWatch() warns of a backlog that rose for a minute without a dip", async () => {
  await using redis = testRedis();
  const r = redis.handle.redis;
  const key = `${redis.prefix}watched`;
  const routes = parseRoutes({
    destinations: { q: { kind: "redis-list", key }, console: { kind: "log" } },
    rules: [],
  });
  const clock = { now: 1_000_000 };
  const watch = createBacklogWatch(
    backlogSources([...routes.destinations.values()], redisConnections(r)),
    () => clock.now,
  );
  const read = async (at: number) => {
    clock.now = 1_000_000 + at;
    return (await watch.read()).get("q");
  };
  await r.lpush(key, "{}");
  assert.deepEqual(await read(0), {
    depth: 1,
    oldest_age_s: null,
    consumers: null,
    growing: false,
    groups: null,
  });
  await r.lpush(key, "{}");
  assert.equal((await read(30_000))!.growing, false, "half a minute is not yet a trend");
  await r.lpush(key, "{}");
  assert.equal((await read(61_000))!.growing, true, "rose for a minute, never fell");
  await r.rpop(key); // the consumer is back
  assert.equal((await read(70_000))!.growing, false, "a dip clears the warning");
  assert.equal((await watch.read()).has("console"), false, "a log destination has no backlog");
});

Deno.test("createBacklogWatch() keeps the consumers a kind reports and leaves out a destination with none", async () => {
  const watch = createBacklogWatch([
    { name: "queue", read: () => Promise.resolve({ depth: 4, oldestAgeS: null, consumers: 0 }) },
    { name: "unwatched", read: () => Promise.resolve(null) },
  ]);
  const views = await watch.read();
  assert.deepEqual(views.get("queue"), {
    depth: 4,
    oldest_age_s: null,
    consumers: 0,
    growing: false,
    groups: null,
  });
  assert.equal(views.has("unwatched"), false);
});

Deno.test("/api/status, the page and /metrics show each queueing destination's backlog", async () => {
  await using redis = testRedis();
  const routes = parseRoutes({
    destinations: {
      list: { kind: "redis-list", key: `${redis.prefix}list` },
      stream: { kind: "redis-stream", key: `${redis.prefix}stream` },
      console: { kind: "log" },
    },
    rules: [],
  });
  const config = loadConfig({
    VK_TOKEN: "backlog-token",
    VK_GROUP_ID: "1",
    REDIS_URL: TEST_REDIS_URL,
    REDIS_PREFIX: `${redis.prefix}router:`,
  });
  await using router = await buildRouter({ config, routes });
  const items = [0, 1].map((i) => ({
    eventId: `e${i}`,
    eventType: "message_new",
    body: JSON.stringify({ ts: Math.floor(Date.now() / 1000) - 90 }),
  }));
  for (const name of ["list", "stream"]) {
    await createSink(routes.destinations.get(name)!, {
      connections: redisConnections(redis.handle.redis),
      prefix: redis.prefix,
    }).deliver(items);
  }
  const status = await (await router.app.request("/api/status")).json();
  const byName = Object.fromEntries(
    status.destinations.map((d: { name: string }) => [d.name, d]),
  );
  assert.equal(byName.list.depth, 2);
  assert.ok(byName.list.oldest_age_s >= 89 && byName.list.oldest_age_s <= 92);
  assert.equal(byName.stream.depth, 2);
  assert.equal(byName.console.depth, null);
  assert.equal(byName.list.backlog_growing, false);
  const page = await (await router.app.request("/")).text();
  assert.match(page, /data-label="waiting">2<div class="muted">oldest 1 min/);
  const metrics = await (await router.app.request("/metrics")).text();
  assert.match(metrics, /vk_router_backlog_depth\{destination="list"\} 2/);
  assert.match(metrics, /vk_router_backlog_depth\{destination="stream"\} 2/);
  assert.match(metrics, /vk_router_backlog_oldest_age_seconds\{destination="list"\} 9\d/);
});

Deno.test("a stream its consumer group reads to the end shows lag 0 and never warns; an unread one does", async () => {
  await using redis = testRedis();
  const r = redis.handle.redis;
  const [read, unread, ungrouped] = ["read", "unread", "ungrouped"].map((n) =>
    `${redis.prefix}${n}`
  ) as [string, string, string];
  const routes = parseRoutes({
    destinations: {
      read: { kind: "redis-stream", key: read },
      unread: { kind: "redis-stream", key: unread },
      ungrouped: { kind: "redis-stream", key: ungrouped },
    },
    rules: [],
  });
  for (const key of [read, unread]) {
    await r.call(["XGROUP", "CREATE", key, "workers", "0", "MKSTREAM"]);
  }
  const clock = { now: 1_000_000 };
  const watch = createBacklogWatch(
    backlogSources([...routes.destinations.values()], redisConnections(r)),
    () => clock.now,
  );
  /** 500 entries more in each stream; the consumer of `read` takes and acknowledges them all. */
  const traffic = async () => {
    for (const key of [read, unread, ungrouped]) {
      await r.pipeline().eval(
        "for i = 1, 500 do redis.call('XADD', KEYS[1], '*', 'event', '{}') end",
        [key],
        [],
      ).exec();
    }
    const taken = await r.call(
      ["XREADGROUP", "GROUP", "workers", "c1", "COUNT", "1000", "STREAMS", read, ">"],
    ) as unknown as [string, [string, string[]][]][];
    const ids = taken[0]![1].map(([id]) => id);
    await r.call(["XACK", read, "workers", ...ids]);
  };
  let views = new Map();
  for (const at of [0, 30_000, 61_000, 90_000]) {
    await traffic();
    clock.now = 1_000_000 + at;
    views = await watch.read();
  }
  assert.equal(await r.xlen(read), 2000, "the entries stay in the stream: XLEN is not the backlog");
  assert.deepEqual(views.get("read"), {
    depth: 0,
    oldest_age_s: null,
    consumers: null,
    growing: false,
    groups: [{ name: "workers", consumers: 1, pending: 0, lag: 0 }],
  });
  const behind = views.get("unread");
  assert.equal(behind.depth, 2000);
  assert.equal(behind.growing, true, "a group nobody reads grows without a dip");
  assert.deepEqual(behind.groups, [{ name: "workers", consumers: 0, pending: 0, lag: 2000 }]);
  const none = views.get("ungrouped");
  assert.deepEqual(
    [none.depth, none.growing, none.groups],
    [2000, false, []],
    "no group: no warning",
  );

  const config = loadConfig({
    VK_TOKEN: "backlog-token",
    VK_GROUP_ID: "1",
    REDIS_URL: TEST_REDIS_URL,
    REDIS_PREFIX: `${redis.prefix}router:`,
  });
  await using router = await buildRouter({ config, routes });
  const status = await (await router.app.request("/api/status")).json();
  const consumed = status.destinations.find((d: { name: string }) => d.name === "read");
  assert.deepEqual([consumed.depth, consumed.backlog_growing, consumed.consumer_groups[0].lag], [
    0,
    false,
    0,
  ]);
  const page = await (await router.app.request("/")).text();
  assert.match(page, /workers: lag 0 · pending 0 · 1 consumer/);
  assert.match(page, /no consumer group/);
  assert.doesNotMatch(page, /keeps growing/);
});
