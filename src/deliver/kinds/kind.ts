/**
 * What a destination kind is: everything the router needs to know about one kind of
 * destination, in one module (`redis_list.ts`, `webhook.ts`, a folder for a kind with its
 * own connection). The routes schema, the start-up checks, secret redaction, the
 * connections the composition root opens, sink creation, dead-letter replay and backlogs
 * loop over the registry (`registry.ts`) and never name a kind, so adding one touches only
 * its module and one registry line.
 *
 * The contract is transport-free: it names no Redis, NATS or AMQP type. A kind that needs
 * a connection declares a {@linkcode ConnectionSpec}; the router opens it once and hands it
 * to every part of the kind that needs it, typed as the kind's own `Conn`.
 * @module
 */
import type * as v from "valibot";
import type { TimeoutSignal } from "../../util/timeouts.ts";
import type { Sink } from "../types.ts";
import type { StateStore } from "../../store/state_store.ts";

/** What a kind's start-up check may consult: the parts of the configuration kinds care about. */
export interface CheckContext {
  /** `REDIS_PREFIX`: where the router keeps its own state. */
  redisPrefix: string;
}

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

/** How the running router wants its connections to behave. */
export interface ConnectionIo {
  /** Where every request's deadline comes from (the worker ties them to the request). */
  timeoutSignal: TimeoutSignal;
  /** Deadline of one request to the server (`REDIS_TIMEOUT_MS`). */
  requestTimeoutMs: number;
  /** Retry a failed request inside the client (not in the worker, which must answer fast). */
  retry: boolean;
}

/**
 * A connection a kind needs: opened once per router by the composition root and shared
 * by every destination whose kind declares the same spec (redis-list and redis-stream
 * share "redis").
 */
export interface ConnectionSpec<Config, Conn> {
  /** "redis", "nats", "amqp": the key the router keeps the open connection under. */
  readonly name: string;
  /** The environment variables it reads, e.g. `["NATS_URL"]`. */
  readonly variables: readonly string[];
  /** What to set when a destination needs it and it is not configured, for the message. */
  readonly howToConfigure: string;
  /**
   * Reads its variables; null when not configured. Problems are `VARIABLE: ...` lines that
   * never contain a value.
   */
  configure(env: Readonly<Record<string, string | undefined>>, problems: string[]): Config | null;
  /** Secret values of the configuration (passwords, tokens), redacted from every output. */
  secrets(config: Config): string[];
  /** Where it connects, safe to log: `scheme://host:port`, no credentials. */
  describe(config: Config): string;
  /** Opens it. Must not fail on a down server: that shows on first use and in `ready`. */
  open(config: Config, io: ConnectionIo): Promise<Conn>;
  close(conn: Conn): Promise<void>;
  /** Null when usable, else why not (for `/readyz`). */
  ready(conn: Conn): Promise<string | null>;
}

/**
 * Where a sink counts its deliveries in the worker's shared counters as it makes them, so
 * that they include the callback's round trip without a second one.
 */
export interface Tally {
  /** The counters hash. */
  key: string;
  /** Its field for events delivered. */
  delivered: string;
  /** Its field for events already there. */
  duplicates: string;
}

/** Where a sink marks the events it delivered, to send each once (the state store). */
export type DeliveryMarkers = Pick<StateStore, "claimDeliveries" | "settleDeliveries">;

/** What sinks are built from: the kind's open connection and the router's I/O. */
export interface SinkContext<Conn = unknown> {
  /** The kind's connection, opened by the router (checked at start-up). */
  connection: Conn;
  /** The router's own key prefix (`REDIS_PREFIX`), for dedup markers. */
  prefix: string;
  fetch?: typeof fetch;
  /** Caps every HTTP timeout (the worker answers VK within seconds). */
  maxHttpTimeoutMs?: number;
  timeoutSignal?: TimeoutSignal;
  /**
   * Where the sinks of a destination count their deliveries as they make them (the
   * worker's shared counters); absent: the deliverer counts outcomes in process.
   */
  tallyOf?: (destination: string) => Tally;
  /** Where webhooks mark the events they delivered (the state store). */
  markers?: DeliveryMarkers;
}

/** How far a destination's consumers are behind, where it can be read cheaply. */
export interface Backlog {
  /**
   * Items consumers have not taken: a list's length; a stream's entries not yet delivered
   * to its slowest consumer group (its length when it has none).
   */
  depth: number;
  /** Age of the oldest item not taken, in seconds; null when none or unknown. */
  oldestAgeS: number | null;
  /** How many consumers read it, where the server tells (a RabbitMQ queue). */
  consumers?: number;
  /**
   * Where consumers read through groups (streams): each group; an empty list when there is
   * none, so nothing tells what consumers took. Absent where there are no groups (lists).
   */
  groups?: ConsumerGroup[];
}

/** One consumer group: how many read in it, what they hold unacknowledged, how far behind. */
export interface ConsumerGroup {
  name: string;
  consumers: number;
  /** Delivered to a consumer, not yet acknowledged. */
  pending: number;
  /** Not yet delivered to the group; null where the server cannot tell. */
  lag: number | null;
}

/** Every destination has a kind and the name it was declared under. */
export interface BaseDestination<K extends string = string> {
  kind: K;
  name: string;
}

/**
 * One destination kind. `Raw` is what its routes-file schema outputs, `D` the resolved
 * destination the rest of the router carries around, `Conn` its open connection (`never`
 * for a kind that needs none).
 */
export interface DestinationKind<
  K extends string,
  Raw extends { kind: K },
  D extends BaseDestination<K>,
  Conn = never,
> {
  readonly kind: K;
  /** The routes-file entry: a strict object whose `kind` is the literal `K`. */
  readonly schema: v.GenericSchema<unknown, Raw>;
  /** The connection it cannot work without; null: it needs none (webhook, log). */
  // deno-lint-ignore no-explicit-any -- the configuration's type is the spec's own business
  readonly connection: ConnectionSpec<any, Conn> | null;
  /** Turns a validated entry into a destination (resolving secrets from `env`). */
  resolve(raw: Raw, context: ResolveContext): D;
  /** Secret values the destination holds, for redaction from every output. */
  secrets(destination: D): string[];
  /** Problems only the whole configuration shows (start-up), one line each. */
  check(destination: D, context: CheckContext): string[];
  /**
   * A start-up check against the live server (a stream captures the subjects, the exchange
   * exists): problems end the start with exit 2. Throwing (the server is unreachable) is
   * only a warning: the service starts and its deliveries retry.
   */
  verify?(destination: D, conn: Conn): Promise<string[]>;
  createSink(destination: D, context: SinkContext<Conn>): Sink;
  /**
   * How replay reads the dead letters when this destination holds them. Absent: letters
   * sent to it cannot be taken back, and replay reads the state store's own list.
   */
  deadLetters?: {
    /**
     * Removes and returns up to `limit` items, oldest first, in one atomic step (a pop with
     * a count, a script): two takers must never get the same item. Items that are not
     * letters are returned as they are: replay sets them aside.
     */
    take(destination: D, conn: Conn, limit: number): Promise<string[]>;
    /** Puts items back at the newest end (a replay that failed again). */
    putBack(destination: D, conn: Conn, items: readonly string[]): Promise<void>;
  };
  /**
   * The backlog of a destination that queues for consumers; null when this destination
   * names nothing to watch (a broker destination set up without a queue to watch).
   */
  backlog?(destination: D, conn: Conn): Promise<Backlog | null>;
}

/** Declares a kind; the compiler checks it has every part. */
export function defineKind<
  K extends string,
  Raw extends { kind: K },
  D extends BaseDestination<K>,
  Conn = never,
>(kind: DestinationKind<K, Raw, D, Conn>): DestinationKind<K, Raw, D, Conn> {
  return kind;
}
