/**
 * The lease operations and the fenced checkpoint write, against the real Redis over both
 * transports (native RESP, and Upstash REST through the test gateway).
 */
import assert from "node:assert/strict";
import { createLeaseClient, instanceOf, ownerToken, type TickAction } from "../src/lease/lease.ts";
import { connectRedis } from "../src/redis/connection.ts";
import { redisKeys } from "../src/redis/keys.ts";
import { createRedisStore, FENCED_SET_SCRIPT, isStaleFence } from "../src/store/redis_store.ts";
import { FenceError } from "../src/store/state_store.ts";
import { deleteKeys, TEST_REDIS_URL, testRedis } from "./support/redis.ts";
import { redisCommands } from "./support/redis_commands.ts";
import { startUpstashGateway } from "../dev/upstash_gateway.ts";

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
  Deno.test(`leases over ${transport}: one tick acquires, renews, reads; expiry, release, fences`, async (t) => {
    await using admin = testRedis();
    using raw = redisCommands();
    const { redis, close } = open();
    const prefix = admin.prefix;
    const leases = createLeaseClient({ redis, prefix, ttlMs: 1000 });
    const a = ownerToken("replica-a");
    const b = ownerToken("replica-b");
    const tickA = (actions: [number, TickAction][]) => leases.tick("replica-a", a, actions);
    const tickB = (actions: [number, TickAction][]) => leases.tick("replica-b", b, actions);
    const free = { holder: null, fence: null, previous: null };
    try {
      await t.step("the first process acquires, with fence 1 and no previous holder", async () => {
        const tick = await tickA([[7, "acquire"], [8, "read"]]);
        assert.deepEqual(tick.leases, [{ holder: a, fence: 1, previous: null }, free]);
        assert.deepEqual(tick.replicas.map((r) => r.instanceId), ["replica-a"]);
        const pttl = Number(await raw.send("PTTL", redisKeys(prefix).lease(7)));
        assert.ok(pttl > 0 && pttl <= 1000, `the lease has the TTL: ${pttl}`);
      });
      await t.step("another process cannot, and learns who holds it", async () => {
        const tick = await tickB([[7, "acquire"]]);
        assert.deepEqual(tick.leases, [{ holder: a, fence: null, previous: null }]);
        assert.deepEqual(tick.replicas.map((r) => r.instanceId).sort(), ["replica-a", "replica-b"]);
        assert.equal(instanceOf(a), "replica-a");
      });
      await t.step("the owner renews it past its first TTL; another cannot", async () => {
        for (let i = 0; i < 4; i++) {
          await wait(300);
          assert.equal((await tickA([[7, "renew"]])).leases[0]!.holder, a);
        }
        assert.equal((await tickB([[7, "renew"]])).leases[0]!.holder, a);
        assert.equal(
          await raw.send("GET", redisKeys(prefix).lease(7)),
          a,
          "held 1.2 s on a 1 s TTL",
        );
      });
      await t.step(
        "unrenewed, it expires and the next holder takes it over with a newer fence",
        async () => {
          await wait(1200);
          const tick = await tickB([[7, "acquire"]]);
          assert.deepEqual(tick.leases, [{ holder: b, fence: 2, previous: a }]);
          assert.deepEqual(tick.replicas.map((r) => r.instanceId), ["replica-b"], "a is gone");
          assert.equal((await tickA([[7, "renew"]])).leases[0]!.holder, b, "a cannot renew");
        },
      );
      await t.step(
        "release: refused to a non-owner, done by the owner, not a takeover then",
        async () => {
          assert.equal(await leases.release(7, a), false);
          assert.equal(await raw.send("GET", redisKeys(prefix).lease(7)), b);
          assert.equal(await leases.release(7, b), true);
          assert.equal(await raw.send("GET", redisKeys(prefix).lease(7)), null);
          assert.deepEqual((await tickA([[7, "acquire"]])).leases, [
            { holder: a, fence: 3, previous: null },
          ]);
        },
      );
      await t.step(
        "a restarted replica (same instance id) takes its own lease back at once",
        async () => {
          const restarted = ownerToken("replica-a");
          const again = (action: TickAction) => leases.tick("replica-a", restarted, [[7, action]]);
          assert.deepEqual((await again("acquire")).leases[0]!.fence, null);
          assert.deepEqual((await again("reclaim")).leases, [
            { holder: restarted, fence: 4, previous: a },
          ]);
          assert.deepEqual((await leases.tick("replica-b", b, [[7, "reclaim"]])).leases, [
            { holder: restarted, fence: null, previous: null },
          ]);
          assert.equal((await tickA([[7, "renew"]])).leases[0]!.holder, restarted);
        },
      );
      await t.step("leases of communities are independent", async () => {
        assert.deepEqual((await tickB([[8, "acquire"]])).leases, [
          { holder: b, fence: 1, previous: null },
        ]);
      });
      await t.step(
        "ticks keep when each replica joined, forget the silent, and leave cleans up",
        async () => {
          const first = await tickA([]);
          const joinedA = first.replicas.find((r) => r.instanceId === "replica-a")!.joinedAt;
          await wait(400);
          const later = await tickA([]);
          assert.equal(later.replicas.find((r) => r.instanceId === "replica-a")!.joinedAt, joinedA);
          assert.ok(later.now - joinedA >= 400, "joined stays the first heartbeat's time");
          await wait(1100);
          const alone = await tickB([]);
          assert.deepEqual(alone.replicas.map((r) => r.instanceId), ["replica-b"]);
          await leases.leave("replica-b");
          const left = await raw.send("EXISTS", `${prefix}instances`, `${prefix}instances:joined`);
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
      const acquire = async (owner: string) =>
        (await leases.tick(owner, ownerToken(owner), [[9, "acquire"]])).leases[0]!.fence!;
      const first = { fence: await acquire("old") };
      await store.setCheckpoint(9, "100", first.fence);
      assert.equal(await store.getCheckpoint(9), "100");
      await wait(300);
      const second = { fence: await acquire("new") };
      assert.ok(second.fence > first.fence);
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
  const fence = redisKeys(admin.prefix).fence(1);
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
