import assert from "node:assert/strict";
import { CommitQueue } from "../src/ingest/commit_queue.ts";

/** A promise with its resolve and reject at hand. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => [resolve, reject] = [res, rej]);
  return { promise, resolve, reject };
}

Deno.test("CommitQueue hands batches over in arrival order, whatever order they are prepared in", async () => {
  const queue = new CommitQueue<string, string>(10, 1);
  const a = deferred<string>();
  const b = deferred<string>();
  await queue.add("a", a.promise);
  await queue.add("b", b.promise);
  b.resolve("B");
  const first = queue.take();
  let firstDone = false;
  first.then(() => firstDone = true);
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(firstDone, false, "b is ready but a is not: nothing leaves yet");
  a.resolve("A");
  assert.deepEqual(await first, { batches: ["a"], prepared: ["A"] });
  assert.deepEqual(await queue.take(), { batches: ["b"], prepared: ["B"] });
});

Deno.test("CommitQueue groups the batches behind the head that are already prepared, up to maxGroup", async () => {
  const queue = new CommitQueue<number, number>(10, 3);
  const late = deferred<number>();
  await queue.add(1, Promise.resolve(1));
  await queue.add(2, null); // an empty batch: only its ts matters
  await queue.add(3, Promise.resolve(3));
  await queue.add(4, Promise.resolve(4));
  await queue.add(5, late.promise);
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(await queue.take(), { batches: [1, 2, 3], prepared: [1, 3] });
  assert.deepEqual(await queue.take(), { batches: [4], prepared: [4] }, "5 is not ready");
  late.resolve(5);
  assert.deepEqual(await queue.take(), { batches: [5], prepared: [5] });
});

Deno.test("CommitQueue.add() waits while the queue is full", async () => {
  const queue = new CommitQueue<number, number>(2, 1);
  await queue.add(1, null);
  let added = false;
  const adding = queue.add(2, null).then(() => added = true);
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(added, false, "two queued at capacity 2: the producer waits");
  await queue.take();
  await adding;
  assert.equal(added, true);
});

Deno.test("CommitQueue.add() waits while the queued weight is reached: few large batches, many small", async () => {
  const queue = new CommitQueue<number, number>(8, 1, 300);
  const waits = async (weight: number) => {
    let added = false;
    const adding = queue.add(weight, null, weight).then(() => added = true);
    await new Promise((r) => setTimeout(r, 10));
    return { added: () => added, adding };
  };
  for (let i = 0; i < 2; i++) assert.equal((await waits(100)).added(), true);
  const third = await waits(100);
  assert.equal(third.added(), false, "300 events queued: the producer waits");
  await queue.take();
  await third.adding;
  for (let i = 0; i < 2; i++) await queue.take();
  for (let i = 0; i < 7; i++) assert.equal((await waits(1)).added(), true);
  const eighth = await waits(1);
  assert.equal(eighth.added(), false, "eight small batches: the batch bound holds");
  queue.close();
  await eighth.adding;
});

Deno.test("CommitQueue.close() lets take() drain what is queued, then answers null", async () => {
  const queue = new CommitQueue<number, number>(5, 1);
  await queue.add(1, Promise.resolve(10));
  const waiting = queue.take();
  queue.close();
  assert.deepEqual(await waiting, { batches: [1], prepared: [10] });
  assert.equal(await queue.take(), null);
  await assert.rejects(queue.add(2, null), /closed/);
});

Deno.test("CommitQueue.take() reports a failed preparation in its turn, not before", async () => {
  const queue = new CommitQueue<number, number>(5, 5);
  const failing = deferred<number>();
  await queue.add(1, Promise.resolve(1));
  await queue.add(2, failing.promise);
  failing.reject(new Error("stopped"));
  await new Promise((r) => setTimeout(r, 0));
  await assert.rejects(queue.take(), /stopped/, "1 and 2 leave together, 2's failure is reported");
});
