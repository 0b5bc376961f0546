/**
 * Redis-stream destinations: each event appended with `XADD` as an entry with the fields
 * `event_type`, `event_id` and `event` (the event's JSON), trimmed with `MAXLEN ~ n` when
 * `maxlen` is set, effectively once (see `redis_once.ts`). Consumers read with consumer
 * groups (`XREADGROUP`, `XACK`, `XAUTOCLAIM`), which lists cannot offer.
 * @module
 */
import * as v from "valibot";
import { evalScript, LuaScript } from "../../redis/scripts.ts";
import APPEND_SOURCE from "./redis_stream_append.lua" with { type: "text" };
import TAKE_SOURCE from "./redis_stream_take.lua" with { type: "text" };
import type { Delivery, Sink } from "../types.ts";
import type { RedisHandle } from "../../redis/connection.ts";
import { type BaseDestination, defineKind } from "./kind.ts";
import { redisConnection } from "./redis_connection.ts";
import {
  createAppendOnceSink,
  keyProblems,
  onceScript,
  type RedisSinkBase,
  redisSinkBase,
} from "./redis_once.ts";

/**
 * Appends each event once (`redis_once.ts`); the setting is the approximate MAXLEN or ""
 * for none, an event is (type, id, JSON).
 */
export const XADD_ONCE_SCRIPT = onceScript(APPEND_SOURCE);

const TAKE_SCRIPT = new LuaScript(TAKE_SOURCE);

const RedisStreamSchema = v.strictObject({
  kind: v.literal("redis-stream"),
  key: v.pipe(v.string(), v.nonEmpty("expected a Redis key")),
  maxlen: v.optional(
    v.pipe(v.number(), v.integer(), v.minValue(1, "expected a positive number of entries")),
  ),
});

/** A Redis-stream destination. */
export interface RedisStreamDestination extends BaseDestination<"redis-stream"> {
  key: string;
  /** Approximate cap on the stream's length; null: never trimmed. */
  maxlen: number | null;
}

/** Options for {@linkcode createRedisStreamSink}. */
export interface RedisStreamSinkOptions extends RedisSinkBase {
  maxlen: number | null;
}

/** The event type of a delivery parked before deliveries carried it. */
function eventTypeOf(item: Delivery): string {
  if (item.eventType) return item.eventType;
  const parsed = JSON.parse(item.body) as { event_type?: unknown };
  return typeof parsed.event_type === "string" ? parsed.event_type : "";
}

/** Creates a redis-stream sink. */
export function createRedisStreamSink(options: RedisStreamSinkOptions): Sink {
  return createAppendOnceSink("redis-stream", options, {
    script: XADD_ONCE_SCRIPT,
    setting: options.maxlen === null ? "" : String(options.maxlen),
    argsOf: (item) => [eventTypeOf(item), item.eventId, item.body],
  });
}

/** The `event` field of a stream entry (`[id, [field, value, ...]]`). */
function eventField(entry: unknown): string | null {
  const fields = (entry as [string, string[]])[1] ?? [];
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === "event") return fields[i + 1]!;
  }
  return null;
}

/** `{"kind": "redis-stream", "key": ..., "maxlen": ...}` */
export const redisStreamKind = defineKind<
  "redis-stream",
  v.InferOutput<typeof RedisStreamSchema>,
  RedisStreamDestination,
  RedisHandle
>({
  kind: "redis-stream",
  schema: RedisStreamSchema,
  connection: redisConnection,
  resolve: (raw, { name }) => ({
    kind: "redis-stream",
    name,
    key: raw.key,
    maxlen: raw.maxlen ?? null,
  }),
  secrets: () => [],
  check: keyProblems,
  createSink: (d, context) =>
    createRedisStreamSink({ ...redisSinkBase(d, context), maxlen: d.maxlen }),
  deadLetters: {
    async take(d, { redis }, limit) {
      // Oldest first, read and removed in one script, as a list's pop would be.
      const entries = await evalScript(redis, TAKE_SCRIPT, [d.key], [String(limit)]);
      return (Array.isArray(entries) ? entries : []).map((e) => eventField(e) ?? JSON.stringify(e) // not ours: replay sets it aside
      );
    },
    async putBack(d, { redis }, items) {
      for (const item of items) {
        const letter = JSON.parse(item) as { event_id?: unknown };
        await redis.xadd(d.key, {
          event_type: "dead_letter",
          event_id: String(letter.event_id ?? ""),
          event: item,
        });
      }
    },
  },
  async backlog(d, { redis }) {
    const [length, groups] = await Promise.all([redis.xlen(d.key), redis.xinfoGroups(d.key)]);
    // Consumers read through groups: what the slowest one has not been given is the backlog.
    // Without a group nothing tells what readers took: the stream's length, and its first entry.
    const behind = (g: (typeof groups)[number]) => g.lag ?? length;
    const slowest = groups.reduce<(typeof groups)[number] | null>(
      (worst, g) => worst === null || behind(g) > behind(worst) ? g : worst,
      null,
    );
    const depth = slowest ? behind(slowest) : length;
    const first = depth === 0
      ? []
      : await redis.xrange(d.key, slowest ? `(${slowest.lastDeliveredId}` : "-", "+", 1);
    // An entry id starts with the millisecond it was appended.
    const appendedMs = Number(first[0]?.[0]?.split("-")[0]);
    return {
      depth,
      oldestAgeS: Number.isFinite(appendedMs)
        ? Math.max(0, Math.round((Date.now() - appendedMs) / 1000))
        : null,
      groups: groups.map(({ name, consumers, pending, lag }) => ({
        name,
        consumers,
        pending,
        lag,
      })),
    };
  },
});
