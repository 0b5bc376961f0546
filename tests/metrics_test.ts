/**
 * `/metrics` an alert can rely on: every family from the start at 0 for its known label
 * values, a real HELP each, no name that clashes under OpenMetrics, valid for promtool.
 */
import assert from "node:assert/strict";
import { loadConfig } from "../src/config/config.ts";
import { parseRoutes } from "../src/config/routes.ts";
import { CUSTOM_EVENT_TYPES } from "../src/events/types.ts";
import { buildRouter } from "../src/router.ts";
import { FAMILIES, KNOWN_RAW_TYPES, VK_METHODS } from "../src/status/families.ts";
import { POLL_FAULTS } from "../src/vk/long_poll.ts";
import { hasPromtool } from "./support/prerequisites.ts";
import { TEST_REDIS_URL, testRedis } from "./support/redis.ts";

/** Parses the text format: series by name and labels, and each family's HELP and TYPE. */
function parse(text: string) {
  const help = new Map<string, string>();
  const type = new Map<string, string>();
  const series = new Map<string, number>();
  for (const line of text.trimEnd().split("\n")) {
    const h = /^# HELP (\S+) (.*)$/.exec(line);
    if (h) help.set(h[1]!, h[2]!);
    const t = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (t) type.set(t[1]!, t[2]!);
    if (line.startsWith("#")) continue;
    const m = /^([a-z_]+)(\{.*\})? (\S+)$/.exec(line);
    assert.ok(m, `a sample line: ${line}`);
    series.set(`${m[1]}${m[2] ?? ""}`, Number(m[3]));
  }
  return { help, type, series };
}

async function freshRouter(redis: ReturnType<typeof testRedis>) {
  const routes = parseRoutes({
    destinations: {
      queue: { kind: "redis-list", key: `${redis.prefix}queue` },
      hook: { kind: "webhook", url: "http://127.0.0.1:9/in" },
    },
    rules: [{ to: ["queue", "hook"] }],
  });
  const config = loadConfig({
    VK_TOKEN: "metrics-token",
    VK_GROUP_ID: "42",
    REDIS_URL: TEST_REDIS_URL,
    REDIS_PREFIX: `${redis.prefix}router:`,
  });
  return await buildRouter({ config, routes });
}

Deno.test("every metric family is present at 0 on a fresh start, for every known label value", async () => {
  await using redis = testRedis();
  await using router = await freshRouter(redis);
  const { help, type, series } = parse(await (await router.app.request("/metrics")).text());
  // Consumers are counted only where a kind's server tells them (a RabbitMQ queue).
  const onlyWhereTold = new Set(["vk_router_backlog_consumers"]);
  for (const [name, family] of Object.entries(FAMILIES)) {
    if (onlyWhereTold.has(name)) continue;
    assert.equal(type.get(name), family.type, `TYPE of ${name}`);
    assert.equal(help.get(name), family.help, `HELP of ${name}`);
  }
  const zero = (series_: string) => {
    assert.equal(series.get(series_), 0, `${series_} at 0`);
  };
  for (const destination of ["queue", "hook"]) {
    for (
      const name of [
        "vk_router_delivered_total",
        "vk_router_duplicates_total",
        "vk_router_delivery_failures_total",
        "vk_router_parked_total",
        "vk_router_retried_total",
        "vk_router_dead_lettered_total",
        "vk_router_destination_failing",
        "vk_router_destination_paused",
      ]
    ) zero(`${name}{destination="${destination}"}`);
    zero(`vk_router_delivery_latency_seconds_bucket{destination="${destination}",le="+Inf"}`);
    zero(`vk_router_delivery_latency_seconds_count{destination="${destination}"}`);
    zero(`vk_router_delivery_latency_seconds_sum{destination="${destination}"}`);
  }
  zero('vk_router_dead_lettered_total{destination="(rejected)"}');
  zero('vk_router_backlog_depth{destination="queue"}');
  zero('vk_router_backlog_oldest_age_seconds{destination="queue"}');
  for (const t of CUSTOM_EVENT_TYPES) {
    zero(`vk_router_events_received_total{event_type="${t}"}`);
    zero(`vk_router_events_unrouted_total{event_type="${t}"}`);
  }
  for (const t of KNOWN_RAW_TYPES) zero(`vk_router_events_rejected_total{raw_type="${t}"}`);
  for (const m of VK_METHODS) zero(`vk_router_vk_api_calls_total{method="${m}"}`);
  for (const kind of POLL_FAULTS) zero(`vk_router_poll_faults_total{group_id="42",kind="${kind}"}`);
  for (const reason of ["expired", "taken", "fenced"]) {
    zero(`vk_router_lease_lost_total{group_id="42",reason="${reason}"}`);
  }
  for (
    const name of [
      "vk_router_history_lost_total",
      "vk_router_lease_acquired_total",
      "vk_router_lease_takeovers_total",
      "vk_router_checkpoint_ts",
      "vk_router_up",
      "vk_router_ingestion_stalled",
    ]
  ) zero(`${name}{group_id="42"}`);
  for (
    const name of [
      "vk_router_parked_deliveries",
      "vk_router_dead_letters",
      "vk_router_enrich_cache_hits_total",
      "vk_router_enrich_cache_misses_total",
    ]
  ) zero(name);
  // Not polled yet: "connecting" is degraded, and says so from the first scrape.
  assert.equal(series.get("vk_router_health_status"), 1);
});

Deno.test("every family has a real HELP, and no two names clash under OpenMetrics", () => {
  const names = Object.keys(FAMILIES);
  for (const [name, family] of Object.entries(FAMILIES)) {
    assert.ok(family.help.length > 20 && !family.help.includes(name), `HELP of ${name}`);
    assert.equal(name.endsWith("_total"), family.type === "counter", `${name}: _total iff counter`);
    // OpenMetrics names a counter's family without _total, a histogram's series with
    // _bucket, _sum, _count (and _created): none of those may be another family.
    const base = name.replace(/_total$/, "");
    const taken = family.type === "counter"
      ? [base, `${base}_created`]
      : family.type === "histogram"
      ? ["_bucket", "_sum", "_count", "_created"].map((s) => `${name}${s}`)
      : [];
    for (const other of taken) assert.ok(!names.includes(other), `${name} clashes with ${other}`);
  }
});

Deno.test({
  name:
    "promtool check metrics accepts /metrics, once events moved it too (with promtool installed)",
  ignore: !await hasPromtool(),
}, async (t) => {
  await using redis = testRedis();
  await using router = await freshRouter(redis);
  const check = async () => {
    const text = await (await router.app.request("/metrics")).text();
    const child = new Deno.Command("promtool", {
      args: ["check", "metrics"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(text));
    await writer.close();
    const out = await child.output();
    const said = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.ok(out.success, said);
    assert.equal(said.trim(), "", "no lint finding");
  };
  await t.step("fresh", check);
  router.metrics.inc("vk_router_delivered_total", { destination: "queue" }, 3);
  router.metrics.observe("vk_router_delivery_latency_seconds", { destination: "hook" }, 0.02);
  await t.step("after traffic", check);
});

Deno.test("cardinality stays bounded: 30 random types and a 5,000-character one add no series to /metrics", async () => {
  await using redis = testRedis();
  await using router = await freshRouter(redis);
  const count = async () => {
    const { series } = parse(await (await router.app.request("/metrics")).text());
    return [...series.keys()];
  };
  const before = await count();
  const types = [...Array.from({ length: 30 }, () => crypto.randomUUID()), "t".repeat(5000)];
  await router.pipeline.handle({
    updates: types.map((type) => ({ type, group_id: 42, object: {} })), // no event_id: rejected
    receivedAt: Date.now(),
  });
  const after = await count();
  assert.deepEqual(after, before, "the same series, only their values moved");
  const { series } = parse(await (await router.app.request("/metrics")).text());
  assert.equal(series.get('vk_router_events_rejected_total{raw_type="other"}'), types.length);
  for (const name of after) {
    for (const [, value] of name.matchAll(/="((?:[^"\\]|\\.)*)"/g)) {
      assert.ok(value!.length <= 64, `a label value of ${value!.length} characters in ${name}`);
    }
  }
});
