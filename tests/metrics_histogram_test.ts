import assert from "node:assert/strict";
import { HISTOGRAM_BUCKETS_S, Metrics } from "../src/status/metrics.ts";
import { renderPrometheus } from "../src/status/prometheus.ts";
import { ServiceStatus } from "../src/status/status.ts";
import { Timeline } from "../src/status/timeline.ts";
import type { CustomEvent } from "../src/events/types.ts";

Deno.test("Metrics.observe() keeps a histogram apart from the counters", () => {
  const metrics = new Metrics();
  metrics.inc("vk_router_delivered_total", { destination: "q" });
  for (const s of [0.0004, 0.003, 0.003, 0.2, 75, Number.NaN]) {
    metrics.observe("vk_router_delivery_latency_seconds", { destination: "q" }, s);
  }
  assert.deepEqual(
    metrics.samples().map((s) => s.name),
    ["vk_router_delivered_total"],
    "the worker adds samples() up with HINCRBY: no float sums there",
  );
  const series = metrics.histogramSamples();
  const bucket = (le: string) =>
    series.find((s) => s.name.endsWith("_bucket") && s.labels.le === le)?.value;
  assert.equal(bucket("0.001"), 1);
  assert.equal(bucket("0.005"), 3);
  assert.equal(bucket("0.25"), 4);
  assert.equal(bucket("60"), 4);
  assert.equal(bucket("+Inf"), 5, "NaN is not observed");
  assert.equal(
    series.filter((s) => s.name.endsWith("_bucket")).length,
    HISTOGRAM_BUCKETS_S.length + 1,
  );
  const count = series.find((s) => s.name === "vk_router_delivery_latency_seconds_count");
  const sum = series.find((s) => s.name === "vk_router_delivery_latency_seconds_sum");
  assert.equal(count?.value, 5);
  assert.ok(Math.abs(sum!.value - 75.2064) < 1e-9);
  assert.deepEqual(count?.labels, { destination: "q" });
});

Deno.test("renderPrometheus() declares a histogram once, with its buckets, sum and count", () => {
  const metrics = new Metrics();
  metrics.inc("vk_router_delivered_total", { destination: "a" });
  metrics.observe("vk_router_delivery_latency_seconds", { destination: "a" }, 0.02);
  metrics.observe("vk_router_delivery_latency_seconds", { destination: "b" }, 3);
  const samples = [...metrics.samples(), ...metrics.histogramSamples()]
    .sort((a, b) => a.name.localeCompare(b.name));
  const text = renderPrometheus(samples);
  const lines = text.trimEnd().split("\n");
  assert.deepEqual(
    lines.filter((l) => l.startsWith("# TYPE")),
    [
      "# TYPE vk_router_delivered_total counter",
      "# TYPE vk_router_delivery_latency_seconds histogram",
    ],
  );
  assert.match(text, /^# HELP vk_router_delivery_latency_seconds Seconds from receiving/m);
  assert.ok(
    lines.includes('vk_router_delivery_latency_seconds_bucket{destination="a",le="0.025"} 1'),
  );
  assert.ok(
    lines.includes('vk_router_delivery_latency_seconds_bucket{destination="b",le="2.5"} 0'),
  );
  assert.ok(
    lines.includes('vk_router_delivery_latency_seconds_bucket{destination="b",le="+Inf"} 1'),
  );
  assert.ok(lines.includes('vk_router_delivery_latency_seconds_sum{destination="b"} 3'));
  assert.ok(lines.includes('vk_router_delivery_latency_seconds_count{destination="a"} 1'));
  // Every series of the family follows its one header.
  const header = lines.indexOf("# TYPE vk_router_delivery_latency_seconds histogram");
  assert.ok(
    lines.slice(header + 1).every((l) => l.startsWith("vk_router_delivery_latency_seconds_")),
  );
});

Deno.test("Metrics.observe() with a count records that many observations, in the timeline too", () => {
  const timeline = new Timeline(() => Date.UTC(2025, 0, 1, 12, 0, 30));
  const metrics = new Metrics(timeline);
  metrics.observe("vk_router_delivery_latency_seconds", { destination: "q" }, 0.003, 100);
  metrics.observe("vk_router_delivery_latency_seconds", { destination: "q" }, 0.2);
  const series = metrics.histogramSamples();
  const value = (name: string, le?: string) =>
    series.find((s) => s.name === name && (le === undefined || s.labels.le === le))?.value;
  assert.equal(value("vk_router_delivery_latency_seconds_bucket", "0.005"), 100);
  assert.equal(value("vk_router_delivery_latency_seconds_bucket", "+Inf"), 101);
  assert.equal(value("vk_router_delivery_latency_seconds_count"), 101);
  assert.ok(Math.abs(value("vk_router_delivery_latency_seconds_sum")! - 0.5) < 1e-9);
  assert.equal(timeline.series().last_hour.deliveries.at(-1), 101);
});

Deno.test("ServiceStatus.events() keeps a batch's newest 20, newest first, and marks its community", () => {
  const status = new ServiceStatus([42], true, () => 1_000);
  const routed = Array.from({ length: 25 }, (_, i) => ({
    event: {
      event_type: "raw",
      event_id: `e${i}`,
      group_id: 42,
      ts: 1,
      datetime: "",
      raw_type: "x",
      object: null,
    } as CustomEvent,
    destinations: [`d${i}`],
  }));
  status.events(routed);
  assert.deepEqual(
    status.recentEvents.map((e) => e.event_id),
    Array.from({ length: 20 }, (_, i) => `e${24 - i}`),
  );
  assert.deepEqual(status.recentEvents[0]!.destinations, ["d24"]);
  assert.equal(status.communities.get(42)!.lastEventAt, 1_000);
});
