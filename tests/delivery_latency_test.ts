import assert from "node:assert/strict";
import { createDeliverer } from "../src/deliver/deliverer.ts";
import type { Sink } from "../src/deliver/types.ts";
import { Metrics } from "../src/status/metrics.ts";
import { openKvStore } from "../src/store/kv_store.ts";

Deno.test("createDeliverer() observes receipt-to-delivery latency of first attempts", async () => {
  const dir = await Deno.makeTempDir();
  await using _dir = { [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
  await using store = await openKvStore(dir);
  const metrics = new Metrics();
  const sink: Sink = {
    name: "q",
    kind: "log",
    deliver: (items) =>
      Promise.resolve(
        items.map((i) =>
          i.eventId === "dup"
            ? { status: "delivered", duplicate: true }
            : i.eventId === "down"
            ? { status: "retry", error: "HTTP 503" }
            : { status: "delivered" }
        ),
      ),
  };
  const deliverer = createDeliverer({
    sinks: new Map([["q", sink]]),
    store,
    deadLetterSink: null,
    metrics,
    attempts: 3,
    maxAgeS: 60,
    now: () => 10_000,
  });
  await deliverer.deliver([
    { destination: "q", eventId: "a", body: "{}", receivedAt: 9_750 },
    { destination: "q", eventId: "b", body: "{}", receivedAt: 10_500 }, // clock step: 0, not negative
    { destination: "q", eventId: "no-receipt", body: "{}" },
    { destination: "q", eventId: "dup", body: "{}", receivedAt: 1_000 },
    { destination: "q", eventId: "down", body: "{}", receivedAt: 1_000 },
  ]);
  const series = metrics.histogramSamples();
  const value = (name: string) =>
    series.find((s) => s.name === `vk_router_delivery_latency_seconds_${name}`)?.value;
  assert.equal(value("count"), 2, "only first deliveries that know their receipt time");
  assert.equal(value("sum"), 0.25);
  assert.equal(metrics.get("vk_router_delivered_total", { destination: "q" }), 3);
});

Deno.test("createDeliverer() times each destination by its own answer, not the batch's slowest", async () => {
  const dir = await Deno.makeTempDir();
  await using _dir = { [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
  await using store = await openKvStore(dir);
  const metrics = new Metrics();
  const clock = { now: 1_000 };
  const sink = (name: string, answer: () => Promise<void>): Sink => ({
    name,
    kind: "log",
    deliver: async (items) => {
      await answer();
      return items.map(() => ({ status: "delivered" }));
    },
  });
  const deliverer = createDeliverer({
    sinks: new Map([
      ["fast", sink("fast", () => Promise.resolve())],
      [
        "slow",
        sink("slow", async () => {
          await new Promise((r) => setTimeout(r, 5));
          clock.now += 400;
        }),
      ],
    ]),
    store,
    deadLetterSink: null,
    metrics,
    attempts: 3,
    maxAgeS: 60,
    now: () => clock.now,
  });
  await deliverer.deliver([
    { destination: "slow", eventId: "a", body: "{}", receivedAt: 1_000 },
    { destination: "fast", eventId: "a", body: "{}", receivedAt: 1_000 },
  ]);
  const sum = (destination: string) =>
    metrics.histogramSamples().find((s) =>
      s.name === "vk_router_delivery_latency_seconds_sum" && s.labels.destination === destination
    )?.value;
  assert.equal(sum("fast"), 0);
  assert.equal(sum("slow"), 0.4);
});
