import assert from "node:assert/strict";
import { Metrics } from "../src/status/metrics.ts";
import {
  LATENCY_BUCKETS,
  latencyBucket,
  latencyBucketBounds,
  MAX_EVENT_TYPES,
  OTHER_TYPE,
  sketchQuantile,
  Timeline,
} from "../src/status/timeline.ts";

const MIN = 60_000;
/** A minute boundary, so that bucket arithmetic in the tests is plain. */
const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);

function clocked(start = T0) {
  const clock = { now: start };
  return { clock, timeline: new Timeline(() => clock.now) };
}

Deno.test("Timeline counts events per minute and per 10 s, ending with the bucket in progress", () => {
  const { clock, timeline } = clocked();
  timeline.recordEvents("message_new", 3);
  clock.now += 15_000;
  timeline.recordEvents("command_call");
  clock.now += 50_000; // 12:01:05
  timeline.recordEvents("message_new", 2);

  const { last_hour: hour, last_5_minutes: recent } = timeline.series();
  assert.equal(hour.step_s, 60);
  assert.equal(hour.starts.length, 60);
  assert.equal(hour.starts.at(-1), T0 + MIN, "the last bucket is the minute in progress");
  assert.equal(hour.starts[0], T0 + MIN - 59 * MIN);
  assert.deepEqual(hour.events_by_type.message_new!.slice(-2), [3, 2]);
  assert.deepEqual(hour.events_by_type.command_call!.slice(-2), [1, 0]);
  assert.equal(hour.events_by_type.message_new!.reduce((a, b) => a + b), 5);

  assert.equal(recent.step_s, 10);
  assert.equal(recent.starts.length, 30);
  assert.equal(recent.starts.at(-1), T0 + MIN);
  // 12:00:00 → 3, 12:00:10 → command, 12:01:00 → 2 (buckets 0, 1 and 6 of the last seven)
  assert.deepEqual(recent.events_by_type.message_new!.slice(-7), [3, 0, 0, 0, 0, 0, 2]);
  assert.deepEqual(recent.events_by_type.command_call!.slice(-7), [0, 1, 0, 0, 0, 0, 0]);
});

Deno.test("Timeline forgets what is older than its window when a slot comes round again", async (t) => {
  await t.step("a slot reused an hour later starts from zero", () => {
    const { clock, timeline } = clocked();
    timeline.recordEvents("message_new", 7);
    timeline.recordErrors("rejected", 2);
    timeline.recordLatency(40);
    clock.now += 60 * MIN; // the same slot of the minute ring
    timeline.recordEvents("message_new", 1);
    const hour = timeline.series().last_hour;
    assert.deepEqual(hour.events_by_type.message_new!.filter((n) => n > 0), [1]);
    assert.equal(hour.errors.rejected.reduce((a, b) => a + b), 0);
    assert.ok(hour.latency_p50_ms.every((p) => p === null));
    assert.equal(hour.window_latency_p99_ms, null);
  });

  await t.step("after a silent hour everything is empty", () => {
    const { clock, timeline } = clocked();
    timeline.recordEvents("reaction", 4);
    clock.now += 61 * MIN;
    const { last_hour: hour, last_5_minutes: recent } = timeline.series();
    assert.deepEqual(hour.events_by_type, {}, "only types seen in the window are listed");
    assert.deepEqual(recent.events_by_type, {});
    assert.equal(hour.deliveries.reduce((a, b) => a + b), 0);
  });

  await t.step("the 10 s ring forgets after five minutes while the minute ring remembers", () => {
    const { clock, timeline } = clocked();
    timeline.recordEvents("reaction", 4);
    clock.now += 5 * MIN;
    const { last_hour: hour, last_5_minutes: recent } = timeline.series();
    assert.deepEqual(recent.events_by_type, {});
    assert.deepEqual(hour.events_by_type.reaction!.slice(-6), [4, 0, 0, 0, 0, 0]);
  });

  await t.step("a sample from before the slot's bucket (the clock went back) is dropped", () => {
    const { clock, timeline } = clocked();
    clock.now += 60 * MIN;
    timeline.recordEvents("message_new", 1);
    clock.now -= 60 * MIN;
    timeline.recordEvents("message_new", 100);
    clock.now += 60 * MIN;
    assert.deepEqual(
      timeline.series().last_hour.events_by_type.message_new!.filter((n) => n > 0),
      [1],
    );
  });
});

Deno.test("Timeline leaves empty minutes at zero and their latency null", () => {
  const { clock, timeline } = clocked();
  timeline.recordLatency(10);
  clock.now += 3 * MIN;
  timeline.recordLatency(20);
  const hour = timeline.series().last_hour;
  assert.deepEqual(hour.deliveries.slice(-4), [1, 0, 0, 1]);
  assert.deepEqual(hour.latency_p50_ms.slice(-4).map((p) => p === null), [
    false,
    true,
    true,
    false,
  ]);
  assert.deepEqual(hour.errors.delivery_failures.slice(-4), [0, 0, 0, 0]);
});

Deno.test("Timeline holds fixed memory whatever it records", () => {
  const { clock, timeline } = clocked();
  const bytes = timeline.byteLength;
  assert.ok(bytes > 0 && bytes < 100_000, `a small fixed footprint, got ${bytes} bytes`);
  for (let i = 0; i < 20_000; i++) {
    clock.now += 1_777; // ten hours, round the rings many times
    timeline.recordEvents(`type_${i % 50}`);
    timeline.recordLatency(i % 5000);
    timeline.recordErrors("poll_faults");
  }
  assert.equal(timeline.byteLength, bytes);
  const hour = timeline.series().last_hour;
  const types = Object.keys(hour.events_by_type);
  assert.equal(types.length, MAX_EVENT_TYPES, "50 types fold into 15 and the rest");
  assert.ok(types.includes(OTHER_TYPE));
  assert.ok(!types.includes("type_20"), "types after the 15th are counted as other");
  const perMinute = (60_000 / 1_777) | 0;
  const total = Object.values(hour.events_by_type).flat().reduce((a, b) => a + b);
  assert.ok(total >= perMinute * 59 && total <= (perMinute + 1) * 60, `${total} events in an hour`);
  assert.ok(JSON.stringify(timeline.toJSON()).length < 100_000);
});

Deno.test("latencyBucket() and latencyBucketBounds() agree and cover 0 ms to beyond two minutes", () => {
  for (const ms of [0, 0.4, 1, 1.1, 2, 3.7, 10, 99, 100, 1234, 65_000, 131_000]) {
    const [low, high] = latencyBucketBounds(latencyBucket(ms));
    assert.ok(low <= ms && ms < high, `${ms} ms in [${low}, ${high})`);
    assert.ok(high === 1 || high / low <= 2 ** 0.25 + 1e-9, "each bucket is at most ~19 % wide");
  }
  assert.equal(latencyBucket(-5), 0, "a negative time (clock step) is the fastest bucket");
  assert.equal(latencyBucket(10 * MIN), LATENCY_BUCKETS - 1);
  assert.equal(latencyBucketBounds(LATENCY_BUCKETS - 1)[1], Infinity);
});

Deno.test("sketchQuantile() lands in the bucket of the true percentile", () => {
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (const spread of [2, 50, 5000]) {
    const { timeline } = clocked();
    const values = Array.from({ length: 2000 }, () => 1 + random() ** 3 * spread);
    for (const ms of values) timeline.recordLatency(ms);
    values.sort((a, b) => a - b);
    const hour = timeline.series().last_hour;
    for (
      const [q, estimate] of [
        [0.5, hour.latency_p50_ms.at(-1)!],
        [0.99, hour.latency_p99_ms.at(-1)!],
        [0.5, hour.window_latency_p50_ms!],
        [0.99, hour.window_latency_p99_ms!],
      ] as const
    ) {
      const truth = values[Math.ceil(q * values.length) - 1]!;
      const [low, high] = latencyBucketBounds(latencyBucket(truth));
      assert.ok(
        estimate >= low - 0.01 && estimate <= high + 0.01,
        `p${q * 100} of spread ${spread}: ${estimate} ms, truly ${truth} ms in [${low}, ${high})`,
      );
    }
  }
});

Deno.test("sketchQuantile() never reports more than the slowest delivery, nor anything when empty", () => {
  const counts = new Float64Array(LATENCY_BUCKETS);
  assert.equal(sketchQuantile(counts, 0.5, 0), null);
  counts[LATENCY_BUCKETS - 1] = 3; // beyond the last bound
  const p = sketchQuantile(counts, 0.99, 400_000)!;
  assert.ok(p >= 2 ** 17 && p <= 400_000, `${p}`);
  const single = new Float64Array(LATENCY_BUCKETS);
  single[latencyBucket(5)] = 1;
  assert.ok(sketchQuantile(single, 0.99, 5)! <= 5);
});

Deno.test("Timeline is fed by Metrics: events, errors (not the routine failed: 2) and latency", () => {
  const { timeline } = clocked();
  const metrics = new Metrics(timeline);
  metrics.inc("vk_router_events_received_total", { event_type: "button_pressed" }, 2);
  metrics.inc("vk_router_events_rejected_total", { raw_type: "message_new" });
  metrics.inc("vk_router_delivery_failures_total", { destination: "audit" });
  metrics.inc("vk_router_poll_faults_total", { group_id: 1, kind: "http" });
  metrics.inc("vk_router_poll_faults_total", { group_id: 1, kind: "failed_2" });
  metrics.inc("vk_router_history_lost_total", { group_id: 1 });
  metrics.inc("vk_router_delivered_total", { destination: "audit" });
  metrics.observe("vk_router_delivery_latency_seconds", { destination: "audit" }, 0.25);
  const hour = timeline.series().last_hour;
  assert.deepEqual(Object.keys(hour.events_by_type), ["button_pressed"]);
  assert.equal(hour.events_by_type.button_pressed!.at(-1), 2);
  assert.equal(hour.errors.rejected.at(-1), 1);
  assert.equal(hour.errors.delivery_failures.at(-1), 1);
  assert.equal(hour.errors.poll_faults.at(-1), 2, "http and history lost, not failed: 2");
  assert.equal(hour.deliveries.at(-1), 1);
  const p50 = hour.latency_p50_ms.at(-1)!;
  assert.ok(p50 > 200 && p50 <= 250, `seconds become ms: ${p50}`);
});

Deno.test("Timeline round-trips through JSON and merges another instance's counts", () => {
  const { clock, timeline } = clocked();
  timeline.recordEvents("message_new", 3);
  timeline.recordErrors("delivery_failures");
  timeline.recordLatency(12);
  clock.now += 2 * MIN;
  timeline.recordEvents("reaction");
  timeline.recordLatency(800);

  const json = JSON.parse(JSON.stringify(timeline.toJSON()));
  assert.equal(json.version, 1);
  assert.equal(json.last_hour.length, 2, "only non-empty buckets are written");
  const copy = Timeline.fromJSON(json, () => clock.now);
  assert.deepEqual(copy.series(), timeline.series());

  copy.merge(json);
  const hour = copy.series().last_hour;
  assert.deepEqual(hour.events_by_type.message_new!.slice(-3), [6, 0, 0]);
  assert.deepEqual(hour.deliveries.slice(-3), [2, 0, 2]);
  assert.equal(hour.errors.delivery_failures.at(-3), 2);
});

Deno.test("Timeline.merge() refuses what is not a timeline and adds nothing", async (t) => {
  const { timeline } = clocked();
  timeline.recordEvents("message_new");
  const before = JSON.stringify(timeline.series());
  const good = timeline.toJSON();
  const cases: [string, unknown][] = [
    ["null", null],
    ["another version", { ...good, version: 2 }],
    ["a negative count", {
      ...good,
      last_hour: [{ ...good.last_hour[0]!, events: { message_new: -1 } }],
    }],
    ["an unknown latency bucket", {
      ...good,
      last_hour: [{ ...good.last_hour[0]!, latency: { [LATENCY_BUCKETS]: 1 } }],
    }],
    ["too many buckets", { ...good, last_hour: Array(500).fill(good.last_hour[0]) }],
  ];
  for (const [name, json] of cases) {
    await t.step(name, () => {
      assert.throws(() => timeline.merge(json), (e) => {
        assert.ok(e instanceof TypeError);
        assert.match(e.message, /^Cannot merge a timeline: /);
        return true;
      });
      assert.equal(JSON.stringify(timeline.series()), before);
    });
  }
});
