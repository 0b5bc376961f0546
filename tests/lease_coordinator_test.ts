/**
 * Holding a lease (renewal, the watchdog that gives up before expiry, release) and the
 * coordinator that runs each community's work under its lease: handover on a graceful
 * stop, takeover after a crash, a refused fenced write, and leases spread over replicas.
 */
import assert from "node:assert/strict";
import { createLeaseCoordinator, type LeaseObserver } from "../src/lease/coordinator.ts";
import { leasedStore } from "../src/lease/fencing.ts";
import { holdLease, LeaseLostError, type LossReason } from "../src/lease/hold.ts";
import { createLeaseClient, fenceKey, type LeaseClient } from "../src/lease/lease.ts";
import { connectRedis } from "../src/redis/connection.ts";
import { createRedisStore } from "../src/store/redis_store.ts";
import { testRedis } from "./support/redis.ts";
import { redisCommands } from "./support/redis_commands.ts";
import { waitFor } from "./support/wait.ts";

const report = (line: string) => Deno.stderr.writeSync(new TextEncoder().encode(`${line}\n`));

const aborted = (signal: AbortSignal) =>
  new Promise<unknown>((resolve) =>
    signal.aborted
      ? resolve(signal.reason)
      : signal.addEventListener("abort", () => resolve(signal.reason), { once: true })
  );

/** A client that answers like a healthy Redis, records releases, and renews as told. */
function fakeClient(renew: () => Promise<boolean>) {
  const released: string[] = [];
  const client: LeaseClient = {
    acquire: () => Promise.reject(new Error("not used")),
    renew,
    release: (_, owner) => (released.push(owner), Promise.resolve(true)),
    holder: () => Promise.resolve(null),
    heartbeat: () => Promise.resolve({ live: 1, fewestLeases: 0 }),
    leave: () => Promise.resolve(),
  };
  return { client, released };
}

Deno.test("holdLease() gives the lease up on its own timer when Redis hangs, before the TTL runs out", async () => {
  // A server that takes connections and never answers: every renewal hangs.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const connections: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) connections.push(conn);
  })();
  const hanging = connectRedis({
    kind: "native",
    url: `redis://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
  }, { timeoutMs: 60_000 });
  const ttlMs = 600;
  const start = performance.now();
  const lease = holdLease({
    client: createLeaseClient({ redis: hanging.redis, prefix: "hang:", ttlMs }),
    groupId: 1,
    owner: "a#1",
    fence: 1,
    ttlMs,
    acquiredAt: start,
  });
  const reason = await aborted(lease.signal);
  const after = performance.now() - start;
  assert.ok(reason instanceof LeaseLostError && reason.reason === "expired", String(reason));
  assert.ok(after >= ttlMs * 0.8 - 2, `not before TTL - margin: ${after} ms`);
  assert.throws(() => lease.check(), LeaseLostError);
  await lease.end();
  await hanging.close();
  listener.close();
  await accepting;
  for (const conn of connections) conn.close();
});

Deno.test("HeldLease.check() refuses as soon as the last renewal is older than TTL - margin", async () => {
  let now = 0;
  const { client, released } = fakeClient(() => Promise.resolve(true));
  const lease = holdLease({
    client,
    groupId: 1,
    owner: "a#1",
    fence: 3,
    ttlMs: 10_000,
    acquiredAt: 0,
    now: () => now,
  });
  now = 8_000; // the limit: 10 s - 2 s margin
  lease.check();
  assert.equal(lease.signal.aborted, false);
  now = 8_001;
  assert.throws(() => lease.check(), (e) => e instanceof LeaseLostError && e.reason === "expired");
  assert.equal(lease.signal.aborted, true);
  await lease.end();
  assert.deepEqual(released, [], "a lost lease is not released: it may be another's by now");
});

Deno.test("holdLease() loses the lease when a renewal finds another owner", async () => {
  const { client } = fakeClient(() => Promise.resolve(false));
  const lost: LeaseLostError[] = [];
  const lease = holdLease({
    client,
    groupId: 4,
    owner: "a#1",
    fence: 1,
    ttlMs: 300,
    acquiredAt: performance.now(),
    onLost: (e) => lost.push(e),
  });
  const reason = await aborted(lease.signal);
  assert.ok(reason instanceof LeaseLostError && reason.reason === "taken");
  assert.equal(lost.length, 1);
  await lease.end();
});

Deno.test("holdLease() keeps the lease in Redis past its TTL, and end() releases it", async () => {
  await using redis = testRedis();
  const client = createLeaseClient({ redis: redis.handle.redis, prefix: redis.prefix, ttlMs: 600 });
  const got = await client.acquire(5, "a#1");
  assert.ok(got.acquired);
  const lease = holdLease({
    client,
    groupId: 5,
    owner: "a#1",
    fence: got.fence,
    ttlMs: 600,
    acquiredAt: performance.now(),
  });
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(lease.signal.aborted, false);
  assert.equal(await client.holder(5), "a#1");
  await lease.end();
  assert.equal(await client.holder(5), null);
});

/** A replica: a coordinator plus a log of when its work ran, per community. */
function replica(
  id: string,
  client: LeaseClient,
  communities: number,
  ttlMs: number,
) {
  const events = { acquired: [] as boolean[], lost: [] as LossReason[], standby: [] as string[] };
  const observer: LeaseObserver = {
    acquired: (_, __, takeover) => events.acquired.push(takeover),
    lost: (_, reason) => events.lost.push(reason),
    standby: (_, holder) => events.standby.push(String(holder)),
  };
  const coordinator = createLeaseCoordinator({
    client,
    instanceId: id,
    communities,
    ttlMs,
    observer,
  });
  const runs: { groupId: number; start: number; end: number | null }[] = [];
  const stop = new AbortController();
  const run = (groupId: number, work?: (signal: AbortSignal) => Promise<void>) =>
    coordinator.run(groupId, async (_lease, signal) => {
      const entry = { groupId, start: performance.now(), end: null as number | null };
      runs.push(entry);
      try {
        await (work ? work(signal) : aborted(signal));
      } finally {
        entry.end = performance.now();
      }
    }, stop.signal);
  return { id, coordinator, events, runs, stop, run };
}

/** A lease client whose every call fails while `cut` is set: a process partitioned from Redis. */
function cuttable(client: LeaseClient) {
  const state = { cut: false };
  const guard = <T>(call: () => Promise<T>) =>
    state.cut ? Promise.reject(new Error("partitioned")) : call();
  const wrapped: LeaseClient = {
    acquire: (...a) => guard(() => client.acquire(...a)),
    renew: (...a) => guard(() => client.renew(...a)),
    release: (...a) => guard(() => client.release(...a)),
    holder: (...a) => guard(() => client.holder(...a)),
    heartbeat: (...a) => guard(() => client.heartbeat(...a)),
    leave: (...a) => guard(() => client.leave(...a)),
  };
  return { client: wrapped, state };
}

Deno.test("a graceful stop hands the lease over at once; a crash after the TTL, never overlapping", async (t) => {
  await using redis = testRedis();
  const ttlMs = 1000;
  const client = createLeaseClient({ redis: redis.handle.redis, prefix: redis.prefix, ttlMs });
  const partition = cuttable(client);
  const a = replica("replica-a", client, 1, ttlMs);
  const b = replica("replica-b", partition.client, 1, ttlMs);
  const c = replica("replica-c", client, 1, ttlMs);

  const aDone = a.run(1);
  await waitFor(() => a.runs.length === 1, "replica-a to hold the lease");
  const bDone = b.run(1);
  await waitFor(() => b.events.standby.includes("replica-a"), "replica-b to stand by");

  await t.step("graceful: B takes over within its standby interval, not a takeover", async () => {
    a.stop.abort();
    await aDone;
    await waitFor(() => b.runs.length === 1, "replica-b to take over");
    const handover = b.runs[0]!.start - a.runs[0]!.end!;
    report(`graceful handover: ${Math.round(handover)} ms`);
    assert.ok(handover >= 0, "B started after A stopped");
    assert.deepEqual(b.events.acquired, [false]);
    assert.deepEqual(a.events.lost, []);
    await a.coordinator.close();
  });

  await t.step("crash: B, cut off from Redis, stops before C can take over", async () => {
    const cDone = c.run(1);
    await waitFor(() => c.events.standby.includes("replica-b"), "replica-c to stand by");
    partition.state.cut = true;
    await waitFor(() => c.runs.length === 1, "replica-c to take over", 20_000);
    assert.deepEqual(b.events.lost, ["expired"]);
    assert.ok(b.runs[0]!.end !== null && b.runs[0]!.end <= c.runs[0]!.start, "no overlap");
    assert.deepEqual(c.events.acquired, [true], "a takeover: B did not release");
    b.stop.abort();
    c.stop.abort();
    await Promise.all([bDone, cDone]);
    await b.coordinator.close();
    await c.coordinator.close();
  });
});

Deno.test("a refused fenced checkpoint write is a lost lease: the work stops, the replica stands by", async () => {
  await using redis = testRedis();
  using raw = redisCommands();
  const ttlMs = 1000;
  const client = createLeaseClient({ redis: redis.handle.redis, prefix: redis.prefix, ttlMs });
  const store = createRedisStore(redis.handle.redis, redis.prefix);
  const a = replica("replica-a", client, 1, ttlMs);
  let refused: unknown = null;
  const done = a.coordinator.run(3, async (lease, signal) => {
    const fenced = leasedStore(store, lease);
    await fenced.setCheckpoint(3, "10");
    // Another holder appears (as after a pause): its acquisition bumped the token.
    await raw.send("HINCRBY", fenceKey(redis.prefix, 3), "token", "1");
    refused = await fenced.setCheckpoint(3, "5").catch((e) => e);
    assert.equal(signal.aborted, true, "the lease's signal aborted at once");
  }, a.stop.signal);
  await waitFor(() => a.events.lost.length === 1, "the loss");
  a.stop.abort();
  await done;
  await a.coordinator.close();
  assert.equal((refused as Error)?.name, "FenceError");
  assert.deepEqual(a.events.lost, ["fenced"]);
  assert.equal(await store.getCheckpoint(3), "10");
});

Deno.test("leases spread over replicas: a replica above its fair share hands leases over", async () => {
  await using redis = testRedis();
  const ttlMs = 600;
  const client = createLeaseClient({ redis: redis.handle.redis, prefix: redis.prefix, ttlMs });
  const groups = [1, 2, 3, 4];
  const a = replica("replica-a", client, groups.length, ttlMs);
  const aDone = groups.map((g) => a.run(g));
  await waitFor(() => a.coordinator.held.size === 4, "replica-a alone to take all four");
  const b = replica("replica-b", client, groups.length, ttlMs);
  const bDone = groups.map((g) => b.run(g));
  await waitFor(
    () => a.coordinator.held.size === 2 && b.coordinator.held.size === 2,
    "two leases each",
    30_000,
  );
  const c = replica("replica-c", client, groups.length, ttlMs);
  const cDone = groups.map((g) => c.run(g));
  const counts = () => [a, b, c].map((r) => r.coordinator.held.size).sort();
  await waitFor(
    () => counts().join() === "1,1,2",
    "leases spread 2, 1, 1 among three replicas",
    30_000,
  );
  for (const r of [a, b, c]) r.stop.abort();
  await Promise.all([...aDone, ...bDone, ...cDone]);
  for (const r of [a, b, c]) await r.coordinator.close();
  // No community ever ran on two replicas at once.
  const runs = [a, b, c].flatMap((r) => r.runs);
  for (const g of groups) {
    const spans = runs.filter((r) => r.groupId === g).sort((x, y) => x.start - y.start);
    for (let i = 1; i < spans.length; i++) {
      assert.ok(spans[i - 1]!.end! <= spans[i]!.start, `community ${g} ran twice at once`);
    }
  }
});
