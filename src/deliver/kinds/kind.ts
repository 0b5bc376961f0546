/**
 * What a destination kind is: everything the router needs to know about one kind of
 * destination, in one module (`redis-list.ts`, `webhook.ts`, ...). The routes schema, the
 * start-up checks, secret redaction, sink creation and dead-letter replay loop over the
 * registry (`registry.ts`) and never name a kind, so adding one touches only its module.
 * @module
 */
import type * as v from "valibot";
import type { RedisClient } from "../../redis/connection.ts";
import type { TimeoutSignal } from "../../util/timeouts.ts";
import type { Sink } from "../types.ts";
import type { Tally } from "./redis_once.ts";
import type { DeliveryMarkers } from "./webhook.ts";

/** What a kind's start-up check may consult: the parts of the configuration kinds care about. */
export interface CheckContext {
  /** `REDIS_PREFIX`: where the router keeps its own state. */
  redisPrefix: string;
}

/** Connections a kind may need from the configuration; checked at start-up. */
export type Need = "redis";

/** What a kind's `resolve` may use, and where it reports problems. */
export interface ResolveContext {
  /** The destination's name in the routes file. */
  name: string;
  /** JSON path of the entry, e.g. `$.destinations.audit`, to prefix problems with. */
  path: string;
  env: Readonly<Record<string, string | undefined>>;
  /** One line per problem, each starting with a JSON path. */
  problems: string[];
}

/** What sinks are built from: the running router's connections and I/O. */
export interface SinkContext {
  /** Present whenever a destination that needs Redis exists (checked at start-up). */
  redis: RedisClient | null;
  /** The router's own key prefix (`REDIS_PREFIX`), for dedup markers. */
  prefix: string;
  fetch?: typeof fetch;
  /** Caps every HTTP timeout (the worker answers VK within seconds). */
  maxHttpTimeoutMs?: number;
  timeoutSignal?: TimeoutSignal;
  /**
   * Where the Redis sinks of a destination count their appends as they make them (the
   * worker's shared counters); absent: the deliverer counts outcomes in process.
   */
  tallyOf?: (destination: string) => Tally;
  /** Where webhooks mark the events they delivered (the state store). */
  markers?: DeliveryMarkers;
}

/** How far a destination's consumers are behind, where it can be read cheaply. */
export interface Backlog {
  /** Items waiting (list length, stream length). */
  depth: number;
  /** Age of the oldest waiting item in seconds, null when unknown or empty. */
  oldestAgeS: number | null;
}

/** Every destination has a kind and the name it was declared under. */
export interface BaseDestination<K extends string = string> {
  kind: K;
  name: string;
}

/**
 * One destination kind. `Raw` is what its routes-file schema outputs, `D` the resolved
 * destination the rest of the router carries around.
 */
export interface DestinationKind<
  K extends string,
  Raw extends { kind: K },
  D extends BaseDestination<K>,
> {
  readonly kind: K;
  /** The routes-file entry: a strict object whose `kind` is the literal `K`. */
  readonly schema: v.GenericSchema<unknown, Raw>;
  /** Connections it cannot work without. */
  readonly needs: readonly Need[];
  /** Turns a validated entry into a destination (resolving secrets from `env`). */
  resolve(raw: Raw, context: ResolveContext): D;
  /** Secret values the destination holds, for redaction from every output. */
  secrets(destination: D): string[];
  /** Problems only the whole configuration shows (start-up), one line each. */
  check(destination: D, context: CheckContext): string[];
  createSink(destination: D, context: SinkContext): Sink;
  /**
   * How replay reads the dead letters when this destination holds them. Absent: letters
   * sent to it cannot be taken back, and replay reads the state store's own list.
   */
  deadLetters?: {
    /** Removes and returns up to `limit` items, oldest first. */
    take(destination: D, redis: RedisClient, limit: number): Promise<string[]>;
    /** Puts items back at the newest end (a replay that failed again). */
    putBack(destination: D, redis: RedisClient, items: readonly string[]): Promise<void>;
  };
  /** The backlog of a destination that queues for consumers. */
  backlog?(destination: D, redis: RedisClient): Promise<Backlog>;
}

/** Declares a kind; the compiler checks it has every part. */
export function defineKind<K extends string, Raw extends { kind: K }, D extends BaseDestination<K>>(
  kind: DestinationKind<K, Raw, D>,
): DestinationKind<K, Raw, D> {
  return kind;
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
