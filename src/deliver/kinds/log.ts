/**
 * The `log` destination: one log line per event, for development and first runs.
 * @module
 */
import { getLogger } from "@logtape/logtape";
import * as v from "valibot";
import type { Sink } from "../types.ts";
import { type BaseDestination, defineKind } from "./kind.ts";

const log = getLogger(["vk-event-router", "events"]);

/** Creates a log sink; it always succeeds. */
export function createLogSink(name: string): Sink {
  return {
    name,
    kind: "log",
    deliver(items) {
      for (const item of items) {
        log.info("Event {eventId} to {destination}: {event}", {
          eventId: item.eventId,
          destination: name,
          event: item.body,
        });
      }
      return Promise.resolve(items.map(() => ({ status: "delivered" as const })));
    },
  };
}

const LogSchema = v.strictObject({ kind: v.literal("log") });

/** A log destination: nothing to configure. */
export type LogDestination = BaseDestination<"log">;

/** `{"kind": "log"}`: for development and first runs. */
export const logKind = defineKind<"log", v.InferOutput<typeof LogSchema>, LogDestination>({
  kind: "log",
  schema: LogSchema,
  needs: [],
  resolve: (_raw, { name }) => ({ kind: "log", name }),
  secrets: () => [],
  check: () => [],
  createSink: (d) => createLogSink(d.name),
});
