/**
 * Several replicas of the real service on one Redis, against the fake VK: exactly one
 * polls each community; the owner is SIGKILLed and another takes over within two lease
 * TTLs, polling on with the key it finds in Redis, with every event in its list exactly
 * once; an owner paused past its lease stops polling when it resumes and cannot move the
 * checkpoint (it polls again only once the community is handed back to it); and the
 * replicas share one VK rate limit per token.
 */
import assert from "node:assert/strict";
import { redisKeys } from "../src/redis/keys.ts";
import { getJson, message, overlaps, setupCluster as setup } from "./support/cluster.ts";
import { type PollRequest, startFakeVk } from "./support/fake_vk.ts";
import { testRedis } from "./support/redis.ts";
import { waitFor } from "./support/wait.ts";

const TTL_S = 2;
const TTL_MS = TTL_S * 1000;
const report = (line: string) => Deno.stderr.writeSync(new TextEncoder().encode(`${line}\n`));
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test({
  name:
    "three replicas: the owner is SIGKILLed 4 times, another takes over within 2 TTLs with the same poll key, every event lands once",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const KILLS = 4;
    const GROUP = 77;
    await using redis = testRedis();
    await using vk = await startFakeVk({ tokens: { [GROUP]: "replica-token" } });
    await using cluster = await setup(redis, vk, [GROUP]);
    for (const id of ["replica-1", "replica-2", "replica-3"]) await cluster.start(id);

    let pushed = 0;
    let producing = true;
    const producer = (async () => {
      while (producing) {
        vk.push(Array.from({ length: 10 }, (_, i) => message(GROUP, pushed + i)), GROUP);
        pushed += 10;
        await pause(50);
      }
    })();

    const takeovers: number[] = [];
    /** Whether each new owner's first poll used the key the crashed one polled with. */
    const handedKeys: boolean[] = [];
    let next = 4;
    for (let kill = 0; kill < KILLS; kill++) {
      await waitFor(async () => (await cluster.owner(GROUP)) !== null, "an owner", 30_000);
      const victim = (await cluster.owner(GROUP))!;
      const delivered = (await cluster.ids()).length;
      await waitFor(
        async () => (await cluster.ids()).length > delivered,
        `${victim} to deliver`,
        30_000,
      );
      await pause(300 + Math.random() * 700);
      const killedAt = Date.now();
      cluster.replicas.get(victim)!.child.kill("SIGKILL");
      await cluster.replicas.get(victim)!.exited;
      // Every poll that starts from now on is another replica's (it may use the same key).
      const deadAt = Date.now();
      cluster.replicas.delete(victim);
      await cluster.start(`replica-${next++}`);
      const another = (p: PollRequest) => p.startedAt >= deadAt && p.groupId === GROUP;
      await waitFor(() => vk.pollRequests.some(another), "another replica to poll", 30_000);
      const firstPoll = vk.pollRequests.find(another)!;
      const lastKey = vk.pollRequests.filter((p) => p.startedAt < deadAt && p.groupId === GROUP)
        .at(-1)!.key;
      handedKeys.push(firstPoll.key === lastKey);
      takeovers.push(firstPoll.startedAt - killedAt);
      const owner = await cluster.owner(GROUP);
      assert.ok(owner !== null && owner !== victim, `a new owner: ${owner}`);
    }
    producing = false;
    await producer;
    await waitFor(async () => (await cluster.ids()).length >= pushed, `${pushed} events`, 60_000);
    await pause(500); // a duplicate, if any, would land now

    report(
      `takeovers after SIGKILL: ${
        takeovers.map((t) => `${t} ms`).join(", ")
      } (TTL ${TTL_MS} ms); getLongPollServer calls: ${
        vk.calls.get("groups.getLongPollServer")
      }; events: ${pushed}`,
    );
    const ids = await cluster.ids();
    assert.equal(ids.length, pushed, "no duplicates");
    assert.equal(new Set(ids).size, pushed, "every event once");
    for (const t of takeovers) assert.ok(t <= 2 * TTL_MS, `takeover within 2 TTLs: ${t} ms`);
    assert.deepEqual(
      handedKeys,
      takeovers.map(() => true),
      "each new owner polled with the old key",
    );
    assert.equal(vk.keysIssued(GROUP), 1, "one key for all the owners: the handover asks for none");
    assert.deepEqual(
      overlaps(vk.pollRequests.filter((p) => p.groupId === GROUP), Date.now()).map(([a, b]) =>
        `${a.key}@${a.startedAt}-${a.endedAt} and ${b.key}@${b.startedAt}`
      ),
      [],
      "never two long polls open at once",
    );

    // The survivors: one owner, the others on standby and ready.
    const owner = (await cluster.owner(GROUP))!;
    for (const [id, replica] of cluster.replicas) {
      const expected = id === owner ? "polling" : "standby";
      await waitFor(async () => {
        const [, status] = await getJson(replica, "/api/status");
        assert.equal(status.instance_id, id);
        return status.communities[0].owner === owner && status.communities[0].state === expected;
      }, `${id} to show ${owner} as the owner and itself ${expected}`);
      const [ready] = await getJson(replica, "/readyz");
      assert.equal(ready, 200, `${id} is ready`);
      const [, metrics] = await getJson(replica, "/metrics");
      if (id === owner) {
        assert.match(
          metrics as string,
          new RegExp(`vk_router_lease_takeovers_total\\{group_id="${GROUP}"\\} 1`),
        );
      }
    }
    for (const replica of cluster.replicas.values()) assert.equal(await replica.stop(), 0);
  },
});

Deno.test({
  name: "an owner paused past its lease stops polling when resumed, and cannot move the checkpoint",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const GROUP = 78;
    await using redis = testRedis();
    await using vk = await startFakeVk({ tokens: { [GROUP]: "replica-token" } });
    // Names may hold a batch for 0.5 s: less than the margin the lease keeps (TTL / 5).
    await using cluster = await setup(redis, vk, [GROUP], { ENRICH_DEADLINE_MS: "500" });
    await cluster.start("replica-a");
    await cluster.start("replica-b");
    const checkpointKey = redisKeys(cluster.routerPrefix).checkpoint(GROUP);
    const checkpoint = async () => Number(await redis.handle.redis.get(checkpointKey));
    const history: number[] = [];
    const watching = new AbortController();
    const watcher = (async () => {
      while (!watching.signal.aborted) {
        history.push(await checkpoint());
        await pause(5);
      }
    })();
    let pushed = 0;
    const push = (n: number) => {
      vk.push(Array.from({ length: n }, (_, i) => message(GROUP, pushed + i)), GROUP);
      pushed += n;
    };
    const caughtUp = () =>
      waitFor(async () => (await cluster.ids()).length >= pushed, "delivery", 30_000);

    try {
      const paused = await cluster.assignedOwner(GROUP);
      const other = paused === "replica-a" ? "replica-b" : "replica-a";
      push(20);
      await caughtUp();
      await waitFor(async () => (await checkpoint()) === pushed, "the first checkpoint");
      const process = cluster.replicas.get(paused)!;

      // Pause the owner while it prepares a batch (VK holds its names lookup): on resuming,
      // that batch's commit and checkpoint come first, after another replica moved on.
      vk.apiFault("users.get", ["hang"]);
      const lookups = vk.calls.get("users.get") ?? 0;
      push(20);
      await waitFor(() => (vk.calls.get("users.get") ?? 0) > lookups, "the owner's lookup");
      process.child.kill("SIGSTOP");
      await waitFor(async () => (await cluster.owner(GROUP)) === other, "the takeover", 30_000);
      await caughtUp();
      push(20);
      await caughtUp();
      await waitFor(async () => (await checkpoint()) === pushed, "the new owner's checkpoint");
      const atResume = pushed;
      const resumedAt = Date.now();
      process.child.kill("SIGCONT");
      await waitFor(
        () => /fence \d+ is stale/.test(process.output()),
        "the resumed owner's refused checkpoint write",
      );
      await pause(2 * TTL_MS);
      push(20);
      await caughtUp();
      await waitFor(async () => (await checkpoint()) === pushed, "the last checkpoint");
      watching.abort();
      await watcher;

      // The paused owner's polls ask from before the pause; the new owner's from `atResume`.
      const pollsAfterResume = vk.pollRequests.filter((p) =>
        p.startedAt >= resumedAt && Number(p.ts) < atResume
      );
      // Back in the live set, the resumed replica is again the one the assignment picks: the
      // other hands the community back gracefully, and it polls from the checkpoint.
      await cluster.assignedOwner(GROUP);
      await waitFor(async () => {
        const [, status] = await getJson(process, "/api/status");
        return status.communities[0].state === "polling" &&
          status.communities[0].owner === paused;
      }, "the resumed replica to poll again");
      const [, metrics] = await getJson(process, "/metrics");
      // Every series exists from the start at 0: the loss is the one that moved.
      const lost = [
        ...(metrics as string).matchAll(/vk_router_lease_lost_total\{[^}]*\} [1-9]\d*/g),
      ];
      report(
        `paused owner: ${pollsAfterResume.length} polls after resuming; ${
          lost.map((m) => m[0]).join(", ")
        }; checkpoint history: ${history.filter((n, i) => n !== history[i - 1]).join(" -> ")}`,
      );
      assert.ok(pollsAfterResume.length <= 1, "no poll after resuming beyond the one in flight");
      for (let i = 1; i < history.length; i++) {
        assert.ok(history[i]! >= history[i - 1]!, "the checkpoint moved back (history above)");
      }
      const ids = await cluster.ids();
      assert.equal(ids.length, pushed, "no duplicates");
      assert.equal(new Set(ids).size, pushed);
      assert.equal(lost.length, 1, "the loss is counted once");
      for (const replica of cluster.replicas.values()) assert.equal(await replica.stop(), 0);
    } finally {
      watching.abort();
      await watcher.catch(() => {});
    }
  },
});

Deno.test({
  name: "two replicas on one token keep the combined VK API rate at 20/s under a cold cache",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const GROUPS = [81, 82];
    await using redis = testRedis();
    await using vk = await startFakeVk({
      tokens: { 81: "replica-token", 82: "replica-token" },
      maxBatch: 5,
    });
    await using cluster = await setup(redis, vk, GROUPS, { ENRICH_DEADLINE_MS: "3000" });
    await cluster.start("replica-a");
    await cluster.start("replica-b");
    await waitFor(
      async () => {
        const owners = await Promise.all(GROUPS.map((g) => cluster.owner(g)));
        return owners.every((o) => o !== null) && new Set(owners).size === 2;
      },
      "one community per replica",
      30_000,
    );
    await waitFor(() => vk.calls.get("a_check")! > 4, "both to poll");
    let pushed = 0;
    const from = Date.now();
    while (Date.now() - from < 6_000) {
      for (const g of GROUPS) vk.push([message(g, pushed), message(g, pushed + 1)], g);
      pushed += 2;
      await pause(20);
    }
    await waitFor(
      async () => (await cluster.ids()).length >= pushed * GROUPS.length,
      "every event",
      120_000,
    );
    const times = [...vk.apiCallTimes].sort((a, b) => a - b);
    let busiest = 0;
    for (let i = 0, j = 0; i < times.length; i++) {
      while (j < times.length && times[j]! < times[i]! + 1000) j++;
      busiest = Math.max(busiest, j - i);
    }
    const during = times.filter((t) => t >= from && t < from + 6_000).length;
    report(
      `VK API calls: ${times.length} in all, ${during} in the 6 s of load (${
        (during / 6).toFixed(1)
      }/s); busiest 1-second window: ${busiest}`,
    );
    assert.ok(during >= 6 * 15, `the load needed the limit: ${during} calls in 6 s`);
    assert.ok(busiest <= 20, `at most 20 calls in any second across both replicas: ${busiest}`);
    for (const replica of cluster.replicas.values()) assert.equal(await replica.stop(), 0);
  },
});

Deno.test({
  name: "a graceful stop hands the lease over at once, not after the TTL (default 10 s TTL)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const GROUP = 79;
    await using redis = testRedis();
    await using vk = await startFakeVk({ tokens: { [GROUP]: "replica-token" } });
    await using cluster = await setup(redis, vk, [GROUP], { LEASE_TTL_S: "10" });
    await cluster.start("replica-a");
    await cluster.start("replica-b");
    const first = await cluster.assignedOwner(GROUP);
    const second = first === "replica-a" ? "replica-b" : "replica-a";
    await waitFor(() => vk.pollRequests.length > 0, "the first poll");
    await waitFor(async () => {
      const [, status] = await getJson(cluster.replicas.get(second)!, "/api/status");
      return status.communities[0].state === "standby" && status.communities[0].owner === first;
    }, `${second} to stand by`);
    // The standby may have held the lease for a moment at the start, before the assignment
    // gave it to the other: count its acquisitions from here.
    const acquired = async () => {
      const [, text] = await getJson(cluster.replicas.get(second)!, "/metrics");
      const line = new RegExp(
        `^vk_router_lease_acquired_total\\{group_id="${GROUP}"\\} (\\d+)$`,
        "m",
      );
      return Number(line.exec(text as string)?.[1] ?? NaN);
    };
    const acquiredBefore = await acquired();
    const stoppedAt = Date.now();
    assert.equal(await cluster.replicas.get(first)!.stop("SIGTERM"), 0);
    const exitedAt = Date.now(); // every poll from now on is the other replica's
    const another = (p: PollRequest) => p.startedAt >= exitedAt;
    await waitFor(() => vk.pollRequests.some(another), "the other replica to poll", 30_000);
    const handover = vk.pollRequests.find(another)!.startedAt - stoppedAt;
    report(`graceful handover (SIGTERM to the next owner's first poll): ${handover} ms`);
    assert.equal(await cluster.owner(GROUP), second);
    assert.ok(handover < 10_000, `the lease was released, not left to expire: ${handover} ms`);
    assert.equal(await acquired(), acquiredBefore + 1, "the standby acquired the lease once more");
    const [, metrics] = await getJson(cluster.replicas.get(second)!, "/metrics");
    assert.match(
      metrics as string,
      new RegExp(`vk_router_lease_takeovers_total\\{group_id="${GROUP}"\\} 0\n`),
      "not a takeover",
    );
    assert.equal(await cluster.replicas.get(second)!.stop(), 0);
  },
});
