import assert from "node:assert/strict";
import { parseRoutes } from "../src/config/routes.ts";
import { chartRange, sinceStart } from "../src/http/activity.tsx";
import { createApp } from "../src/http/app.tsx";
import { createSnapshots } from "../src/http/snapshot.ts";
import { Metrics } from "../src/status/metrics.ts";
import { ServiceStatus } from "../src/status/status.ts";
import { Timeline } from "../src/status/timeline.ts";
import { openKvStore } from "../src/store/kv_store.ts";

async function setup(options: { timeline: boolean; uptimeMs?: number }) {
  const dir = await Deno.makeTempDir();
  const store = await openKvStore(dir);
  const clock = { now: Date.UTC(2025, 0, 1, 12, 0, 30) };
  const timeline = options.timeline ? new Timeline(() => clock.now) : undefined;
  const metrics = new Metrics(timeline);
  const status = new ServiceStatus(
    [42],
    true,
    () => clock.now,
    clock.now - (options.uptimeMs ?? 0),
  );
  const routes = parseRoutes({ destinations: { q: { kind: "log" } }, rules: [{ to: ["q"] }] });
  const app = createApp({
    snapshot: createSnapshots({
      version: "1.2.3",
      status,
      metrics,
      store,
      routes,
      enrichStats: () => ({ hits: 0, misses: 0, lookupsFailed: 0, deadlinesMissed: 0 }),
      ...(timeline ? { timeline } : {}),
      now: () => clock.now,
    }),
    samples: () => Promise.resolve(metrics.samples()),
    readiness: () => Promise.resolve(null),
    statusToken: null,
    sessionStore: store,
    secrets: [],
    callback: { confirmation: null, secret: null, groupIds: [42] },
    accept: () => Promise.resolve(),
    replayDeadLetters: () =>
      Promise.resolve({ replayed: 0, delivered: 0, failed: 0, set_aside: 0 }),
    stopping: () => false,
  });
  return {
    app,
    metrics,
    async [Symbol.asyncDispose]() {
      await store.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

function traffic(metrics: Metrics) {
  metrics.inc("vk_router_events_received_total", { event_type: "message_new" }, 4);
  metrics.inc("vk_router_events_received_total", { event_type: "command_call" });
  metrics.inc("vk_router_delivery_failures_total", { destination: "q" });
  metrics.observe("vk_router_delivery_latency_seconds", { destination: "q" }, 0.012);
}

Deno.test("/api/status carries the timeline as compact series", async () => {
  await using s = await setup({ timeline: true });
  traffic(s.metrics);
  const { timeline } = await (await s.app.request("/api/status")).json();
  assert.equal(timeline.last_hour.starts.length, 60);
  assert.equal(timeline.last_5_minutes.starts.length, 30);
  assert.equal(timeline.last_hour.events_by_type.message_new.at(-1), 4);
  assert.equal(timeline.last_5_minutes.events_by_type.command_call.at(-1), 1);
  assert.equal(timeline.last_hour.errors.delivery_failures.at(-1), 1);
  assert.ok(timeline.last_hour.latency_p50_ms.at(-1) > 10);
  assert.ok(timeline.last_hour.window_latency_p99_ms <= 12);
});

Deno.test("the status page draws the three charts of the range asked for", async (t) => {
  await using s = await setup({ timeline: true, uptimeMs: 10 * 60_000 });
  traffic(s.metrics);
  await t.step("by default, the last 5 minutes while the service is young", async () => {
    const html = await (await s.app.request("/")).text();
    for (const id of ["chart-events", "chart-latency", "chart-errors"]) {
      assert.match(html, new RegExp(`<figure id="${id}">`));
    }
    assert.equal(html.match(/<svg class="chart"/g)?.length, 3);
    assert.match(
      html,
      /<title id="events-chart-title">Events received per 10 s by type, in the last 5 minutes<\/title>/,
    );
    assert.match(html, /<a href="\?range=5m" aria-current="page">/);
    assert.match(html, /<ul class="legend" aria-label="Event types">.*message_new.*command_call/s);
    assert.doesNotMatch(html, /No traffic yet/);
  });
  await t.step("?range=1h shows the hour per minute, from the start 10 minutes ago", async () => {
    const html = await (await s.app.request("/?range=1h")).text();
    assert.match(html, /Events received per minute by type, since the start/);
    assert.match(html, /<a href="\?range=1h" aria-current="page">/);
    assert.match(html, />−10 min<\/text>/);
    assert.doesNotMatch(html, />−60 min<\/text>/);
  });
});

Deno.test("the status page says when there is no traffic yet, and when charts are not kept", async () => {
  await using fresh = await setup({ timeline: true });
  const html = await (await fresh.app.request("/")).text();
  assert.match(html, />No traffic yet</);
  assert.match(html, />No deliveries yet</);
  assert.match(html, />No errors since the start</);

  await using worker = await setup({ timeline: false });
  traffic(worker.metrics);
  const page = await (await worker.app.request("/")).text();
  assert.match(page, /No charts: this instance keeps no timeline/);
  assert.doesNotMatch(page, /<svg/);
  assert.equal((await (await worker.app.request("/api/status")).json()).timeline, null);
});

Deno.test("sinceStart() leaves out the buckets before the service started, keeping six", () => {
  const step = 10_000;
  const now = Date.UTC(2025, 0, 1, 12, 0, 0);
  const { last_5_minutes: full } = new Timeline(() => now).series();
  assert.equal(full.starts.length, 30);
  const young = sinceStart(full, now - 95_000, "in the last 5 minutes");
  assert.equal(young.window, "since the start");
  assert.equal(young.series.starts[0], now - 100_000, "from the bucket it started in");
  assert.equal(young.series.starts.length, 11);
  assert.equal(young.series.latency_p99_ms.length, 11);
  assert.equal(young.series.errors.rejected.length, 11);
  assert.equal(sinceStart(full, now - 5_000, "w").series.starts.length, 6);
  const old = sinceStart(full, now - 30 * step, "in the last 5 minutes");
  assert.equal(old.window, "in the last 5 minutes");
  assert.equal(old.series, full);
});

Deno.test("chartRange() takes the range asked for, else picks by uptime", () => {
  assert.equal(chartRange("1h", 10), "1h");
  assert.equal(chartRange("5m", 10_000), "5m");
  assert.equal(chartRange(undefined, 60), "5m");
  assert.equal(chartRange(undefined, 3600), "1h");
  assert.equal(chartRange("<b>", 3600), "1h", "anything else is ignored");
});
