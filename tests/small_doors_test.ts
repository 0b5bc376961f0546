/**
 * The small doors of issue 20: what a stranger or a receiver can do with one header, one
 * variable or one request that the router must bound.
 */
import assert from "node:assert/strict";
import { createDeliverer } from "../src/deliver/deliverer.ts";
import type { Sink } from "../src/deliver/types.ts";
import { Metrics } from "../src/status/metrics.ts";
import { openKvStore } from "../src/store/kv_store.ts";
import type { StateStore } from "../src/store/state_store.ts";

/** A deliverer whose only webhook always answers 503 with `Retry-After: 99999999999`. */
function askingForEver(store: StateStore, scheduleS: number[], maxAgeS: number, now: () => number) {
  const sink: Sink = {
    name: "hook",
    kind: "webhook",
    deliver: (items) =>
      Promise.resolve(items.map(() => ({
        status: "retry" as const,
        error: "HTTP 503",
        httpStatus: 503,
        retryAfterMs: 99_999_999_999_000,
      }))),
  };
  return createDeliverer({
    sinks: new Map([["hook", sink]]),
    store,
    deadLetterSink: null,
    metrics: new Metrics(),
    attempts: 100,
    maxAgeS,
    scheduleS,
    now,
  });
}

Deno.test("Retry-After cannot park a delivery past the schedule's longest step or the letter's maximum age", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await using store = await openKvStore(dir);
    const t0 = 1_000_000;
    let t = t0;
    const byStep = askingForEver(store, [5, 300], 86_400, () => t);
    await byStep.deliver([{ destination: "hook", eventId: "e1", body: "{}" }]);
    assert.equal(await store.nextDueAt(), t0 + 300_000, "capped by the schedule's longest step");
    await store.unpark(["hook:e1"]);

    const byAge = askingForEver(store, [5, 100_000], 1000, () => t);
    await byAge.deliver([{ destination: "hook", eventId: "e2", body: "{}" }]);
    assert.equal(await store.nextDueAt(), t0 + 1_000_000, "capped by the maximum age");
    t = t0 + 1_000_000;
    await byAge.retryDue();
    assert.equal(await store.nextDueAt(), null, "no longer parked");
    assert.equal(await store.deadLetterCount(), 1, "dead-lettered at its maximum age");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
