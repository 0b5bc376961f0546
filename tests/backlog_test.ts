/**
 * Backlog of the queueing destinations: how many items wait and how old the oldest is,
 * read cheaply (a length and one item).
 */
import assert from "node:assert/strict";
import { parseRoutes } from "../src/config/routes.ts";
import { createSink, destinationBacklog } from "../src/deliver/kinds/registry.ts";
import { testRedis } from "./support/redis.ts";

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
    destinationBacklog(routes.destinations.get(name)!, r) ?? Promise.resolve(null);

  assert.deepEqual(await backlog("left"), { depth: 0, oldestAgeS: null }, "empty");
  for (const name of ["left", "right", "stream"]) {
    await createSink(routes.destinations.get(name)!, { redis: r, prefix: redis.prefix })
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
    destinationBacklog(routes.destinations.get("hook")!, r),
    null,
    "webhooks queue nothing",
  );
});
