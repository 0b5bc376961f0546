/**
 * The `log` destination: one log line per event, for development and first runs.
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { Sink } from "./types.ts";

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
