/**
 * An event's life in the log: at `LOG_LEVEL=debug` one line per step (received, routed or
 * unrouted, delivered, replayed), and at `warning` its failures (an attempt failed, parked,
 * dead-lettered). Every line carries the same fields, so one `event_id` finds them all
 * (`jq 'select(.event_id == "…")'`); a field that does not apply to a step is null.
 * @module
 */
import { getLogger } from "@logtape/logtape";

const log = getLogger(["vk-event-router", "trace"]);

/** The fields of every trace line. */
export interface TraceFields {
  event_id: string | null;
  event_type: string | null;
  group_id: number | null;
  destination: string | null;
  /** The rules that matched, comma-separated (`default` for the routes file's default). */
  rule: string | null;
  instance_id: string | null;
  /** Which attempt this was (1 the first). */
  attempt: number | null;
  /** How long the step took (the attempt's round trip), in milliseconds. */
  duration_ms: number | null;
}

/** One step: its own details (`source`, `next_attempt_at`, `reason`, `error`, ...) besides the fields. */
export type TraceStep = Partial<TraceFields> & Record<string, unknown>;

/** Writes trace lines for one process. */
export interface Tracer {
  /** A step of the normal life, at debug level; `fields` is called only when debug is on. */
  step(message: string, fields: () => TraceStep): void;
  /** A failure, at warning level. */
  failure(message: string, fields: TraceStep): void;
}

const EMPTY: TraceFields = {
  event_id: null,
  event_type: null,
  group_id: null,
  destination: null,
  rule: null,
  instance_id: null,
  attempt: null,
  duration_ms: null,
};

/** A tracer whose lines name `instanceId`; properties are built only when the level is on. */
export function createTracer(instanceId: string | null): Tracer {
  const full = (fields: TraceStep) => ({ ...EMPTY, instance_id: instanceId, ...fields });
  return {
    step: (message, fields) => log.debug(message, () => full(fields())),
    failure: (message, fields) => log.warn(message, full(fields)),
  };
}

/** Writes nothing: for stages built without a tracer (tests, tools). */
export const SILENT_TRACER: Tracer = { step() {}, failure() {} };
