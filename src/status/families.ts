/**
 * Every metric family the router exports, with its type, its HELP and its labels: the one
 * list that `/metrics`, the metrics reference (docs/METRICS.md) and the tests read. Each
 * family exists from the start at 0 for its known label values, so that an alert on a rate
 * or on an absent series never fires for a counter that simply has not moved yet.
 * @module
 */
import { VK_EVENT_TYPES } from "../events/vk_types.ts";
import { CUSTOM_EVENT_TYPES } from "../events/types.ts";
import { POLL_FAULTS } from "../vk/long_poll.ts";
import { HISTOGRAM_BUCKETS_S, type Sample } from "./metrics.ts";

/** One family: what it counts and by which labels. */
export interface Family {
  type: "counter" | "gauge" | "histogram";
  help: string;
  labels: readonly (
    | "event_type"
    | "raw_type"
    | "destination"
    | "group_id"
    | "kind"
    | "method"
    | "reason"
  )[];
  /** Rendered from the snapshot at every scrape (always present), not counted. */
  computed?: true;
  /** The known values of a label when they are this family's own (else the shared ones). */
  values?: Partial<Record<Family["labels"][number], readonly string[]>>;
}

/** Every reason a lease is lost for, the labels of `vk_router_lease_lost_total`. */
export const LOSS_REASONS = ["expired", "taken", "fenced"] as const;

/** The VK API methods the router calls. */
export const VK_METHODS = [
  "groups.getById",
  "groups.getLongPollServer",
  "groups.getLongPollSettings",
  "messages.getConversationsById",
  "users.get",
] as const;

/** The `raw_type` values of rejected events counted as themselves. */
export const KNOWN_RAW_TYPES: readonly string[] = [...VK_EVENT_TYPES, "other", "(none)"];

/** The `destination` of a rejected raw event's dead letter. */
export const REJECTED = "(rejected)";

/** Every family, by name. */
export const FAMILIES: Readonly<Record<string, Family>> = {
  vk_router_events_received_total: {
    type: "counter",
    help: "Events received and transformed, by custom event type.",
    labels: ["event_type"],
  },
  vk_router_events_rejected_total: {
    type: "counter",
    help:
      "Raw events that failed validation, by raw VK type (other for any type VK does not document).",
    labels: ["raw_type"],
  },
  vk_router_events_unrouted_total: {
    type: "counter",
    help: "Events no rule matched, by event type.",
    labels: ["event_type"],
  },
  vk_router_delivered_total: {
    type: "counter",
    help: "Events delivered, by destination.",
    labels: ["destination"],
  },
  vk_router_duplicates_total: {
    type: "counter",
    help:
      "Deliveries a destination already had (replays stopped by the dedup marker), by destination.",
    labels: ["destination"],
  },
  vk_router_delivery_failures_total: {
    type: "counter",
    help: "First delivery attempts that failed, by destination.",
    labels: ["destination"],
  },
  vk_router_parked_total: {
    type: "counter",
    help: "Deliveries parked for a retry, by destination.",
    labels: ["destination"],
  },
  vk_router_retried_total: {
    type: "counter",
    help: "Retry attempts of parked deliveries, by destination.",
    labels: ["destination"],
  },
  vk_router_dead_lettered_total: {
    type: "counter",
    help: "Events moved to the dead letter, by destination ((rejected) for invalid raw events).",
    labels: ["destination"],
  },
  vk_router_delivery_latency_seconds: {
    type: "histogram",
    help:
      "Seconds from receiving an event to its confirmed first-attempt delivery, by destination.",
    labels: ["destination"],
  },
  vk_router_vk_api_calls_total: {
    type: "counter",
    help: "VK API requests, by method.",
    labels: ["method"],
  },
  vk_router_history_lost_total: {
    type: "counter",
    help: "Long-poll failed: 1 answers (events may have been lost), by community.",
    labels: ["group_id"],
  },
  vk_router_poll_faults_total: {
    type: "counter",
    help: "Long-poll faults that were retried, by community and kind.",
    labels: ["group_id", "kind"],
  },
  vk_router_checkpoint_ts: {
    type: "gauge",
    help: "Last checkpointed long-poll ts, by community (0 before the first).",
    labels: ["group_id"],
  },
  vk_router_lease_acquired_total: {
    type: "counter",
    help: "Leases this process took, by community.",
    labels: ["group_id"],
  },
  vk_router_lease_lost_total: {
    type: "counter",
    help:
      "Leases this process lost without releasing them, by community and reason (expired, taken, fenced).",
    labels: ["group_id", "reason"],
  },
  vk_router_lease_takeovers_total: {
    type: "counter",
    help: "Leases this process took whose previous holder had not released them, by community.",
    labels: ["group_id"],
  },
  vk_router_stuck_batches_total: {
    type: "counter",
    help:
      "Batches that kept failing past the stuck limit, holding back the checkpoint, by community.",
    labels: ["group_id"],
  },
  vk_router_http_connections_refused_total: {
    type: "counter",
    help:
      "Connections closed on accept, by reason (connections: HTTP_MAX_CONNECTIONS; address: HTTP_MAX_CONNECTIONS_PER_ADDRESS).",
    labels: ["reason"],
    values: { reason: ["connections", "address"] },
  },
  vk_router_http_idle_closed_total: {
    type: "counter",
    help: "Connections closed after HTTP_IDLE_TIMEOUT_MS without a request in progress.",
    labels: [],
  },
  vk_router_http_accept_errors_total: {
    type: "counter",
    help:
      "Failed accepts of connections (e.g. too many open files); the server pauses and goes on.",
    labels: [],
  },
  vk_router_enrich_cache_hits_total: {
    type: "counter",
    help: "Name lookups answered from the cache.",
    labels: [],
    computed: true,
  },
  vk_router_enrich_cache_misses_total: {
    type: "counter",
    help: "Name lookups not in the cache.",
    labels: [],
    computed: true,
  },
  vk_router_parked_deliveries: {
    type: "gauge",
    help: "Deliveries parked in the state store now, waiting for a retry.",
    labels: [],
    computed: true,
  },
  vk_router_dead_letters: {
    type: "gauge",
    help: "Dead letters kept in the state store now.",
    labels: [],
    computed: true,
  },
  vk_router_up: {
    type: "gauge",
    help: "1 while the community's long poll is connected, by community.",
    labels: ["group_id"],
    computed: true,
  },
  vk_router_uptime_seconds: {
    type: "gauge",
    help: "Seconds since the service started.",
    labels: [],
    computed: true,
  },
  vk_router_destination_failing: {
    type: "gauge",
    help: "1 while the destination's latest delivery attempt failed, by destination.",
    labels: ["destination"],
    computed: true,
  },
  vk_router_destination_paused: {
    type: "gauge",
    help:
      "1 while an operator has paused the destination (its deliveries are parked), by destination.",
    labels: ["destination"],
    computed: true,
  },
  vk_router_ingestion_stalled: {
    type: "gauge",
    help:
      "1 while a batch of the community keeps failing (a minute or more) and holds back its checkpoint, by community.",
    labels: ["group_id"],
    computed: true,
  },
  vk_router_health_status: {
    type: "gauge",
    help: "The service's health: 0 ok, 1 degraded, 2 failing.",
    labels: [],
    computed: true,
  },
  vk_router_backlog_depth: {
    type: "gauge",
    help:
      "Items a list or stream destination holds that its consumers have not taken, by destination.",
    labels: ["destination"],
    computed: true,
  },
  vk_router_backlog_consumers: {
    type: "gauge",
    help:
      "Consumers reading a destination's queue, where the server tells (a RabbitMQ queue), by destination.",
    labels: ["destination"],
    computed: true,
  },
  vk_router_backlog_oldest_age_seconds: {
    type: "gauge",
    help: "Age of the oldest item consumers have not taken (0 when none), by destination.",
    labels: ["destination"],
    computed: true,
  },
};

/** The label values known at start: the configuration's destinations and communities. */
export interface KnownLabels {
  destinations: readonly string[];
  groupIds: readonly number[];
  /** The `raw_type` values counted as themselves (the rest are `other`). */
  rawTypes: readonly string[];
}

/** The series each counted family has from the start, at 0 (the snapshot renders the rest). */
export function zeroSamples(known: KnownLabels): Sample[] {
  const values: Record<Family["labels"][number], readonly (string | number)[]> = {
    event_type: CUSTOM_EVENT_TYPES,
    raw_type: known.rawTypes,
    destination: known.destinations,
    group_id: known.groupIds,
    kind: POLL_FAULTS,
    method: VK_METHODS,
    reason: LOSS_REASONS,
  };
  const out: Sample[] = [];
  for (const [name, family] of Object.entries(FAMILIES)) {
    if (family.computed) continue;
    let labelSets: Record<string, string | number>[] = [{}];
    for (const label of family.labels) {
      const options = family.values?.[label] ??
        (name === "vk_router_dead_lettered_total" && label === "destination"
          ? [...values[label], REJECTED]
          : values[label]);
      labelSets = labelSets.flatMap((set) => options.map((v) => ({ ...set, [label]: v })));
    }
    for (const labels of labelSets) {
      if (family.type !== "histogram") {
        out.push({ name, labels, value: 0 });
        continue;
      }
      for (const le of [...HISTOGRAM_BUCKETS_S.map(String), "+Inf"]) {
        out.push({ name: `${name}_bucket`, labels: { ...labels, le }, value: 0 });
      }
      out.push({ name: `${name}_sum`, labels, value: 0 });
      out.push({ name: `${name}_count`, labels, value: 0 });
    }
  }
  return out;
}

/**
 * `samples` with every series of `zeros` it lacks, each family's series together (the
 * zeros' order first, so histogram buckets stay in `le` order).
 */
export function withZeros(zeros: readonly Sample[], samples: readonly Sample[]): Sample[] {
  const key = (s: Sample) =>
    `${s.name}${JSON.stringify(Object.entries(s.labels).map(([k, v]) => [k, String(v)]).sort())}`;
  const merged = new Map<string, Sample>(zeros.map((s) => [key(s), s]));
  for (const s of samples) merged.set(key(s), s);
  return [...merged.values()].sort((a, b) =>
    familyOf(a.name).localeCompare(familyOf(b.name)) || a.name.localeCompare(b.name)
  );
}

/** The family a series belongs to: its own name, or the histogram it is part of. */
export function familyOf(name: string): string {
  const base = name.replace(/_(bucket|sum|count)$/, "");
  return FAMILIES[base]?.type === "histogram" ? base : name;
}
