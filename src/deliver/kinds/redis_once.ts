/**
 * Effectively-once appends to one Redis key, shared by the Redis destination kinds: a
 * batch's events go in one Lua script call (per chunk) that appends each event whose
 * dedup marker is absent and then sets the marker. A replayed batch, or a client retry
 * after a lost answer, finds the markers and appends nothing twice.
 *
 * A kind gives only its Lua `append(key, setting, a)`, which appends the event whose
 * arguments are ARGV[a + 1 ..]; {@linkcode onceScript} wraps it in the dedup loop. The
 * script gets KEYS[1] = the destination key, KEYS[2] = the counters hash when it tallies,
 * then one marker per event; ARGV[1] = the kind's setting, ARGV[2] = the marker TTL,
 * ARGV[3] and ARGV[4] = the tally's fields ('' for no tally), ARGV[5] = arguments per
 * event, then those of each event. It answers 1 (appended) or 0 (already there) per event.
 * A marker is set only after its append succeeded: Redis does not roll a script back, so
 * an append refused with WRONGTYPE leaves no marker, and on a retry the events already
 * appended find theirs.
 *
 * A sink's deliveries are script calls that join the commit's unit of work, so that they
 * travel in one round trip with those of the other Redis destinations and whatever else
 * takes part (the worker's shared counters, the service's checkpoint).
 * @module
 */
import type { RedisClient, RedisHandle } from "../../redis/connection.ts";
import { LuaScript, type ScriptCall, type ScriptResult, scriptsOn } from "../../redis/scripts.ts";
import { redisKeys } from "../../redis/keys.ts";
import { UnitOfWork } from "../../util/unit_of_work.ts";
import ONCE_SOURCE from "./redis_once.lua" with { type: "text" };
import type { Delivery, Outcome, Sink } from "../types.ts";
import type { BaseDestination, CheckContext, SinkContext, Tally } from "./kind.ts";

/** Events per script call: bounds how long one call keeps Redis busy. */
const CHUNK = 200;

/** How long a delivered event id is remembered per destination. */
export const DEDUP_TTL_S = 3 * 86_400;

/**
 * The effectively-once script of a kind, around its Lua `append(key, setting, a)` function
 * (the event's arguments are ARGV[a + 1 ..]).
 */
export function onceScript(append: string): LuaScript {
  return new LuaScript(ONCE_SOURCE, { append });
}

/** What every Redis kind's sink is built with, whatever its kind. */
export interface RedisSinkBase {
  redis: RedisClient;
  /** The destination's name (part of the marker key). */
  name: string;
  key: string;
  /** The router's `REDIS_PREFIX`, for markers. */
  prefix: string;
  /** Counts appends in Redis; absent: the deliverer counts them in process. */
  tally?: Tally;
  /** How long an appended event id is remembered. @default {@linkcode DEDUP_TTL_S} */
  dedupTtlS?: number;
}

/** How one kind appends: its script and the script's arguments. */
export interface AppendWith {
  /** The kind's {@linkcode onceScript}. */
  script: LuaScript;
  /** ARGV[1] of the script. */
  setting: string;
  /** The script's arguments for one event, the same number for every event. */
  argsOf: (item: Delivery) => string[];
}

/** Options for {@linkcode appendIn}. */
export type AppendOnceOptions = RedisSinkBase & AppendWith;

/** Script calls, and how to read their answers (in the calls' order) as one outcome per item. */
interface Plan {
  calls: ScriptCall[];
  outcomes(results: readonly ScriptResult[]): Outcome[];
}

/** The script calls that append `items` once, and how to read their answers. */
function appendPlan(items: readonly Delivery[], options: AppendOnceOptions): Plan {
  const ttl = String(options.dedupTtlS ?? DEDUP_TTL_S);
  const tally = options.tally;
  const keys = redisKeys(options.prefix);
  const chunks: Delivery[][] = [];
  for (let i = 0; i < items.length; i += CHUNK) chunks.push(items.slice(i, i + CHUNK));
  const calls = chunks.map((chunk): ScriptCall => {
    const args = chunk.map(options.argsOf);
    return {
      script: options.script,
      keys: [
        options.key,
        ...(tally ? [tally.key] : []),
        ...chunk.map((item) => keys.dedup(options.name, item.eventId)),
      ],
      args: [
        options.setting,
        ttl,
        tally?.delivered ?? "",
        tally?.duplicates ?? "",
        String(args[0]?.length ?? 0),
        ...args.flat(),
      ],
    };
  });
  const counted = tally ? { counted: true } : {};
  return {
    calls,
    outcomes: (results) =>
      chunks.flatMap((chunk, c) => {
        const result = results[c]!;
        if (!result.ok) {
          return chunk.map((): Outcome => ({ status: "retry", error: result.error }));
        }
        const appended = result.value as unknown[];
        return chunk.map((_, i): Outcome =>
          Number(appended[i]) === 0
            ? { status: "delivered", duplicate: true, ...counted }
            : { status: "delivered", ...counted }
        );
      }),
  };
}

/**
 * Appends every item once, in `unit`'s round trip: its calls join the unit at once, and
 * the outcomes (one per item, in order; never a rejection) come once the unit is sent.
 */
export function appendIn(
  unit: UnitOfWork,
  items: readonly Delivery[],
  options: AppendOnceOptions,
): Promise<Outcome[]> {
  if (items.length === 0) return Promise.resolve([]);
  const plan = appendPlan(items, options);
  const channel = unit.channel(scriptsOn(options.redis));
  return Promise.all(plan.calls.map((call) => channel.add(call))).then(plan.outcomes);
}

/** A Redis kind's sink: each delivery appended once, alone or in a commit's round trip. */
export function createAppendOnceSink(
  kind: string,
  base: RedisSinkBase,
  append: AppendWith,
): Sink {
  const once: AppendOnceOptions = { ...base, ...append };
  return {
    name: base.name,
    kind,
    deliver: (items) => UnitOfWork.alone((unit) => appendIn(unit, items, once)),
    deliverIn: (items, unit) => appendIn(unit, items, once),
  };
}

/** What every Redis kind's sink takes from its destination and the router's context. */
export function redisSinkBase(
  destination: BaseDestination & { key: string },
  context: SinkContext<RedisHandle>,
): RedisSinkBase {
  return {
    name: destination.name,
    key: destination.key,
    redis: context.connection.redis,
    prefix: context.prefix,
    ...(context.tallyOf ? { tally: context.tallyOf(destination.name) } : {}),
  };
}

/** A destination's Redis key must not lie where the router keeps its own state. */
export function keyProblems(
  destination: BaseDestination & { key: string },
  config: CheckContext,
): string[] {
  const { key, name } = destination;
  if (config.redisPrefix === "" || !key.startsWith(config.redisPrefix)) return [];
  return [
    `ROUTES_FILE: destination ${JSON.stringify(name)}: key ${
      JSON.stringify(key)
    } is under REDIS_PREFIX ${
      JSON.stringify(config.redisPrefix)
    }, where the router keeps its own state: choose another key`,
  ];
}
