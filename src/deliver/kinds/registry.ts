/**
 * Every destination kind the router knows. Everything that depends on the kind of a
 * destination (the routes schema, start-up checks, secrets, sinks, replay, backlog) loops
 * over this list; adding a kind is writing its module and listing it here.
 * @module
 */
import type * as v from "valibot";
import type { RedisClient } from "../../redis/connection.ts";
import type { Sink } from "../types.ts";
import type { Backlog, CheckContext, DestinationKind, SinkContext } from "./kind.ts";
import { logKind } from "./log.ts";
import { redisListKind } from "./redis_list.ts";
import { redisStreamKind } from "./redis_stream.ts";
import { webhookKind } from "./webhook.ts";

/** The registry. Order only matters for error messages ("expected kind a, b or c"). */
export const DESTINATION_KINDS = [redisListKind, redisStreamKind, webhookKind, logKind] as const;

type Kinds = (typeof DESTINATION_KINDS)[number];

/** A resolved destination of any kind. */
export type Destination = ReturnType<Kinds["resolve"]>;

/** Any kind, seen through the parts that do not depend on its own types. */
// deno-lint-ignore no-explicit-any -- one cast point: a destination is only ever handed to its own kind
type AnyKind = DestinationKind<string, any, any>;

const byName = new Map<string, AnyKind>(DESTINATION_KINDS.map((k) => [k.kind, k as AnyKind]));

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
export function resolveDestination(
  raw: { kind: string },
  context: Parameters<AnyKind["resolve"]>[1],
): Destination {
  return byName.get(raw.kind)!.resolve(raw, context);
}

/** Whether the destination cannot work without `need`. */
export function destinationNeeds(destination: Destination, need: "redis"): boolean {
  return kindOf(destination).needs.includes(need);
}

/** Secret values the destination holds. */
export function destinationSecrets(destination: Destination): string[] {
  return kindOf(destination).secrets(destination);
}

/** Start-up problems of the destination in this configuration. */
export function checkDestination(destination: Destination, context: CheckContext): string[] {
  return kindOf(destination).check(destination, context);
}

/** Builds the destination's sink. */
export function createSink(destination: Destination, context: SinkContext): Sink {
  if (destinationNeeds(destination, "redis") && !context.redis) {
    throw new Error(`Destination ${destination.name} needs a Redis connection`);
  }
  return kindOf(destination).createSink(destination, context);
}

/** The dead letters held by a destination, as replay reads them. */
export interface DeadLetterAccess {
  take(limit: number): Promise<string[]>;
  putBack(items: readonly string[]): Promise<void>;
}

/** How replay reads the destination's dead letters; null when it cannot give them back. */
export function deadLetterAccess(
  destination: Destination,
  redis: RedisClient | null,
): DeadLetterAccess | null {
  const access = kindOf(destination).deadLetters;
  if (!access || !redis) return null;
  return {
    take: (limit) => access.take(destination, redis, limit),
    putBack: (items) => access.putBack(destination, redis, items),
  };
}

/** The destination's backlog; null when it does not queue or cannot tell cheaply. */
export function destinationBacklog(
  destination: Destination,
  redis: RedisClient | null,
): Promise<Backlog> | null {
  const kind = kindOf(destination);
  return kind.backlog && redis ? kind.backlog(destination, redis) : null;
}
