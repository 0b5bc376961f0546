/** The state store's login sessions, the same cases for every store kind and transport. */
import { redisKeys } from "../src/redis/keys.ts";
import assert from "node:assert/strict";
import { connectRedis } from "../src/redis/connection.ts";
import { openKvStore } from "../src/store/kv_store.ts";
import { createRedisStore } from "../src/store/redis_store.ts";
import type { StateStore } from "../src/store/state_store.ts";
import { TEST_REDIS_URL, testRedis } from "./support/redis.ts";
import { startUpstashGateway } from "../dev/upstash_gateway.ts";

const kinds: [string, () => Promise<[StateStore, AsyncDisposable]>][] = [
  ["Deno KV", async () => {
    const dir = await Deno.makeTempDir();
    const store = await openKvStore(dir);
    return [store, {
      async [Symbol.asyncDispose]() {
        await store.close();
        await Deno.remove(dir, { recursive: true });
      },
    }];
  }],
  ["Redis, native", () => {
    const redis = testRedis();
    return Promise.resolve([createRedisStore(redis.handle.redis, redis.prefix), redis]);
  }],
  ["Redis, Upstash REST", () => {
    const redis = testRedis();
    const gateway = startUpstashGateway(TEST_REDIS_URL);
    const handle = connectRedis({ kind: "upstash", url: gateway.url, token: gateway.token });
    return Promise.resolve([createRedisStore(handle.redis, redis.prefix), {
      async [Symbol.asyncDispose]() {
        await gateway.close();
        await redis[Symbol.asyncDispose]();
      },
    }]);
  }],
];

for (const [kind, open] of kinds) {
  Deno.test(`${kind} keeps sessions until they expire or are deleted`, async () => {
    const [store, resources] = await open();
    await using _ = resources;
    assert.equal(await store.hasSession("never-put"), false);
    await store.putSession("a", 60_000);
    await store.putSession("b", 60_000);
    await store.putSession("brief", 100);
    assert.equal(await store.hasSession("a"), true);
    await store.deleteSession("a");
    assert.equal(await store.hasSession("a"), false, "deleted");
    assert.equal(await store.hasSession("b"), true, "the others stay");
    await new Promise((r) => setTimeout(r, 250));
    assert.equal(await store.hasSession("brief"), false, "expired");
    await store.deleteSession("not-there"); // no error
  });
}

Deno.test("Redis sessions live under the prefix and expire in Redis itself", async () => {
  await using redis = testRedis();
  const store = createRedisStore(redis.handle.redis, redis.prefix);
  await store.putSession("k", 60_000);
  const ttl = await redis.handle.redis.call([
    "PTTL",
    redisKeys(redis.prefix).session("k"),
  ]) as number;
  assert.ok(ttl > 55_000 && ttl <= 60_000, `PTTL ${ttl}`);
});
