/**
 * The Prometheus text exposition format (version 0.0.4) of the service's metrics.
 * @module
 */
import type { Sample } from "./metrics.ts";

const HELP: Record<string, string> = {
  vk_router_events_received_total: "Events received and transformed, by custom event type.",
  vk_router_events_rejected_total: "Raw events that failed validation, by raw type.",
  vk_router_events_unrouted_total: "Events no rule matched, by event type.",
  vk_router_delivered_total: "Events delivered, by destination.",
  vk_router_duplicates_total:
    "Deliveries a destination already had (replays stopped by the dedup marker), by destination.",
  vk_router_delivery_failures_total: "First delivery attempts that failed, by destination.",
  vk_router_parked_total: "Deliveries parked for a retry, by destination.",
  vk_router_retried_total: "Retry attempts of parked deliveries, by destination.",
  vk_router_dead_lettered_total: "Events moved to the dead letter, by destination.",
  vk_router_vk_api_calls_total: "VK API requests, by method.",
  vk_router_history_lost_total:
    "Long-poll failed: 1 answers (events may have been lost), by community.",
  vk_router_poll_faults_total: "Long-poll faults that were retried, by community and kind.",
  vk_router_checkpoint_ts: "Last checkpointed long-poll ts, by community.",
  vk_router_stuck_batches_total:
    "Batches that kept failing past the stuck limit, holding back the checkpoint, by community.",
  vk_router_enrich_cache_hits_total: "Name lookups answered from the cache.",
  vk_router_enrich_cache_misses_total: "Name lookups not in the cache.",
  vk_router_parked: "Deliveries parked now.",
  vk_router_dead_letters: "Dead letters kept in the state store now.",
  vk_router_up: "1 while the community's long poll is connected, by community.",
  vk_router_lease_acquired_total: "Leases this process took, by community.",
  vk_router_lease_lost_total:
    "Leases this process lost without releasing them, by community and reason (expired, taken, fenced).",
  vk_router_lease_takeovers_total:
    "Leases this process took whose previous holder had not released them, by community.",
  vk_router_uptime_seconds: "Seconds since the service started.",
  vk_router_http_connections_refused_total:
    "Connections closed on accept, by reason (connections: HTTP_MAX_CONNECTIONS; address: HTTP_MAX_CONNECTIONS_PER_ADDRESS).",
  vk_router_http_idle_closed_total:
    "Connections closed after HTTP_IDLE_TIMEOUT_MS without a request in progress.",
  vk_router_http_accept_errors_total:
    "Failed accepts of connections (e.g. too many open files); the server pauses and goes on.",
  vk_router_delivery_latency_seconds:
    "Seconds from receiving an event to its confirmed first-attempt delivery, by destination.",
};

/** Histograms, whose `_bucket`, `_sum` and `_count` series share one header. */
const HISTOGRAMS: ReadonlySet<string> = new Set(["vk_router_delivery_latency_seconds"]);

/** The metric a series belongs to: its own name, or the histogram it is part of. */
function family(name: string): string {
  const base = name.replace(/_(bucket|sum|count)$/, "");
  return HISTOGRAMS.has(base) ? base : name;
}

function typeOf(metric: string): string {
  return HISTOGRAMS.has(metric) ? "histogram" : metric.endsWith("_total") ? "counter" : "gauge";
}

/**
 * Renders samples, each metric's series together; names ending in `_total` are counters,
 * those in {@linkcode HISTOGRAMS} histograms, the rest gauges.
 */
export function renderPrometheus(samples: readonly Sample[]): string {
  const lines: string[] = [];
  let current = "";
  for (const s of samples) {
    const metric = family(s.name);
    if (metric !== current) {
      current = metric;
      lines.push(`# HELP ${metric} ${HELP[metric] ?? metric}`);
      lines.push(`# TYPE ${metric} ${typeOf(metric)}`);
    }
    const labels = Object.entries(s.labels).map(([k, v]) => `${k}="${escapeLabel(String(v))}"`)
      .join(",");
    lines.push(`${s.name}${labels ? `{${labels}}` : ""} ${Number.isFinite(s.value) ? s.value : 0}`);
  }
  return lines.join("\n") + "\n";
}

function escapeLabel(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll("\n", "\\n").replaceAll('"', '\\"');
}
