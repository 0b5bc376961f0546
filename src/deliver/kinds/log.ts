/**
 * The `log` destination: one log line per event, for development and first runs. The event
 * is a structured property (an object in JSON lines, shown after the message in pretty
 * lines), never a JSON string inside the message.
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
        const event = JSON.parse(item.body) as { event_type?: unknown };
        // A dead letter has no event_type of its own.
        const type = typeof event.event_type === "string" ? `${event.event_type} ` : "";
        // Interpolated rather than placeholders, which LogTape would quote.
        log.info(literal(`Event ${type}${item.eventId} to ${name}`), { event, destination: name });
      }
      return Promise.resolve(items.map(() => ({ status: "delivered" as const })));
    },
  };
}

/** `text` as a LogTape message template: braces doubled, so it reads no placeholder in it. */
function literal(text: string): string {
  return text.replace(/[{}]/g, "$&$&");
}

const LogSchema = v.strictObject({ kind: v.literal("log") });

/** A log destination: nothing to configure. */
export type LogDestination = BaseDestination<"log">;

/** `{"kind": "log"}`: for development and first runs. */
export const logKind = defineKind<"log", v.InferOutput<typeof LogSchema>, LogDestination>({
  kind: "log",
  schema: LogSchema,
  connection: null,
  resolve: (_raw, { name }) => ({ kind: "log", name }),
  secrets: () => [],
  check: () => [],
  createSink: (d) => createLogSink(d.name),
});
