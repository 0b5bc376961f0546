/**
 * The worker's status in Redis, so that every instance shows one truth: counters in a
 * hash, recent events and errors in capped lists, the start time of the first instance.
 * A request adds its part with one script call that also answers when the first parked
 * delivery falls due, so that it travels in the request's one Redis round trip with the
 * event's appends (which count themselves into the same hash, see {@linkcode tallyOf}).
 * The status page's charts live there too: one hash per timeline bucket (minute or 10 s),
 * which the same call adds the request's events, errors and latency sketch to.
 * @module
 */
import type { Tally } from "../deliver/kinds/kind.ts";
import { deliveredCounter } from "../deliver/deliverer.ts";
import type { RedisClient } from "../redis/connection.ts";
import { errorMessage } from "../errors.ts";
import { LuaScript, runScript, type ScriptCall } from "../redis/scripts.ts";
import { Metrics, type Sample } from "../status/metrics.ts";
import {
  ERROR_KINDS,
  type Resolution,
  Timeline,
  TIMELINE_RESOLUTIONS,
  type TimelineBucketJSON,
  type TimelineJSON,
} from "../status/timeline.ts";
import {
  type Recent,
  type RecentError,
  type RecentEvent,
  ServiceStatus,
} from "../status/status.ts";
import { redisKeys } from "../redis/keys.ts";
import SHARED_SOURCE from "./shared.lua" with { type: "text" };
import TIMELINE_READ_SOURCE from "./timeline_read.lua" with { type: "text" };
import { getLogger } from "@logtape/logtape";

const log = getLogger(["vk-event-router", "worker"]);

const KEEP = 20;

/** How long a timeline bucket's hash outlives its start: its window, plus a margin. */
const TIMELINE_TTL_MS: Record<Resolution, number> = {
  last_hour: 65 * 60_000,
  last_5_minutes: 6 * 60_000,
};
const TIMELINE_KEY_PART: Record<Resolution, string> = { last_hour: "m", last_5_minutes: "s" };

/** The hash of one timeline bucket. */
export function timelineKey(prefix: string, resolution: Resolution, start: number): string {
  return redisKeys(prefix).timeline(TIMELINE_KEY_PART[resolution], start);
}

/**
 * A bucket's counts as hash fields: `e:<event type>`, `x:<error kind>`, `l:<latency
 * bucket>`; the slowest delivery (`max`) is kept apart, as it is not a sum.
 */
export function timelineFields(bucket: TimelineBucketJSON): [string, number][] {
  return [
    ...Object.entries(bucket.events).map(([type, n]): [string, number] => [`e:${type}`, n]),
    ...ERROR_KINDS.flatMap((kind): [string, number][] => {
      const n = bucket.errors[kind];
      return n ? [[`x:${kind}`, n]] : [];
    }),
    ...Object.entries(bucket.latency).map(([b, n]): [string, number] => [`l:${b}`, n]),
  ];
}

/** The bucket a hash of {@linkcode timelineFields} holds; unknown fields are left out. */
export function bucketOfFields(start: number, hash: Record<string, string>): TimelineBucketJSON {
  const bucket: TimelineBucketJSON = {
    start,
    events: {},
    errors: {},
    latency: {},
    latency_max_ms: Number(hash.max ?? 0),
  };
  for (const [field, value] of Object.entries(hash)) {
    const n = Number(value);
    const name = field.slice(2);
    if (field.startsWith("e:")) bucket.events[name] = n;
    else if (field.startsWith("l:")) bucket.latency[name] = n;
    else if (field.startsWith("x:") && (ERROR_KINDS as readonly string[]).includes(name)) {
      bucket.errors[name as typeof ERROR_KINDS[number]] = n;
    }
  }
  return bucket;
}

/** A counter's field in the shared hash. */
function counterField(name: string, labels: Record<string, string | number>): string {
  return JSON.stringify([name, labels]);
}

/** Where the Redis sinks of a destination count their appends: the shared hash. */
export function tallyOf(prefix: string, destination: string): Tally {
  const field = (duplicate: boolean) => {
    const { name, labels } = deliveredCounter(destination, duplicate);
    return counterField(name, labels);
  };
  return { key: redisKeys(prefix).metrics, delivered: field(false), duplicates: field(true) };
}

/**
 * KEYS: counters, recent events, recent errors, first start, parked deliveries by due time,
 * then the timeline buckets' hashes. ARGV: now (ms), recent items kept, then three groups,
 * each a count and its items: (field, increment) pairs, events, errors; then per timeline
 * bucket its time to live (ms), its slowest delivery (ms), a count and (field, increment)
 * pairs. Answers the first parked delivery's due time.
 */
const SHARED_SCRIPT = new LuaScript(SHARED_SOURCE);

/** The timeline buckets of a request's part, with the resolution each belongs to. */
function timelineBuckets(timeline: TimelineJSON | null) {
  if (!timeline) return [];
  return (Object.keys(TIMELINE_RESOLUTIONS) as Resolution[]).flatMap((resolution) =>
    timeline[resolution].map((bucket) => ({ resolution, bucket }))
  );
}

/**
 * The script call that adds a request's counters, recent events and errors, and its part
 * of the timeline (a drained {@linkcode Timeline}), to the shared state; it answers when the
 * first parked delivery falls due (ms since epoch), or null.
 */
export function sharedCall(
  prefix: string,
  counters: readonly Sample[],
  recent: Recent,
  timeline: TimelineJSON | null = null,
  now = Date.now(),
): ScriptCall {
  const k = redisKeys(prefix);
  const samples = counters.filter((s) => s.value !== 0);
  const newestLast = (items: readonly unknown[]) =>
    [...items].reverse().map((e) => JSON.stringify(e));
  const buckets = timelineBuckets(timeline);
  return {
    script: SHARED_SCRIPT,
    keys: [
      k.metrics,
      k.recentEvents,
      k.recentErrors,
      k.startedAt,
      redisKeys(prefix).parkedDue,
      ...buckets.map(({ resolution, bucket }) => timelineKey(prefix, resolution, bucket.start)),
    ],
    args: [
      String(now),
      String(KEEP),
      String(samples.length),
      ...samples.flatMap((s) => [counterField(s.name, s.labels), String(s.value)]),
      String(recent.events.length),
      ...newestLast(recent.events),
      String(recent.errors.length),
      ...newestLast(recent.errors),
      ...buckets.flatMap(({ resolution, bucket }) => {
        const fields = timelineFields(bucket);
        return [
          String(TIMELINE_TTL_MS[resolution]),
          String(bucket.latency_max_ms),
          String(fields.length),
          ...fields.flatMap(([field, n]) => [field, String(n)]),
        ];
      }),
    ],
  };
}

/** What the shared-state call answered: when the first parked delivery is due, or null. */
export function nextDueOf(value: unknown): number | null {
  return value === null || value === undefined ? null : Number(value);
}

/**
 * Adds a request's counters, recent events and errors to the shared state, when there are
 * any, and with them what `timeline` holds. The timeline alone sends nothing: the latency
 * of a Redis append is only known after the callback's round trip, so it waits for the
 * next call rather than cost a request of its own.
 */
export async function flushShared(
  redis: RedisClient,
  prefix: string,
  counters: readonly Sample[],
  recent: Recent,
  timeline: Timeline,
): Promise<void> {
  if (
    counters.every((s) => s.value === 0) && recent.events.length === 0 &&
    recent.errors.length === 0
  ) return;
  await runScript(redis, sharedCall(prefix, counters, recent, timeline.drain()));
}

/** KEYS: timeline bucket hashes. Answers each one's fields and values, flat. */
const TIMELINE_READ_SCRIPT = new LuaScript(TIMELINE_READ_SOURCE);

/**
 * The timeline of every instance together, as of `now`: the hashes of both windows'
 * buckets, read by one script call. A bucket that does not parse is left out (and logged).
 */
export async function loadTimeline(
  redis: RedisClient,
  prefix: string,
  now = Date.now(),
): Promise<Timeline> {
  const wanted = (Object.keys(TIMELINE_RESOLUTIONS) as Resolution[]).flatMap((resolution) => {
    const { stepMs, size } = TIMELINE_RESOLUTIONS[resolution];
    const last = Math.floor(now / stepMs) * stepMs;
    return Array.from({ length: size }, (_, i) => ({ resolution, start: last - i * stepMs }));
  });
  const replies = await runScript(redis, {
    script: TIMELINE_READ_SCRIPT,
    keys: wanted.map(({ resolution, start }) => timelineKey(prefix, resolution, start)),
    args: [],
  }) as unknown[];
  const timeline = new Timeline();
  wanted.forEach(({ resolution, start }, i) => {
    const flat = (Array.isArray(replies[i]) ? replies[i] : []) as unknown[];
    if (flat.length === 0) return;
    const hash: Record<string, string> = {};
    for (let f = 0; f + 1 < flat.length; f += 2) hash[String(flat[f])] = String(flat[f + 1]);
    const bucket = bucketOfFields(start, hash);
    const other: Resolution = resolution === "last_hour" ? "last_5_minutes" : "last_hour";
    try {
      timeline.merge({ version: 1, [resolution]: [bucket], [other]: [] });
    } catch (error) {
      log.warn("Cannot read a timeline bucket: {error}", { error: errorMessage(error) });
    }
  });
  return timeline;
}

/** Reads the shared counters and status. */
export async function loadShared(
  redis: RedisClient,
  prefix: string,
  groupIds: readonly number[],
): Promise<{ metrics: Metrics; status: ServiceStatus }> {
  const k = redisKeys(prefix);
  const [hash, events, errors, startedAt] = await Promise.all([
    redis.hgetall(k.metrics),
    redis.lrange(k.recentEvents, 0, KEEP - 1),
    redis.lrange(k.recentErrors, 0, KEEP - 1),
    redis.get(k.startedAt),
  ]);
  const metrics = new Metrics();
  for (const [field, value] of Object.entries(hash)) {
    const [name, labels] = JSON.parse(field) as [string, Record<string, string | number>];
    metrics.inc(name, labels, Number(value));
  }
  const status = new ServiceStatus(groupIds, false, Date.now, Number(startedAt ?? Date.now()));
  status.recentEvents.push(...events.map((e) => JSON.parse(e) as RecentEvent));
  status.recentErrors.push(...errors.map((e) => JSON.parse(e) as RecentError));
  return { metrics, status };
}
