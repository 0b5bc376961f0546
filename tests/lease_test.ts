/**
 * The lease operations and the fenced checkpoint write, against the real Redis over both
 * transports (native RESP, and Upstash REST through the test gateway).
 */
import assert from "node:assert/strict";
import {
  createLeaseClient,
  fenceKey,
  instanceOf,
  leaseKey,
  ownerToken,
} from "../src/lease/lease.ts";
import { connectRedis } from "../src/redis/connection.ts";
import { createRedisStore, FENCED_SET_SCRIPT, isStaleFence } from "../src/store/redis_store.ts";
import { FenceError } from "../src/store/state_store.ts";
import { deleteKeys, TEST_REDIS_URL, testRedis } from "./support/redis.ts";
import { redisCommands } from "./support/redis_commands.ts";
import { startUpstashGateway } from "./support/upstash_gateway.ts";

const transports = {
  native: () => {
    const handle = connectRedis({ kind: "native", url: TEST_REDIS_URL });
    return { redis: handle.redis, close: () => handle.close() };
  },
  upstash: () => {
    const gateway = startUpstashGateway(TEST_REDIS_URL);
    const handle = connectRedis({ kind: "upstash", url: gateway.url, token: gateway.token });
    return { redis: handle.redis, close: () => gateway.close() };
  },
};

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const [transport, open] of Object.entries(transports)) {
  Deno.test(`leases over ${transport}: acquire, renew, expire, release only by the owner, fences grow`, async (t) => {
    await using admin = testRedis();
    using raw = redisCommands();
    const { redis, close } = open();
    const prefix = admin.prefix;
    const leases = createLeaseClient({ redis, prefix, ttlMs: 1000 });
    const a = ownerToken("replica-a");
    const b = ownerToken("replica-b");
    try {
      await t.step("the first process acquires, with fence 1 and no previous holder", async () => {
        assert.deepEqual(await leases.acquire(7, a), { acquired: true, fence: 1, previous: null });
        assert.equal(await leases.holder(7), a);
        const pttl = Number(await raw.send("PTTL", leaseKey(prefix, 7)));
        assert.ok(pttl > 0 && pttl <= 1000, `the lease has the TTL: ${pttl}`);
      });
      await t.step("another process cannot, and learns who holds it", async () => {
        assert.deepEqual(await leases.acquire(7, b), { acquired: false, holder: a });
        assert.equal(instanceOf(a), "replica-a");
      });
      await t.step("the owner renews it past its first TTL; another cannot", async () => {
        for (let i = 0; i < 4; i++) {
          await wait(300);
          assert.equal(await leases.renew(7, a), true);
        }
        assert.equal(await leases.renew(7, b), false);
        assert.equal(await leases.holder(7), a, "held 1.2 s on a 1 s TTL");
      });
      await t.step(
        "unrenewed, it expires and the next holder takes it over with a newer fence",
        async () => {
          await wait(1200);
          assert.equal(await leases.holder(7), null);
          assert.deepEqual(await leases.acquire(7, b), { acquired: true, fence: 2, previous: a });
          assert.equal(await leases.renew(7, a), false, "the old owner cannot renew");
        },
      );
      await t.step(
        "release: refused to a non-owner, done by the owner, not a takeover then",
        async () => {
          assert.equal(await leases.release(7, a), false);
          assert.equal(await leases.holder(7), b);
          assert.equal(await leases.release(7, b), true);
          assert.equal(await leases.holder(7), null);
          assert.deepEqual(await leases.acquire(7, a), {
            acquired: true,
            fence: 3,
            previous: null,
          });
        },
      );
      await t.step(
        "a restarted replica (same instance id) takes its own lease back at once",
        async () => {
          const restarted = ownerToken("replica-a");
          assert.deepEqual(await leases.acquire(7, restarted), { acquired: false, holder: a });
          assert.deepEqual(await leases.acquire(7, restarted, "replica-a"), {
            acquired: true,
            fence: 4,
            previous: a,
          });
          assert.deepEqual(await leases.acquire(7, b, "replica-b"), {
            acquired: false,
            holder: restarted,
          });
          assert.equal(await leases.renew(7, a), false, "the earlier life cannot renew");
        },
      );
      await t.step("leases of communities are independent", async () => {
        assert.deepEqual(await leases.acquire(8, b), { acquired: true, fence: 1, previous: null });
      });
      await t.step(
        "heartbeats count the live instances and their leases, and forget the silent",
        async () => {
          assert.deepEqual(await leases.heartbeat("replica-a", 1000, 3), {
            live: 1,
            fewestLeases: 3,
          });
          assert.deepEqual(await leases.heartbeat("replica-b", 1000, 1), {
            live: 2,
            fewestLeases: 1,
          });
          assert.deepEqual(await leases.heartbeat("replica-a", 1000, 2), {
            live: 2,
            fewestLeases: 1,
          });
          await wait(1100);
          assert.deepEqual(await leases.heartbeat("replica-b", 1000, 4), {
            live: 1,
            fewestLeases: 4,
          });
          await leases.leave("replica-b");
          const left = await raw.send("EXISTS", `${prefix}instances`, `${prefix}instances:leases`);
          assert.equal(left, 0, "the last instance left no heartbeat behind");
        },
      );
    } finally {
      await close();
    }
  });

  Deno.test(`fenced checkpoint writes over ${transport}: refused once a newer holder exists`, async () => {
    await using admin = testRedis();
    const { redis, close } = open();
    const prefix = admin.prefix;
    const leases = createLeaseClient({ redis, prefix, ttlMs: 200 });
    const store = createRedisStore(redis, prefix);
    try {
      const first = await leases.acquire(9, ownerToken("old"));
      assert.ok(first.acquired);
      await store.setCheckpoint(9, "100", first.fence);
      assert.equal(await store.getCheckpoint(9), "100");
      await wait(300);
      const second = await leases.acquire(9, ownerToken("new"));
      assert.ok(second.acquired && second.fence > first.fence);
      await store.setCheckpoint(9, "150", second.fence);
      await assert.rejects(
        () => store.setCheckpoint(9, "120", first.fence),
        (e) => e instanceof FenceError && /community 9: fence 1 is stale/.test(e.message),
      );
      assert.equal(await store.getCheckpoint(9), "150", "the paused owner moved nothing back");
      await assert.rejects(() => store.setCheckpoint(9, "200", first.fence), FenceError);
      assert.equal(await store.getCheckpoint(9), "150", "nor forward");
      await store.setCheckpoint(9, "160");
      assert.equal(await store.getCheckpoint(9), "160", "an unfenced write (no lease) still works");
    } finally {
      await close();
      await deleteKeys(admin.handle, prefix);
    }
  });
}

Deno.test("FENCED_SET_SCRIPT writes only with the last token issued, and fails otherwise", async () => {
  await using admin = testRedis();
  using raw = redisCommands();
  const key = `${admin.prefix}checkpoint:1`;
  const fence = fenceKey(admin.prefix, 1);
  const set = (value: string, token: number) =>
    raw.send("EVAL", FENCED_SET_SCRIPT.source, "2", key, fence, value, String(token));
  await assert.rejects(() => set("a", 1), isStaleFence, "no token issued yet: none is current");
  await raw.send("HSET", fence, "token", "5");
  await assert.rejects(() => set("b", 4), /STALE_FENCE fence 4, last issued 5/);
  assert.equal(await raw.send("GET", key), null, "a refused write writes nothing");
  assert.equal(await set("c", 5), 1);
  assert.equal(await raw.send("GET", key), "c");
  await raw.send("HINCRBY", fence, "token", "1");
  await assert.rejects(() => set("d", 5), isStaleFence, "refused once a newer token exists");
  assert.equal(await raw.send("GET", key), "c");
});
