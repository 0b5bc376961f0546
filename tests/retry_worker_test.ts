/**
 * The service's retry worker costs Redis commands while idle (Upstash bills each): it asks
 * when the next parked delivery is due and sleeps until then, instead of polling.
 */
import assert from "node:assert/strict";
import { createDeliverer, runRetryWorker } from "../src/deliver/deliverer.ts";
import type { Outcome, Sink } from "../src/deliver/types.ts";
import { Metrics } from "../src/status/metrics.ts";
import { openKvStore } from "../src/store/kv_store.ts";
import type { StateStore } from "../src/store/state_store.ts";
import { waitFor } from "./support/wait.ts";

Deno.test("runRetryWorker() asks the store rarely while idle, and wakes when this process parks", async () => {
  const dir = await Deno.makeTempDir();
  await using kv = await openKvStore(dir);
  let asks = 0;
  const store: StateStore = {
    ...kv,
    nextDueAt: () => (asks++, kv.nextDueAt()),
    due: (now, limit) => (asks++, kv.due(now, limit)),
  };
  let failing = true;
  const delivered: string[] = [];
  const sink: Sink = {
    name: "hook",
    kind: "webhook",
    deliver: (items) =>
      Promise.resolve(items.map((item): Outcome => {
        if (failing) return { status: "retry", error: "HTTP 503" };
        delivered.push(item.eventId);
        return { status: "delivered" };
      })),
  };
  const deliverer = createDeliverer({
    sinks: new Map([["hook", sink]]),
    store,
    deadLetterSink: null,
    metrics: new Metrics(),
    attempts: 5,
    maxAgeS: 60,
    scheduleS: [0.05],
  });
  const controller = new AbortController();
  // Local checks every 10 ms; the store at most once a minute unless something is parked.
  const worker = runRetryWorker(deliverer, controller.signal, 10, 60_000);
  try {
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(asks <= 1, `${asks} looks at the store in 300 ms idle (polling asked every 10 ms)`);

    await deliverer.deliver([{ destination: "hook", eventId: "e1", body: "{}" }]);
    failing = false;
    // Without the wake on a local park, the worker would sleep a minute.
    await waitFor(() => delivered.includes("e1"), "the parked delivery to be retried", 10_000);
    await waitFor(async () => await store.nextDueAt() === null, "nothing parked any more");
  } finally {
    controller.abort();
    await worker;
    await Deno.remove(dir, { recursive: true });
  }
});
