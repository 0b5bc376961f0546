/**
 * Redis-list destinations: each event's JSON pushed to a list, effectively once (see
 * `redis_once.ts`).
 * @module
 */
import * as v from "valibot";
import APPEND_SOURCE from "./redis_list_append.lua" with { type: "text" };
import type { Sink } from "../types.ts";
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

/** Pushes each event once (`redis_once.ts`); the setting is `lpush` or `rpush`, the event its JSON. */
export const PUSH_ONCE_SCRIPT = onceScript(APPEND_SOURCE);

/** Options for {@linkcode createRedisListSink}. */
export interface RedisListSinkOptions extends RedisSinkBase {
  push: "lpush" | "rpush";
}

/** Creates a redis-list sink. */
export function createRedisListSink(options: RedisListSinkOptions): Sink {
  return createAppendOnceSink("redis-list", options, {
    script: PUSH_ONCE_SCRIPT,
    setting: options.push,
    argsOf: (item) => [item.body],
  });
}

const RedisListSchema = v.strictObject({
  kind: v.literal("redis-list"),
  key: v.pipe(v.string(), v.nonEmpty("expected a Redis key")),
  push: v.optional(v.picklist(["lpush", "rpush"], "expected lpush or rpush"), "lpush"),
});

/** A Redis-list destination. */
export interface RedisListDestination extends BaseDestination<"redis-list"> {
  key: string;
  push: "lpush" | "rpush";
}

/** `{"kind": "redis-list", "key": ..., "push": "lpush" | "rpush"}` */
export const redisListKind = defineKind<
  "redis-list",
  v.InferOutput<typeof RedisListSchema>,
  RedisListDestination,
  RedisHandle
>({
  kind: "redis-list",
  schema: RedisListSchema,
  connection: redisConnection,
  resolve: (raw, { name }) => ({
    kind: "redis-list",
    name,
    key: raw.key,
    push: raw.push,
  }),
  secrets: () => [],
  check: keyProblems,
  createSink: (d, context) => createRedisListSink({ ...redisSinkBase(d, context), push: d.push }),
  deadLetters: {
    async take(d, { redis }, limit) {
      // Oldest first: the end the consumers take from.
      const items = d.push === "lpush"
        ? await redis.rpop(d.key, limit)
        : await redis.lpop(d.key, limit);
      return items ?? [];
    },
    async putBack(d, { redis }, items) {
      if (items.length === 0) return;
      if (d.push === "lpush") await redis.lpush(d.key, ...items);
      else await redis.rpush(d.key, ...items);
    },
  },
  async backlog(d, { redis }) {
    // The oldest item is at the end the consumers take from; its `ts` is when it arrived.
    const [depth, oldest] = await Promise.all([
      redis.llen(d.key),
      redis.lindex(d.key, d.push === "lpush" ? -1 : 0) as Promise<string | null>,
    ]);
    return { depth, oldestAgeS: ageOf(oldest) };
  },
});

/** Seconds since an event's `ts` (when the router received it); null when unreadable. */
function ageOf(item: string | null): number | null {
  if (item === null) return null;
  try {
    const ts = (JSON.parse(item) as { ts?: unknown }).ts;
    return typeof ts === "number" ? Math.max(0, Math.round(Date.now() / 1000 - ts)) : null;
  } catch {
    return null; // not ours: someone else pushed to the list
  }
}
