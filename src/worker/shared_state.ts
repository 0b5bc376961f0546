/**
 * The worker's status in Redis, so that every instance shows one truth: counters in a
 * hash, recent events and errors in capped lists, the start time of the first instance.
 * A request adds its part with one script call that also answers when the first parked
 * delivery falls due, so that it travels in the request's one Redis round trip with the
 * event's appends (which count themselves into the same hash, see {@linkcode tallyOf}).
 * @module
 */
import type { Tally } from "../deliver/kinds/redis_once.ts";
import { deliveredCounter } from "../deliver/deliverer.ts";
import type { RedisClient } from "../redis/connection.ts";
import { LuaScript, runScript, type ScriptCall } from "../redis/scripts.ts";
import { Metrics, type Sample } from "../status/metrics.ts";
import {
  type Recent,
  type RecentError,
  type RecentEvent,
  ServiceStatus,
} from "../status/status.ts";
import { parkedKeys } from "../store/redis_store.ts";

const KEEP = 20;

function keys(prefix: string) {
  return {
    metrics: `${prefix}metrics`,
    events: `${prefix}recent:events`,
    errors: `${prefix}recent:errors`,
    startedAt: `${prefix}started_at`,
  };
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
  return { key: keys(prefix).metrics, delivered: field(false), duplicates: field(true) };
}

/**
 * KEYS: counters, recent events, recent errors, first start, parked deliveries by due time.
 * ARGV: now (ms), recent items kept, then three groups, each a count and its items:
 * (field, increment) pairs, events, errors. Answers the first parked delivery's due time.
 */
const SHARED_SCRIPT = new LuaScript(`redis.call('SET', KEYS[4], ARGV[1], 'NX')
local a = 3
local function count()
  a = a + 1
  return tonumber(ARGV[a - 1])
end
for _ = 1, count() do
  redis.call('HINCRBY', KEYS[1], ARGV[a], ARGV[a + 1])
  a = a + 2
end
for list = 2, 3 do
  local n = count()
  for _ = 1, n do
    redis.call('LPUSH', KEYS[list], ARGV[a])
    a = a + 1
  end
  if n > 0 then redis.call('LTRIM', KEYS[list], 0, tonumber(ARGV[2]) - 1) end
end
local first = redis.call('ZRANGE', KEYS[5], 0, 0, 'WITHSCORES')
return first[2] or false`);

/**
 * The script call that adds a request's counters, recent events and errors to the shared
 * state; it answers when the first parked delivery falls due (ms since epoch), or null.
 */
export function sharedCall(
  prefix: string,
  counters: readonly Sample[],
  recent: Recent,
  now = Date.now(),
): ScriptCall {
  const k = keys(prefix);
  const samples = counters.filter((s) => s.value !== 0);
  const newestLast = (items: readonly unknown[]) =>
    [...items].reverse().map((e) => JSON.stringify(e));
  return {
    script: SHARED_SCRIPT,
    keys: [k.metrics, k.events, k.errors, k.startedAt, parkedKeys(prefix).due],
    args: [
      String(now),
      String(KEEP),
      String(samples.length),
      ...samples.flatMap((s) => [counterField(s.name, s.labels), String(s.value)]),
      String(recent.events.length),
      ...newestLast(recent.events),
      String(recent.errors.length),
      ...newestLast(recent.errors),
    ],
  };
}

/** What the shared-state call answered: when the first parked delivery is due, or null. */
export function nextDueOf(value: unknown): number | null {
  return value === null || value === undefined ? null : Number(value);
}

/** Adds a request's counters, recent events and errors to the shared state, when there are any. */
export async function flushShared(
  redis: RedisClient,
  prefix: string,
  counters: readonly Sample[],
  recent: Recent,
): Promise<void> {
  if (
    counters.every((s) => s.value === 0) && recent.events.length === 0 &&
    recent.errors.length === 0
  ) return;
  await runScript(redis, sharedCall(prefix, counters, recent));
}

/** Reads the shared counters and status. */
export async function loadShared(
  redis: RedisClient,
  prefix: string,
  groupIds: readonly number[],
): Promise<{ metrics: Metrics; status: ServiceStatus }> {
  const k = keys(prefix);
  const [hash, events, errors, startedAt] = await Promise.all([
    redis.hgetall(k.metrics),
    redis.lrange(k.events, 0, KEEP - 1),
    redis.lrange(k.errors, 0, KEEP - 1),
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
