import assert from "node:assert/strict";
import { runIngestion } from "../src/ingest/ingestion.ts";
import { openKvStore } from "../src/store/kv_store.ts";
import { createRedisStore } from "../src/store/redis_store.ts";
import type { StateStore } from "../src/store/state_store.ts";
import { createVkApi } from "../src/vk/api.ts";
import type { Batch } from "../src/vk/long_poll.ts";
import { type FakeVk, startFakeVk } from "./support/fake_vk.ts";
import { testRedis } from "./support/redis.ts";
import { waitFor } from "./support/wait.ts";
import { numberedEvents } from "./support/raw_events.ts";

const FAST = { minMs: 5, maxMs: 20 };

/** Runs ingestion until `count` updates were handled, then stops it and waits for it to end. */
async function ingest(
  vk: FakeVk,
  store: StateStore,
  count: number,
  handle?: (b: Batch) => Promise<void>,
) {
  const controller = new AbortController();
  const seen: number[] = [];
  const run = runIngestion({
    poller: {
      groupId: 1,
      api: createVkApi({ token: "test-token", apiUrl: vk.apiUrl }),
      wait: 1,
      graceMs: 300,
      backoff: FAST,
    },
    store,
    backoff: FAST,
    signal: controller.signal,
    handler: {
      prepare: (batch: Batch) => Promise.resolve(batch),
      commit: async (batch: Batch) => {
        await handle?.(batch);
        seen.push(...batch.updates.map((u) => (u as { n: number }).n));
      },
      merge: (batches: Batch[]) => ({
        ...batches.at(-1)!,
        updates: batches.flatMap((b) => b.updates),
      }),
    },
  });
  await waitFor(() => seen.length >= count, `${count} events`);
  controller.abort();
  await run;
  return seen;
}

const stores: [string, () => Promise<[StateStore, AsyncDisposable]>][] = [
  ["Deno KV", async () => {
    const dir = await Deno.makeTempDir();
    const store = await openKvStore(dir);
    return [store, { [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) }];
  }],
  ["Redis", () => {
    const redis = testRedis();
    return Promise.resolve([createRedisStore(redis.handle.redis, redis.prefix), redis]);
  }],
];

for (const [kind, open] of stores) {
  Deno.test(`runIngestion() resumes from the checkpoint after a restart (${kind})`, async () => {
    await using vk = await startFakeVk();
    const [store, cleanup] = await open();
    await using _cleanup = cleanup;
    await using _store = store;
    // The first run starts at VK's ts, so these events come after it starts.
    setTimeout(() => vk.push(numberedEvents(0, 5)), 100);
    assert.deepEqual(await ingest(vk, store, 5), [0, 1, 2, 3, 4]);
    assert.equal(await store.getCheckpoint(1), "5");

    vk.push(numberedEvents(5, 3)); // arrive while the router is down
    assert.deepEqual(await ingest(vk, store, 3), [5, 6, 7], "nothing lost, nothing repeated");
    const restartPolls = vk.pollRequests.filter((r) => r.ts === "5");
    assert.ok(restartPolls.length >= 1, "the second run polls from the checkpoint");
    assert.equal(await store.getCheckpoint(1), "8");
  });
}

Deno.test("runIngestion() retries a batch the pipeline failed, and checkpoints only after success", async () => {
  await using vk = await startFakeVk();
  const dir = await Deno.makeTempDir();
  await using store = await openKvStore(dir);
  await store.setCheckpoint(1, "0");
  vk.push(numberedEvents(0, 2));
  let failures = 0;
  const checkpoints: (string | null)[] = [];
  const seen = await ingest(vk, store, 2, async () => {
    checkpoints.push(await store.getCheckpoint(1));
    if (failures++ < 3) throw new Error("Redis is down");
  });
  assert.deepEqual(seen, [0, 1], "the batch is handled once it succeeds, never skipped");
  assert.deepEqual(checkpoints, ["0", "0", "0", "0"], "the checkpoint waits for the pipeline");
  assert.equal(await store.getCheckpoint(1), "2");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("runIngestion() prepares batches ahead but commits and checkpoints them in order", async () => {
  await using vk = await startFakeVk({ maxBatch: 10 });
  const dir = await Deno.makeTempDir();
  await using store = await openKvStore(dir);
  await store.setCheckpoint(1, "0");
  vk.push(numberedEvents(0, 100));
  const controller = new AbortController();
  const committed: number[] = [];
  const checkpoints: string[] = [];
  let preparing = 0;
  let commits = 0;
  let maxPreparing = 0;
  const run = runIngestion({
    poller: {
      groupId: 1,
      api: createVkApi({ token: "test-token", apiUrl: vk.apiUrl }),
      wait: 1,
      graceMs: 300,
      backoff: FAST,
    },
    store,
    signal: controller.signal,
    onCheckpoint: (_g, ts) => checkpoints.push(ts),
    handler: {
      async prepare(batch: Batch) {
        maxPreparing = Math.max(maxPreparing, ++preparing);
        await new Promise((r) => setTimeout(r, Math.random() * 30)); // later batches may finish first
        preparing--;
        return batch.updates.map((u) => (u as { n: number }).n);
      },
      commit(ns: number[]) {
        committed.push(...ns);
        commits++;
        return Promise.resolve();
      },
      merge: (groups: number[][]) => groups.flat(),
    },
  });
  await waitFor(() => committed.length >= 100, "100 events");
  controller.abort();
  await run;
  assert.deepEqual(committed, [...Array(100).keys()], "delivery order is batch order");
  assert.equal(checkpoints.at(-1), "100");
  assert.deepEqual(
    checkpoints,
    [...checkpoints].sort((a, b) => Number(a) - Number(b)),
    "checkpoints only move forward",
  );
  assert.ok(commits <= 10, `${commits} commits for 10 batches`);
  assert.ok(maxPreparing > 1, "batches were prepared concurrently");
  await Deno.remove(dir, { recursive: true });
});
