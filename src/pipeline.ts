/**
 * The pipeline every raw event goes through, whichever way it came (long poll or
 * Callback API): validate and transform, enrich, route, deliver. `handle` resolves once
 * each event of the batch is delivered, durably parked or dead-lettered; it throws when
 * that cannot be made durable, and the caller keeps the batch.
 * @module
 */
import type { Routes } from "./config/routes.ts";
import type { Deliverer, Routed } from "./deliver/deliverer.ts";
import type { Enricher } from "./enrich/enricher.ts";
import { transform } from "./events/transform.ts";
import { rawTypeLabel } from "./events/vk_types.ts";
import type { CustomEvent, RoutedEvent } from "./events/types.ts";
import { explainRoute } from "./route/matcher.ts";
import type { Metrics } from "./status/metrics.ts";
import { SILENT_TRACER, type Tracer } from "./status/trace.ts";
import { type DeadLetter, newLetterId } from "./store/state_store.ts";
import type { UnitOfWork } from "./util/unit_of_work.ts";

/** Options for {@linkcode createPipeline}. */
export interface PipelineOptions {
  routes: Routes;
  deliverer: Deliverer;
  /** The enricher of a community, or null when it has no token to ask VK with. */
  enricherFor: (groupId: number) => Enricher | null;
  metrics: Metrics;
  timezone: string;
  commandPrefixes: readonly string[];
  /** Told of each batch's routed events, for the status page's recent events. */
  onEvents?: (routed: readonly RoutedEvent[]) => void;
  /** Where each event's steps are logged (received, routed or unrouted, rejected). */
  tracer?: Tracer;
}

/** Raw events that arrived together (one long-poll answer, one callback, one replay). */
export interface RawBatch {
  updates: readonly unknown[];
  /** When they arrived (ms since epoch). */
  receivedAt: number;
  /** For a replay of rejected events: the dead letters the updates come from, in order. */
  replayed?: readonly DeadLetter[];
  /** Where they came from, for the trace. @default "long_poll" */
  source?: "long_poll" | "callback" | "replay";
}

/** A batch validated, enriched and routed, ready for delivery. */
export interface PreparedBatch {
  items: Routed[];
  rejected: DeadLetter[];
}

/** Handles batches of raw events; ingestion calls it directly (it is a `BatchHandler`). */
export interface Pipeline {
  /**
   * Validates, transforms, enriches and routes; touches no destination. With
   * `batch.replayed` (the dead letters the updates come from, when rejected events are
   * replayed) one still invalid comes back as the same letter (first reason, `failed_at`
   * and issues kept) with one more attempt, and is not counted again, since
   * `events_rejected_total` counts events, not replays.
   */
  prepare(batch: RawBatch): Promise<PreparedBatch>;
  /**
   * Delivers a prepared batch: each event delivered, parked or dead-lettered, durably,
   * sending `unit` (the commit's unit of work) with the deliveries. A commit retried after
   * a failure stores the batch's rejected events once.
   */
  commit(prepared: PreparedBatch, unit?: UnitOfWork): Promise<void>;
  /** Joins prepared batches, in order. */
  merge(prepared: PreparedBatch[]): PreparedBatch;
  /** `prepare` then `commit`. */
  handle(batch: RawBatch): Promise<void>;
}

/** Creates the pipeline. */
export function createPipeline(options: PipelineOptions): Pipeline {
  const { metrics } = options;
  const tracer = options.tracer ?? SILENT_TRACER;
  /** The batches whose rejected events are stored as dead letters. */
  const rejectionsStored = new WeakSet<PreparedBatch>();
  const pipeline: Pipeline = {
    async prepare({ updates, receivedAt: receivedAtMs, replayed, source = "long_poll" }) {
      const receivedAt = Math.floor(receivedAtMs / 1000);
      const events: CustomEvent[] = [];
      const rejected: DeadLetter[] = [];
      const settings = {
        receivedAt,
        timezone: options.timezone,
        commandPrefixes: options.commandPrefixes,
      };
      for (const [index, raw] of updates.entries()) {
        const result = transform(raw, settings);
        if (result.ok) {
          const e = result.event;
          events.push(e);
          tracer.step("Event {event_id} received by {source}", () => ({
            event_id: e.event_id,
            event_type: e.event_type,
            group_id: e.group_id,
            source,
          }));
        } else if (replayed?.[index]) {
          rejected.push({ ...replayed[index], attempts: replayed[index].attempts + 1 });
        } else {
          const r = result.rejection;
          metrics.inc("vk_router_events_rejected_total", { raw_type: rawTypeLabel(r.raw_type) });
          tracer.failure("Event {event_id} received by {source} and rejected: {error}", {
            event_id: r.event_id,
            group_id: r.group_id,
            raw_type: r.raw_type,
            source,
            error: r.issues.map((i) => `${i.path || "(root)"}: ${i.message}`).join("; "),
          });
          rejected.push({
            id: newLetterId(),
            reason: "rejected",
            destination: null,
            event_id: r.event_id,
            attempts: 0,
            last_error: r.issues.map((i) => `${i.path || "(root)"}: ${i.message}`).join("; "),
            last_status: null,
            failed_at: r.ts,
            event: r.raw,
            issues: r.issues,
          });
        }
      }

      const byGroup = Map.groupBy(events, (e) => e.group_id);
      await Promise.all(
        [...byGroup].map(([groupId, group]) => options.enricherFor(groupId)?.enrich(group)),
      );

      countByType(metrics, "vk_router_events_received_total", events);
      const items: Routed[] = [];
      const routed: RoutedEvent[] = [];
      const unrouted: CustomEvent[] = [];
      for (const event of events) {
        const { destinations, rules } = explainRoute(event, options.routes);
        if (destinations.length === 0) {
          unrouted.push(event);
          tracer.step("Event {event_id} unrouted: no rule matched", () => ({
            event_id: event.event_id,
            event_type: event.event_type,
            group_id: event.group_id,
          }));
        } else {
          tracer.step("Event {event_id} routed by {rule} to {destinations}", () => ({
            event_id: event.event_id,
            event_type: event.event_type,
            group_id: event.group_id,
            rule: rules.join(", "),
            destinations,
          }));
        }
        const body = JSON.stringify(event);
        for (const destination of destinations) {
          items.push({
            destination,
            eventId: event.event_id,
            eventType: event.event_type,
            groupId: event.group_id,
            body,
            receivedAt: receivedAtMs,
          });
        }
        routed.push({ event, destinations });
      }
      countByType(metrics, "vk_router_events_unrouted_total", unrouted);
      options.onEvents?.(routed);
      return { items, rejected };
    },
    async commit(prepared, unit) {
      // A retry of this commit (the deliveries failed) must not store them again.
      if (!rejectionsStored.has(prepared)) {
        await options.deliverer.deadLetter(prepared.rejected);
        rejectionsStored.add(prepared);
      }
      await options.deliverer.deliver(prepared.items, unit);
    },
    merge(prepared) {
      return {
        items: prepared.flatMap((p) => p.items),
        rejected: prepared.flatMap((p) => p.rejected),
      };
    },
    async handle(batch) {
      await pipeline.commit(await pipeline.prepare(batch));
    },
  };
  return pipeline;
}

/** Adds a batch's events to a counter by `event_type`: one increment per type, not per event. */
function countByType(metrics: Metrics, name: string, events: readonly CustomEvent[]): void {
  if (events.length === 0) return;
  const counts = new Map<string, number>();
  for (const { event_type } of events) counts.set(event_type, (counts.get(event_type) ?? 0) + 1);
  for (const [event_type, n] of counts) metrics.inc(name, { event_type }, n);
}
