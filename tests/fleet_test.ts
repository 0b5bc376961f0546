/**
 * A fleet of real replicas sharing a few dozen communities (one token, short TTLs): the
 * spread is fair (max - min <= 2) within 2 TTLs of a cold start, a join, a graceful leave
 * and a SIGKILL; a join or a leave moves only what the assignment must move; no community
 * is ever polled by two replicas at once; the settings check runs once per community for
 * the fleet and shows on every replica's page; and an idle replica's Redis commands do not
 * depend on how many communities there are.
 */
import assert from "node:assert/strict";
import { assign } from "../src/lease/assignment.ts";
import { instanceOf } from "../src/lease/lease.ts";
import { redisKeys } from "../src/redis/keys.ts";
import { getJson, overlaps, setupCluster } from "./support/cluster.ts";
import { startFakeVk } from "./support/fake_vk.ts";
import { startFreezingProxy } from "./support/freezing_proxy.ts";
import { TEST_REDIS_URL, testRedis } from "./support/redis.ts";
import { redisCommands } from "./support/redis_commands.ts";
import { monitorRedis } from "./support/redis_monitor.ts";
import { waitFor } from "./support/wait.ts";
import { REPORT_EVERY_MS } from "../src/status/fleet.ts";

const C = 24;
const TTL_MS = 2000;
const GROUPS = Array.from({ length: C }, (_, i) => 500 + i);
const report = (line: string) => Deno.stderr.writeSync(new TextEncoder().encode(`${line}\n`));
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test({
  name:
    "a fleet spreads its communities fairly within 2 TTLs of a cold start, a join, a leave and a crash",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using redis = testRedis();
    using raw = redisCommands();
    await using vk = await startFakeVk({
      tokens: Object.fromEntries(GROUPS.map((g) => [g, "replica-token"])),
    });
    // Button presses need an event type the fake's communities have not ticked: a warning each.
    await using cluster = await setupCluster(redis, vk, GROUPS, {}, [
      { when: { event_type: ["button_pressed"] }, to: ["events"] },
    ]);
    const prefix = cluster.routerPrefix;

    /** Who holds each community now (instance ids; null when free). */
    const owners = async () =>
      ((await raw.send("MGET", ...GROUPS.map((g) => redisKeys(prefix).lease(g)))) as (
        | string
        | null
      )[])
        .map((o) => o === null ? null : instanceOf(o));
    /** Owner changes seen while sampling (a move through "free" counts once). */
    const last: (string | null)[] = GROUPS.map(() => null);
    let moves = 0;
    const sample = async () => {
      const now = await owners();
      now.forEach((o, i) => {
        if (o !== null && last[i] !== null && o !== last[i]) moves++;
        if (o !== null) last[i] = o;
      });
      return now;
    };
    /** Waits for every community held and max - min <= 2 over `ids`; answers when, and the counts. */
    const fair = async (ids: string[], what: string) => {
      let counts: number[] = [];
      await waitFor(
        async () => {
          const now = await sample();
          counts = ids.map((id) => now.filter((o) => o === id).length);
          return now.every((o) => o !== null && ids.includes(o)) &&
            Math.max(...counts) - Math.min(...counts) <= 2;
        },
        `a fair spread over ${ids.join(", ")} (${what})`,
        30_000,
      );
      return { at: Date.now(), counts };
    };
    const joinedAt = async (id: string) => {
      await waitFor(
        async () => (await raw.send("HGET", redisKeys(prefix).instancesJoined, id)) !== null,
        `${id} to join`,
      );
      return Date.now();
    };
    /** Communities the assignment moves from one live set to another. */
    const mustMove = (from: string[], to: string[]) => {
      const [a, b] = [assign(GROUPS, from), assign(GROUPS, to)];
      return GROUPS.filter((g) => a.get(g) !== b.get(g)).length;
    };
    const figures: string[] = [];

    // Cold start: three replicas at once.
    for (const id of ["replica-1", "replica-2", "replica-3"]) await cluster.start(id);
    const started = Math.max(
      ...await Promise.all(["replica-1", "replica-2", "replica-3"].map(joinedAt)),
    );
    let ids = ["replica-1", "replica-2", "replica-3"];
    const cold = await fair(ids, "cold start");
    figures.push(`cold start ${cold.at - started} ms (${cold.counts.join("/")})`);
    assert.ok(cold.at - started <= 2 * TTL_MS, `cold start: fair after ${cold.at - started} ms`);
    await pause(TTL_MS); // settled: later moves are the steps' own
    await sample();
    moves = 0;

    // The settings check: once per community in the fleet, by its owner, shown everywhere.
    for (const [id, replica] of cluster.replicas) {
      await waitFor(async () => {
        const [, status] = await getJson(replica, "/api/status");
        return status.communities.every((c: { warnings: string[] }) =>
          c.warnings.length === 1 && c.warnings[0]!.includes("message_event")
        );
      }, `${id} to show every community's settings warning`);
    }
    const checks = vk.calls.get("groups.getLongPollSettings");
    figures.push(`${checks} settings checks`);
    assert.equal(checks, C, "one settings check per community, not per replica");
    // ... and only once every community polls: a start costs VK one call per community.
    const allPolling = Math.max(
      ...GROUPS.map((g) =>
        Math.min(...vk.pollRequests.filter((p) => p.groupId === g).map((p) => p.startedAt))
      ),
    );
    const firstCheck = Math.min(
      ...vk.apiCallTimes.filter((_, i) => vk.apiCallMethods[i] === "groups.getLongPollSettings"),
    );
    figures.push(`first settings check ${firstCheck - allPolling} ms after every community polled`);
    assert.ok(
      firstCheck >= allPolling,
      `a settings check ${allPolling - firstCheck} ms before every community polled`,
    );

    // Idle: the replicas' Redis commands per second (this test sends none meanwhile).
    const idleMs = 4000;
    const sent = await monitorRedis(TEST_REDIS_URL, idleMs);
    const perReplica = sent.length / 3 / (idleMs / 1000);
    const byName = new Map<string, number>();
    for (const c of sent) byName.set(c.name, (byName.get(c.name) ?? 0) + 1);
    const names = [...byName].map(([n, k]) => `${k} ${n}`).join(", ");
    figures.push(`idle ${perReplica.toFixed(2)} Redis commands/s per replica (${names})`);
    // One tick per third of the TTL and one fleet-view report per REPORT_EVERY_MS, whatever
    // C; a cost per community would be C times more.
    assert.ok(
      perReplica <= 3000 / TTL_MS + 1000 / REPORT_EVERY_MS + 0.2,
      `idle commands per replica: ${perReplica}/s (${names})`,
    );

    // Join.
    await cluster.start("replica-4");
    const joined = await joinedAt("replica-4");
    const join = await fair([...ids, "replica-4"], "join");
    const joinMoves = moves;
    const joinMust = mustMove(ids, [...ids, "replica-4"]);
    ids = [...ids, "replica-4"];
    figures.push(
      `join ${join.at - joined} ms (${
        join.counts.join("/")
      }, ${joinMoves} moves, ${joinMust} needed)`,
    );
    assert.ok(join.at - joined <= 2 * TTL_MS, `join: fair after ${join.at - joined} ms`);
    assert.ok(joinMoves <= joinMust, `join: ${joinMoves} moves for ${joinMust} assigned ones`);
    assert.ok(joinMust <= Math.ceil(C / 4) + 2, `the assignment moves little: ${joinMust}`);
    await pause(TTL_MS);
    await sample();
    moves = 0;

    // Graceful leave.
    const leaving = cluster.replicas.get("replica-2")!;
    const left = Date.now();
    assert.equal(await leaving.stop("SIGTERM"), 0);
    cluster.replicas.delete("replica-2");
    ids = ids.filter((id) => id !== "replica-2");
    const leave = await fair(ids, "leave");
    const leaveMust = mustMove([...ids, "replica-2"], ids);
    figures.push(
      `leave ${leave.at - left} ms (${
        leave.counts.join("/")
      }, ${moves} moves, ${leaveMust} needed)`,
    );
    assert.ok(leave.at - left <= 2 * TTL_MS, `leave: fair after ${leave.at - left} ms`);
    assert.ok(moves <= leaveMust, `leave: ${moves} moves for ${leaveMust} assigned ones`);
    await pause(TTL_MS);

    // Crash.
    const victim = cluster.replicas.get("replica-1")!;
    const held = (await owners()).flatMap((o, i) => o === "replica-1" ? [GROUPS[i]!] : []);
    const killed = Date.now();
    victim.child.kill("SIGKILL");
    await victim.exited;
    const deadAt = Date.now();
    cluster.replicas.delete("replica-1");
    ids = ids.filter((id) => id !== "replica-1");
    const crash = await fair(ids, "crash");
    await waitFor(
      () =>
        held.every((g) => vk.pollRequests.some((p) => p.groupId === g && p.startedAt >= deadAt)),
      "every community of the crashed replica to be polled again",
      30_000,
    );
    const polledAgain = Math.max(
      ...held.map((g) =>
        vk.pollRequests.find((p) => p.groupId === g && p.startedAt >= deadAt)!.startedAt
      ),
    ) - killed;
    figures.push(
      `crash ${crash.at - killed} ms (${
        crash.counts.join("/")
      }); ${held.length} polled again after ${polledAgain} ms`,
    );
    assert.ok(crash.at - killed <= 2 * TTL_MS, `crash: fair after ${crash.at - killed} ms`);
    assert.ok(polledAgain <= 2 * TTL_MS + 2000, `crash: polled again after ${polledAgain} ms`);

    report(`fleet of ${C} communities, TTL ${TTL_MS} ms: ${figures.join("; ")}`);
    for (const g of GROUPS) {
      const twice = overlaps(vk.pollRequests.filter((p) => p.groupId === g), Date.now());
      assert.deepEqual(twice.length, 0, `community ${g} was polled by two replicas at once`);
    }
    for (const replica of cluster.replicas.values()) assert.equal(await replica.stop(), 0);
  },
});

Deno.test({
  name:
    "a replica whose Redis hangs stops polling before its leases can expire; the other takes over, never two polls at once",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const groups = GROUPS.slice(0, 6);
    await using redis = testRedis();
    using raw = redisCommands();
    await using vk = await startFakeVk({
      tokens: Object.fromEntries(groups.map((g) => [g, "replica-token"])),
    });
    await using proxy = startFreezingProxy(TEST_REDIS_URL);
    await using cluster = await setupCluster(redis, vk, groups);
    const owners = async () =>
      ((await raw.send("MGET", ...groups.map((g) => redisKeys(cluster.routerPrefix).lease(g)))) as (
        | string
        | null
      )[]).map((o) => o === null ? null : instanceOf(o));
    // replica-a talks to Redis through the proxy, replica-b directly.
    await cluster.start("replica-a", { REDIS_URL: proxy.url });
    await cluster.start("replica-b");
    await waitFor(
      async () => {
        const now = await owners();
        return now.filter((o) => o === "replica-a").length === 3 &&
          now.filter((o) => o === "replica-b").length === 3;
      },
      "three communities each",
      30_000,
    );
    const aHeld = (await owners()).flatMap((o, i) => o === "replica-a" ? [groups[i]!] : []);
    await pause(TTL_MS); // polling, renewing in batches
    const frozenAt = Date.now();
    proxy.freeze(true);
    /** When replica-b was first seen holding each of replica-a's communities. */
    const takenAt = new Map<number, number>();
    await waitFor(
      async () => {
        const now = await owners();
        for (const g of aHeld) {
          if (!takenAt.has(g) && now[groups.indexOf(g)] === "replica-b") takenAt.set(g, Date.now());
        }
        return takenAt.size === aHeld.length;
      },
      "replica-b to hold every community",
      2 * TTL_MS + 2000 + 5000,
    );
    // replica-a's polls: on the connections it polled its communities on before the freeze.
    const aPeers = new Set(
      vk.pollRequests.filter((p) =>
        aHeld.includes(p.groupId) && p.startedAt > frozenAt - TTL_MS && p.startedAt < frozenAt
      ).map((p) => p.peer),
    );
    const aPolls = vk.pollRequests.filter((p) => aPeers.has(p.peer));
    const lastEnd = Math.max(...aPolls.map((p) => p.endedAt ?? Infinity)) - frozenAt;
    const taken = Math.max(...takenAt.values()) - frozenAt;
    report(
      `Redis hangs for replica-a: its last poll ended ${lastEnd} ms after the freeze; replica-b holds all ${aHeld.length} after ${taken} ms (TTL ${TTL_MS} ms)`,
    );
    assert.ok(lastEnd <= 0.8 * TTL_MS + 300, `replica-a stopped polling in time: ${lastEnd} ms`);
    for (const p of aPolls) {
      assert.ok(p.endedAt! < takenAt.get(p.groupId)!, `a poll of replica-a outlived its lease`);
    }
    assert.ok(taken <= 2 * TTL_MS + 2000, `taken over after ${taken} ms`);
    for (const g of groups) {
      const twice = overlaps(vk.pollRequests.filter((p) => p.groupId === g), Date.now());
      assert.equal(twice.length, 0, `community ${g} was polled by two replicas at once`);
    }
    proxy.freeze(false);
  },
});
