/**
 * Every destination kind the router knows. Everything that depends on the kind of a
 * destination (the routes schema, start-up checks, secrets, the connections to open,
 * sinks, replay, backlog) loops over this list; adding a kind is writing its module and
 * listing it here.
 * @module
 */
import type * as v from "valibot";
import type { Sink } from "../types.ts";
import type {
  Backlog,
  CheckContext,
  ConnectionSpec,
  DestinationKind,
  ResolveContext,
  SinkContext,
} from "./kind.ts";
import { amqpKind } from "./amqp/mod.ts";
import { logKind } from "./log.ts";
import { natsJetStreamKind } from "./nats_jetstream/mod.ts";
import { redisListKind } from "./redis_list.ts";
import { redisStreamKind } from "./redis_stream.ts";
import { webhookKind } from "./webhook.ts";

/** The registry. Order only matters for error messages ("expected kind a, b or c"). */
export const DESTINATION_KINDS = [
  redisListKind,
  redisStreamKind,
  webhookKind,
  logKind,
  natsJetStreamKind,
  amqpKind,
] as const;

type Kinds = (typeof DESTINATION_KINDS)[number];

/** A resolved destination of any kind. */
export type Destination = ReturnType<Kinds["resolve"]>;

/** Any kind, seen through the parts that do not depend on its own types. */
// deno-lint-ignore no-explicit-any -- one cast point: a destination is only ever handed to its own kind
type AnyKind = DestinationKind<string, any, any, any>;

/** Any connection spec, seen the same way. */
// deno-lint-ignore no-explicit-any -- a configuration and a connection only ever meet their own spec
export type AnyConnectionSpec = ConnectionSpec<any, any>;

/** The open connections of a router, by spec name. */
export type Connections = ReadonlyMap<string, unknown>;

const byName = new Map<string, AnyKind>(
  (DESTINATION_KINDS as readonly AnyKind[]).map((k) => [k.kind, k]),
);

/** The distinct connections the kinds need, each once (the Redis kinds share one). */
export const CONNECTION_SPECS: readonly AnyConnectionSpec[] = [
  ...new Set((DESTINATION_KINDS as readonly AnyKind[]).flatMap((k) => k.connection ?? [])),
];

/** The kind of a resolved destination. */
function kindOf(destination: Destination): AnyKind {
  return byName.get(destination.kind)!;
}

/** The routes-file schemas of every kind, for a `variant` on `kind`. */
export const destinationSchemas: v.GenericSchema<unknown, { kind: string }>[] = DESTINATION_KINDS
  .map((k) => k.schema as v.GenericSchema<unknown, { kind: string }>);

/** The names of every kind, for messages: "a, b or c". */
export const KIND_NAMES: string = DESTINATION_KINDS.map((k) => k.kind).join(", ")
  .replace(/, ([^,]*)$/, " or $1");

/** Resolves a validated routes-file entry with its kind. */
export function resolveDestination(raw: { kind: string }, context: ResolveContext): Destination {
  return byName.get(raw.kind)!.resolve(raw, context);
}

/** The connection the destination cannot work without; null when it needs none. */
export function destinationConnection(destination: Destination): AnyConnectionSpec | null {
  return kindOf(destination).connection;
}

/** Secret values the destination holds. */
export function destinationSecrets(destination: Destination): string[] {
  return kindOf(destination).secrets(destination);
}

/** Start-up problems of the destination in this configuration. */
export function checkDestination(destination: Destination, context: CheckContext): string[] {
  return kindOf(destination).check(destination, context);
}

/** The destination's open connection (undefined for a kind that needs none). */
function connectionOf(destination: Destination, connections: Connections): unknown {
  const spec = destinationConnection(destination);
  if (!spec) return undefined;
  if (!connections.has(spec.name)) {
    throw new Error(`Destination ${destination.name} needs the ${spec.name} connection`);
  }
  return connections.get(spec.name);
}

/**
 * The destination's live start-up check; empty when its kind has none. Rejects when the
 * server cannot be asked (a warning for the caller, not a stop).
 */
export async function verifyDestination(
  destination: Destination,
  connections: Connections,
): Promise<string[]> {
  const kind = kindOf(destination);
  if (!kind.verify) return [];
  return await kind.verify(destination, connectionOf(destination, connections));
}

/** What every sink is built from, the destination's own connection aside. */
export type RouterSinkContext = Omit<SinkContext, "connection"> & { connections: Connections };

/** Builds the destination's sink, with its kind's connection. */
export function createSink(destination: Destination, context: RouterSinkContext): Sink {
  const { connections, ...rest } = context;
  return kindOf(destination).createSink(destination, {
    ...rest,
    connection: connectionOf(destination, connections),
  });
}

/** The dead letters held by a destination, as replay reads them. */
export interface DeadLetterAccess {
  take(limit: number): Promise<string[]>;
  putBack(items: readonly string[]): Promise<void>;
}

/** Whether the destination's connection is open (or it needs none). */
function reachable(destination: Destination, connections: Connections): boolean {
  const spec = destinationConnection(destination);
  return spec === null || connections.has(spec.name);
}

/** How replay reads the destination's dead letters; null when it cannot give them back. */
export function deadLetterAccess(
  destination: Destination,
  connections: Connections,
): DeadLetterAccess | null {
  const access = kindOf(destination).deadLetters;
  if (!access || !reachable(destination, connections)) return null;
  const conn = connectionOf(destination, connections);
  return {
    take: (limit) => access.take(destination, conn, limit),
    putBack: (items) => access.putBack(destination, conn, items),
  };
}

/** How to read the destination's backlog; null when it does not queue or cannot tell cheaply. */
export function backlogReader(
  destination: Destination,
  connections: Connections,
): (() => Promise<Backlog | null>) | null {
  const kind = kindOf(destination);
  if (!kind.backlog || !reachable(destination, connections)) return null;
  const conn = connectionOf(destination, connections);
  return () => kind.backlog!(destination, conn);
}

/** The backlog readers of the destinations that queue and can tell cheaply, by name. */
export function backlogSources(
  destinations: readonly Destination[],
  connections: Connections,
): { name: string; read: () => Promise<Backlog | null> }[] {
  return destinations.flatMap((d) => {
    const read = backlogReader(d, connections);
    return read ? [{ name: d.name, read }] : [];
  });
}
