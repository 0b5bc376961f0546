/**
 * The worker's timeline in Redis: a drained request's part becomes per-bucket hash
 * increments in the shared script call, and reading the hashes back gives the same
 * timeline, summed over the calls.
 */
import assert from "node:assert/strict";
import { runScript } from "../src/redis/scripts.ts";
import { Metrics } from "../src/status/metrics.ts";
import { DELIVERY_LATENCY, latencyBucket, Timeline } from "../src/status/timeline.ts";
import {
  bucketOfFields,
  loadTimeline,
  sharedCall,
  timelineFields,
  timelineKey,
} from "../src/worker/shared_state.ts";
import { testRedis } from "./support/redis.ts";

/** A request's part: two event types, errors (but not the routine key refresh), latency. */
function requestPart(now: number): Timeline {
  const timeline = new Timeline(() => now);
  const metrics = new Metrics(timeline);
  metrics.inc("vk_router_events_received_total", { event_type: "message_new" }, 2);
  metrics.inc("vk_router_events_received_total", { event_type: "member_join" });
  metrics.inc("vk_router_delivery_failures_total", { destination: "hook" });
  metrics.inc("vk_router_poll_faults_total", { kind: "failed_2" });
  metrics.observe(DELIVERY_LATENCY, { destination: "q" }, 0.004);
  metrics.observe(DELIVERY_LATENCY, { destination: "hook" }, 0.25);
  return timeline;
}

Deno.test("a drained timeline's buckets become hash fields and read back as the same buckets", () => {
  const now = Date.now();
  const timeline = requestPart(now);
  const json = timeline.drain();
  assert.deepEqual(timeline.drain(), { version: 1, last_hour: [], last_5_minutes: [] });
  const [minute] = json.last_hour;
  assert.ok(minute);
  assert.deepEqual(
    Object.fromEntries(timelineFields(minute)),
    {
      "e:message_new": 2,
      "e:member_join": 1,
      "x:delivery_failures": 1,
      [`l:${latencyBucket(4)}`]: 1,
      [`l:${latencyBucket(250)}`]: 1,
    },
  );
  const hash = Object.fromEntries(
    [...timelineFields(minute), ["max", minute.latency_max_ms], ["junk", 3]].map((
      [field, n],
    ) => [field, String(n)]),
  );
  assert.deepEqual(bucketOfFields(minute.start, hash), minute);
});

Deno.test("the shared script sums requests' timeline parts per bucket in Redis; loadTimeline reads them all", async () => {
  await using redis = testRedis();
  const client = redis.handle.redis;
  const now = Date.now();
  const part = requestPart(now);
  const expected = part.toJSON();
  const noRecent = { events: [], errors: [] };
  const slower = new Timeline(() => now);
  slower.recordLatency(900);
  // The slower part first: the later, faster one must not lower the bucket's maximum.
  await runScript(client, sharedCall(redis.prefix, [], noRecent, slower.drain(), now));
  await runScript(client, sharedCall(redis.prefix, [], noRecent, part.drain(), now));

  const minuteKey = timelineKey(redis.prefix, "last_hour", expected.last_hour[0]!.start);
  const ttl = Number(await client.call(["PTTL", minuteKey]));
  assert.ok(ttl > 60 * 60_000 && ttl <= 65 * 60_000, `the minute's hash expires: ${ttl} ms`);

  const read = (await loadTimeline(client, redis.prefix, now)).toJSON();
  for (const resolution of ["last_hour", "last_5_minutes"] as const) {
    const [want] = expected[resolution];
    assert.deepEqual(read[resolution], [{
      ...want!,
      latency: { ...want!.latency, [latencyBucket(900)]: 1 },
      latency_max_ms: 900,
    }], resolution);
  }
  const series = Timeline.fromJSON(read).series().last_5_minutes;
  assert.equal(series.window_latency_p99_ms !== null && series.window_latency_p99_ms > 250, true);
});

Deno.test("loadTimeline leaves out a bucket it cannot read and keeps the others", async () => {
  await using redis = testRedis();
  const client = redis.handle.redis;
  const now = Date.now();
  const minute = Math.floor(now / 60_000) * 60_000;
  await client.pipeline()
    .hset(timelineKey(redis.prefix, "last_hour", minute), { "e:message_new": "2", max: "0" })
    .hset(timelineKey(redis.prefix, "last_hour", minute - 60_000), { "e:x": "-1", max: "0" })
    .exec();
  const read = (await loadTimeline(client, redis.prefix, now)).toJSON();
  assert.deepEqual(read.last_hour.map((b) => [b.start, b.events]), [
    [minute, { message_new: 2 }],
  ]);
});
