/**
 * The worker's status in Redis, so that every instance shows one truth: counters in a
 * hash, recent events and errors in capped lists, the start time of the first instance.
 * @module
 */
import type { RedisClient } from "../redis/connection.ts";
import { Metrics, type Sample } from "../status/metrics.ts";
import {
  type Recent,
  type RecentError,
  type RecentEvent,
  ServiceStatus,
} from "../status/status.ts";

const KEEP = 20;

function keys(prefix: string) {
  return {
    metrics: `${prefix}metrics`,
    events: `${prefix}recent:events`,
    errors: `${prefix}recent:errors`,
    startedAt: `${prefix}started_at`,
  };
}

/** Adds a request's counters, recent events and errors to the shared state. */
export async function flushShared(
  redis: RedisClient,
  prefix: string,
  counters: readonly Sample[],
  recent: Recent,
): Promise<void> {
  const k = keys(prefix);
  const samples = counters.filter((s) => s.value !== 0);
  if (samples.length === 0 && recent.events.length === 0 && recent.errors.length === 0) return;
  const pipeline = redis.pipeline();
  pipeline.set(k.startedAt, String(Date.now()), { nx: true }); // the first instance's first write
  for (const s of samples) pipeline.hincrby(k.metrics, JSON.stringify([s.name, s.labels]), s.value);
  if (recent.events.length > 0) {
    pipeline.lpush(k.events, ...[...recent.events].reverse().map((e) => JSON.stringify(e)));
    pipeline.ltrim(k.events, 0, KEEP - 1);
  }
  if (recent.errors.length > 0) {
    pipeline.lpush(k.errors, ...[...recent.errors].reverse().map((e) => JSON.stringify(e)));
    pipeline.ltrim(k.errors, 0, KEEP - 1);
  }
  await pipeline.exec();
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
