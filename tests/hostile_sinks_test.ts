/**
 * A destination's failure stays with that destination, whatever it is: sinks that throw,
 * reject, hang, miscount or answer nonsense, a dead-letter destination that throws and a
 * state store that fails for a while never stop the flow (the healthy destination gets
 * every event, the checkpoint moves), never leave a promise rejection unhandled, and a
 * batch held back by the store is reported stuck with its event ids, then cleared.
 */
import assert from "node:assert/strict";
import { parseRoutes } from "../src/config/routes.ts";
import { createDeliverer } from "../src/deliver/deliverer.ts";
import type { Delivery, Outcome, Sink } from "../src/deliver/types.ts";
import { runIngestion, type StuckBatch } from "../src/ingest/ingestion.ts";
import { createPipeline } from "../src/pipeline.ts";
import { Metrics } from "../src/status/metrics.ts";
import { openKvStore } from "../src/store/kv_store.ts";
import type { StateStore } from "../src/store/state_store.ts";
import { createVkApi } from "../src/vk/api.ts";
import { startFakeVk } from "./support/fake_vk.ts";
import { waitFor } from "./support/wait.ts";
import { createSink } from "../src/deliver/kinds/registry.ts";
import { redisConnections } from "./support/connections.ts";
import { testRedis } from "./support/redis.ts";

const FAST = { minMs: 5, maxMs: 20 };

/** Sinks failing in every way a sink can; `good` records what it gets. */
function hostileSinks(good: string[]): Sink[] {
  const sink = (name: string, deliver: Sink["deliver"], extra: Partial<Sink> = {}): Sink => ({
    name,
    kind: "test",
    deliver,
    ...extra,
  });
  const retry = (items: readonly Delivery[]): Outcome[] =>
    items.map(() => ({ status: "retry", error: "down" }));
  return [
    sink("good", (items) => {
      good.push(...items.map((i) => i.eventId));
      return Promise.resolve(items.map((): Outcome => ({ status: "delivered" })));
    }),
    sink("throws", () => {
      throw new Error("thrown at once");
    }),
    sink("rejects", () => Promise.reject(new Error("rejected later"))),
    sink("rejects-a-string", () => Promise.reject("not even an Error")),
    sink("hangs", () => new Promise(() => {})),
    sink("answers-nothing", () => Promise.resolve([])),
    sink("answers-too-many", (items) => Promise.resolve([...retry(items), ...retry(items)])),
    sink(
      "answers-nonsense",
      (items) => Promise.resolve(items.map(() => ({ status: "maybe" })) as never),
    ),
    sink("answers-null", () => Promise.resolve(null as never)),
    sink(
      "rejects-after-the-deadline",
      () => new Promise((_, reject) => setTimeout(() => reject(new Error("too late")), 400)),
    ),
    sink("joins-and-throws", () => Promise.resolve([]), {
      deliverIn: () => {
        throw new Error("cannot join the unit");
      },
    }),
    sink("joins-and-rejects", () => Promise.resolve([]), {
      deliverIn: () => Promise.reject(new Error("unit refused")),
    }),
  ];
}

/** A store whose parking and dead-lettering fail while `failing` says so. */
function flakyStore(store: StateStore, failing: () => boolean): StateStore {
  const fail = () => Promise.reject(new Error("store down"));
  return {
    ...store,
    park: (d) => failing() ? fail() : store.park(d),
    addDeadLetters: (l) => failing() ? fail() : store.addDeadLetters(l),
  };
}

function message(n: number) {
  return {
    type: "message_new",
    event_id: `ev${n}`,
    group_id: 1,
    object: {
      message: { from_id: 7, peer_id: 7, text: `hi ${n}`, conversation_message_id: n, id: n },
    },
  };
}

Deno.test("sinks failing in every way, a throwing dead-letter destination and a failing store never stop the flow", async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (e: PromiseRejectionEvent) => {
    unhandled.push(e.reason);
    e.preventDefault(); // recorded and asserted on below, rather than ending the run here
  };
  globalThis.addEventListener("unhandledrejection", onUnhandled);
  const dir = await Deno.makeTempDir();
  try {
    await using vk = await startFakeVk();
    await using kv = await openKvStore(dir);
    const good: string[] = [];
    const sinks = hostileSinks(good);
    let storeDownUntil = 0;
    const store = flakyStore(kv, () => Date.now() < storeDownUntil);
    const routes = parseRoutes({
      destinations: Object.fromEntries(sinks.map((s) => [s.name, { kind: "log" }])),
      rules: [{ to: sinks.map((s) => s.name) }],
    });
    const metrics = new Metrics();
    const deliverer = createDeliverer({
      sinks: new Map(sinks.map((s) => [s.name, s])),
      store,
      deadLetterSink: {
        name: "dead",
        kind: "test",
        deliver: () => {
          throw new Error("the dead-letter destination is broken");
        },
      },
      metrics,
      attempts: 1, // every failure straight to the dead letter: the throwing destination's turn
      maxAgeS: 60,
      sinkDeadlineMs: 200,
    });
    const pipeline = createPipeline({
      routes,
      deliverer,
      enricherFor: () => null,
      metrics,
      timezone: "UTC",
      commandPrefixes: ["/"],
    });
    const stuck: (StuckBatch | null)[] = [];
    const controller = new AbortController();
    const run = runIngestion({
      poller: {
        groupId: 1,
        api: createVkApi({ token: "test-token", apiUrl: vk.apiUrl }),
        wait: 1,
        graceMs: 300,
        backoff: FAST,
      },
      store: kv,
      backoff: FAST,
      signal: controller.signal,
      handler: pipeline,
      stuckAfterMs: 100,
      onStuck: (_, s) => stuck.push(s),
    });
    setTimeout(() => vk.push([0, 1, 2].map(message)), 100);
    await waitFor(() => new Set(good).size === 3, "the first 3 events at the good destination");
    await waitFor(
      async () => await kv.getCheckpoint(1) === String(vk.head()),
      "their batch done",
    );
    storeDownUntil = Date.now() + 600;
    vk.push([3, 4].map(message));
    await waitFor(() => new Set(good).size === 5, "2 more once the store is back", 10_000);
    await waitFor(
      async () => await kv.getCheckpoint(1) === String(vk.head()),
      "the checkpoint moved on",
    );
    controller.abort();
    await run;

    // Every hostile destination's events were dead-lettered (into the store: the dead-letter
    // destination threw), none was lost, none counted delivered.
    const letters = (await kv.listDeadLetters({ limit: 1000 })).items;
    for (const s of sinks.filter((s) => s.name !== "good")) {
      const ids = letters.filter((l) => l.destination === s.name).map((l) => l.event_id).sort();
      assert.deepEqual([...new Set(ids)], ["ev0", "ev1", "ev2", "ev3", "ev4"], s.name);
    }
    assert.equal(metrics.sum("vk_router_delivered_total"), good.length);
    // The batch held back by the store was reported stuck with its event ids, then cleared.
    assert.deepEqual(stuck.at(-1), null, "cleared once through");
    const reported = stuck.find((s) => s !== null);
    assert.deepEqual(reported?.eventIds, ["ev3", "ev4"]);
    assert.match(reported!.error, /store down/);
    await new Promise((resolve) => setTimeout(resolve, 500)); // the late rejection fires
    assert.deepEqual(unhandled, [], "no promise rejection left without a handler");
  } finally {
    globalThis.removeEventListener("unhandledrejection", onUnhandled);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a sink that rejects beside a Redis list leaves no unhandled rejection; the list gets the event", async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (e: PromiseRejectionEvent) => {
    unhandled.push(e.reason);
    e.preventDefault();
  };
  globalThis.addEventListener("unhandledrejection", onUnhandled);
  try {
    await using redis = testRedis();
    const r = redis.handle.redis;
    const dir = await Deno.makeTempDir();
    await using store = await openKvStore(dir);
    const routes = parseRoutes({
      destinations: { q: { kind: "redis-list", key: `${redis.prefix}x:q` }, bad: { kind: "log" } },
      rules: [],
    });
    const deliverer = createDeliverer({
      sinks: new Map([
        [
          "q",
          createSink(routes.destinations.get("q")!, {
            connections: redisConnections(r),
            prefix: redis.prefix,
          }),
        ],
        ["bad", {
          name: "bad",
          kind: "test",
          deliver: () => Promise.reject(new Error("atob failed")),
        }],
      ]),
      store,
      deadLetterSink: null,
      metrics: new Metrics(),
      attempts: 5,
      maxAgeS: 60,
    });
    const body = '{"event_id":"ev1"}';
    await deliverer.deliver([
      { destination: "bad", eventId: "ev1", body },
      { destination: "q", eventId: "ev1", body },
    ]);
    assert.deepEqual(await r.lrange(`${redis.prefix}x:q`, 0, -1), [body]);
    assert.equal(await store.parkedCount(), 1, "the rejecting sink's event is parked");
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(unhandled, []);
    await Deno.remove(dir, { recursive: true });
  } finally {
    globalThis.removeEventListener("unhandledrejection", onUnhandled);
  }
});
