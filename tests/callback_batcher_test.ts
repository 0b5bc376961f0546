/**
 * The Callback API's group commit: callbacks that arrive while others are handled go on
 * together, each answered only with its own batch's outcome.
 */
import assert from "node:assert/strict";
import { createCallbackBatcher } from "../src/ingest/callback_batcher.ts";
import type { RawBatch } from "../src/pipeline.ts";

/** A handler whose batches finish when the test says so. */
function gatedHandler() {
  const batches: { batch: RawBatch; finish(error?: Error): void }[] = [];
  const handle = (batch: RawBatch) =>
    new Promise<void>((resolve, reject) =>
      batches.push({ batch, finish: (error) => error ? reject(error) : resolve() })
    );
  return { batches, handle };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

Deno.test("callbacks that arrive while others are handled go on together, in order", async () => {
  const { batches, handle } = gatedHandler();
  const accept = createCallbackBatcher(handle, { inFlight: 1, now: () => 5 });
  const answered: string[] = [];
  const first = accept("a").then(() => answered.push("a"));
  const rest = ["b", "c", "d"].map((u) => accept(u).then(() => answered.push(u)));
  await tick();
  assert.deepEqual(batches.map((b) => b.batch.updates), [["a"]], "the first goes at once");
  batches[0]!.finish();
  await first;
  await tick();
  assert.deepEqual(batches[1]!.batch, { updates: ["b", "c", "d"], receivedAt: 5 });
  assert.deepEqual(answered, ["a"], "the others wait for their own batch");
  batches[1]!.finish();
  await Promise.all(rest);
  assert.deepEqual(answered, ["a", "b", "c", "d"]);
});

Deno.test("a failed batch fails its own callbacks only; the next batch goes on", async () => {
  const { batches, handle } = gatedHandler();
  const accept = createCallbackBatcher(handle, { inFlight: 1, maxBatch: 2 });
  const outcomes = ["a", "b", "c", "d"].map((u) => accept(u).then(() => "ok", (e) => e.message));
  await tick();
  batches[0]!.finish(new Error("Redis down"));
  await tick();
  assert.deepEqual(batches[1]!.batch.updates, ["b", "c"], "at most maxBatch together");
  batches[1]!.finish();
  await tick();
  batches[2]!.finish();
  assert.deepEqual(await Promise.all(outcomes), ["Redis down", "ok", "ok", "ok"]);
});

Deno.test("up to inFlight batches are handled at once", async () => {
  const { batches, handle } = gatedHandler();
  const accept = createCallbackBatcher(handle, { inFlight: 2 });
  const all = ["a", "b", "c"].map((u) => accept(u));
  await tick();
  assert.deepEqual(batches.map((b) => b.batch.updates), [["a"], ["b"]]);
  batches[0]!.finish();
  await tick();
  assert.deepEqual(batches[2]!.batch.updates, ["c"]);
  batches[1]!.finish();
  batches[2]!.finish();
  await Promise.all(all);
});
