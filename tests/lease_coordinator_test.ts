/**
 * Holding a lease (renewal, the watchdog that gives up before expiry, release) and the
 * coordinator that runs each community's work under its lease: handover on a graceful
 * stop, takeover after a crash, a refused fenced write, and leases spread over replicas.
 */
import assert from "node:assert/strict";
import { createLeaseCoordinator, type LeaseObserver } from "../src/lease/coordinator.ts";
import { leasedStore } from "../src/lease/fencing.ts";
import { holdLease, LeaseLostError, type LossReason } from "../src/lease/hold.ts";
import { createLeaseClient, instanceOf, type LeaseClient } from "../src/lease/lease.ts";
import { connectRedis } from "../src/redis/connection.ts";
import { redisKeys } from "../src/redis/keys.ts";
import { createRedisStore } from "../src/store/redis_store.ts";
import { startFreezingProxy } from "./support/freezing_proxy.ts";
import { TEST_REDIS_URL, testRedis } from "./support/redis.ts";
import { redisCommands } from "./support/redis_commands.ts";
import { waitFor } from "./support/wait.ts";

const report = (line: string) => Deno.stderr.writeSync(new TextEncoder().encode(`${line}\n`));

const aborted = (signal: AbortSignal) =>
  new Promise<unknown>((resolve) =>
    signal.aborted
      ? resolve(signal.reason)
      : signal.addEventListener("abort", () => resolve(signal.reason), { once: true })
  );

/** A client that only records releases (the watchdog tests need nothing else). */
function releasingClient() {
  const released: string[] = [];
  const client = {
    release: (_: number, owner: string) => (released.push(owner), Promise.resolve(true)),
  };
  return { client, released };
}

Deno.test("batched renewal under a Redis that hangs: every held lease's watchdog stops its work before the TTL", async () => {
  await using redis = testRedis();
  await using proxy = startFreezingProxy(TEST_REDIS_URL);
  const through = connectRedis({ kind: "native", url: proxy.url }, { timeoutMs: 60_000 });
  const ttlMs = 600;
  const client = createLeaseClient({ redis: through.redis, prefix: redis.prefix, ttlMs });
  const a = replica("replica-a", client, [1, 2, 3], ttlMs);
  const done = [1, 2, 3].map((g) => a.run(g));
  await waitFor(() => a.coordinator.held.size === 3, "replica-a to hold all three");
  await new Promise((r) => setTimeout(r, 2 * ttlMs));
  assert.equal(a.events.lost.length, 0, "renewed in batches past two TTLs");
  const frozenAt = performance.now();
  proxy.freeze(true);
  await waitFor(() => a.runs.every((r) => r.end !== null), "every work to stop", 5_000);
  const stopped = a.runs.map((r) => r.end! - frozenAt);
  report(
    `Redis hangs: the works stopped after ${
      stopped.map(Math.round).join(", ")
    } ms (TTL ${ttlMs} ms)`,
  );
  assert.deepEqual(a.events.lost, ["expired", "expired", "expired"]);
  for (const ms of stopped) assert.ok(ms < ttlMs, `stopped before the TTL ran out: ${ms} ms`);
  a.stop.abort();
  await Promise.all(done);
  proxy.freeze(false);
  await a.coordinator.close();
  await through.close();
});

Deno.test("HeldLease.check() refuses as soon as the last renewal is older than TTL - margin", async () => {
  let now = 0;
  const { client, released } = releasingClient();
  const lease = holdLease({
    client,
    groupId: 1,
    owner: "a#1",
    fence: 3,
    ttlMs: 10_000,
    acquiredAt: 0,
    now: () => now,
  });
  now = 5_000;
  lease.renewed(3_000);
  now = 11_000; // the limit: 3 s + 10 s - 2 s margin
  lease.check();
  assert.equal(lease.signal.aborted, false);
  now = 11_001;
  assert.throws(() => lease.check(), (e) => e instanceof LeaseLostError && e.reason === "expired");
  assert.equal(lease.signal.aborted, true);
  await lease.end();
  assert.deepEqual(released, [], "a lost lease is not released: it may be another's by now");
});

Deno.test("a tick that finds another owner loses the lease; held ones stay past their TTL, and a stop releases them", async () => {
  await using redis = testRedis();
  using raw = redisCommands();
  const ttlMs = 600;
  const client = createLeaseClient({ redis: redis.handle.redis, prefix: redis.prefix, ttlMs });
  const a = replica("replica-a", client, [4, 5], ttlMs);
  const done = [4, 5].map((g) => a.run(g));
  await waitFor(() => a.coordinator.held.size === 2, "replica-a to hold both");
  await raw.send("SET", redisKeys(redis.prefix).lease(4), "intruder#1", "PX", "60000");
  await waitFor(() => a.events.lost.length === 1, "the loss");
  assert.deepEqual(a.events.lost, ["taken"]);
  await new Promise((r) => setTimeout(r, 1500));
  const owner = String(await raw.send("GET", redisKeys(redis.prefix).lease(5)));
  assert.equal(instanceOf(owner), "replica-a", "held 1.5 s on a 600 ms TTL");
  a.stop.abort();
  await Promise.all(done);
  assert.equal(
    await raw.send("GET", redisKeys(redis.prefix).lease(5)),
    null,
    "released at the stop",
  );
  await a.coordinator.close();
});

/** A replica: a coordinator plus a log of when its work ran, per community. */
function replica(
  id: string,
  client: LeaseClient,
  communities: readonly number[],
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
    tick: (...a) => guard(() => client.tick(...a)),
    release: (...a) => guard(() => client.release(...a)),
    leave: (...a) => guard(() => client.leave(...a)),
  };
  return { client: wrapped, state };
}

Deno.test("a graceful stop hands the lease over at once; a crash after the TTL, never overlapping", async (t) => {
  await using redis = testRedis();
  const ttlMs = 1000;
  const client = createLeaseClient({ redis: redis.handle.redis, prefix: redis.prefix, ttlMs });
  const partition = cuttable(client);
  const a = replica("replica-a", client, [1], ttlMs);
  const b = replica("replica-b", partition.client, [1], ttlMs);
  // Community 1 ranks replica-b above replica-z, so that only a crash moves it to replica-z.
  const c = replica("replica-z", client, [1], ttlMs);

  const aDone = a.run(1);
  await waitFor(() => a.runs.length === 1, "replica-a to hold the lease");
  const bDone = b.run(1);
  await waitFor(() => b.events.standby.includes("replica-a"), "replica-b to stand by");

  await t.step("graceful: B takes over within its standby interval, not a takeover", async () => {
    a.stop.abort();
    await aDone;
    await a.coordinator.close(); // as the service does: its leases released, it leaves
    await waitFor(() => b.runs.length === 1, "replica-b to take over");
    const handover = b.runs[0]!.start - a.runs[0]!.end!;
    report(`graceful handover: ${Math.round(handover)} ms`);
    assert.ok(handover >= 0, "B started after A stopped");
    assert.deepEqual(b.events.acquired, [false]);
    assert.deepEqual(a.events.lost, []);
  });

  await t.step("crash: B, cut off from Redis, stops before C can take over", async () => {
    const cDone = c.run(1);
    await waitFor(() => c.events.standby.includes("replica-b"), "replica-z to stand by");
    partition.state.cut = true;
    await waitFor(() => c.runs.length === 1, "replica-z to take over", 20_000);
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
  const a = replica("replica-a", client, [3], ttlMs);
  let refused: unknown = null;
  const done = a.coordinator.run(3, async (lease, signal) => {
    const fenced = leasedStore(store, lease);
    await fenced.setCheckpoint(3, "10");
    // Another holder appears (as after a pause): its acquisition bumped the token.
    await raw.send("HINCRBY", redisKeys(redis.prefix).fence(3), "token", "1");
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

Deno.test("leases spread over replicas: the assignment moves leases to a joining replica", async () => {
  await using redis = testRedis();
  const ttlMs = 600;
  const client = createLeaseClient({ redis: redis.handle.redis, prefix: redis.prefix, ttlMs });
  const groups = [1, 2, 3, 4];
  const a = replica("replica-a", client, groups, ttlMs);
  const aDone = groups.map((g) => a.run(g));
  await waitFor(() => a.coordinator.held.size === 4, "replica-a alone to take all four");
  const b = replica("replica-b", client, groups, ttlMs);
  const bDone = groups.map((g) => b.run(g));
  await waitFor(
    () => a.coordinator.held.size === 2 && b.coordinator.held.size === 2,
    "two leases each",
    30_000,
  );
  const c = replica("replica-c", client, groups, ttlMs);
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
