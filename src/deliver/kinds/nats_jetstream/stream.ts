/**
 * What the kind asks JetStream at start and for the status page: which stream captures a
 * destination's subjects, and how far that stream's consumers are behind.
 * @module
 */
import type { JetStreamManager, StreamInfo } from "@nats-io/jetstream";
import { subjectCovers } from "./subject.ts";

/** The stream one of whose subjects covers `pattern`; null when none does. */
export async function streamCapturing(
  jsm: JetStreamManager,
  pattern: string,
): Promise<StreamInfo | null> {
  for await (const info of jsm.streams.list()) {
    if ((info.config.subjects ?? []).some((s) => subjectCovers(s, pattern))) return info;
  }
  return null;
}

/** A stream name for the `nats stream add` hint: the destination's name in NATS's alphabet. */
function suggestedStreamName(destination: string): string {
  return destination.toUpperCase().replace(/[^A-Z0-9_-]+/g, "_") || "VK_EVENTS";
}

/** The start-up problem of a destination no stream captures, with the line that fixes it. */
export function missingStreamProblem(destination: string, pattern: string): string {
  return `ROUTES_FILE: destination ${JSON.stringify(destination)}: no JetStream stream ` +
    `captures subject ${JSON.stringify(pattern)}: create one, e.g. ` +
    `nats stream add ${suggestedStreamName(destination)} --subjects '${pattern}' ` +
    `--storage file --dupe-window 2m --defaults`;
}

/**
 * Messages the furthest-behind consumer of the stream has yet to receive (`num_pending`), and
 * the age of the oldest of them; zero when the stream has no consumer.
 */
export async function streamBacklog(
  jsm: JetStreamManager,
  stream: string,
): Promise<{ depth: number; oldestAgeS: number | null }> {
  let depth = 0;
  let firstSeq: number | null = null;
  for await (const consumer of jsm.consumers.list(stream)) {
    if (consumer.num_pending > depth) {
      depth = consumer.num_pending;
      firstSeq = consumer.delivered.stream_seq + 1;
    }
  }
  if (depth === 0 || firstSeq === null) return { depth, oldestAgeS: null };
  try {
    const message = await jsm.streams.getMessage(stream, { seq: firstSeq });
    if (!message) return { depth, oldestAgeS: null };
    return {
      depth,
      oldestAgeS: Math.max(0, Math.round((Date.now() - message.time.getTime()) / 1000)),
    };
  } catch {
    return { depth, oldestAgeS: null }; // that message was removed (limits, filters)
  }
}
