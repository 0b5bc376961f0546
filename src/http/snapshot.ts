/**
 * One read of the service's state, shared by the status page, `/api/status` and
 * `/metrics`, so the three never disagree. It comes in two views: `full` for a viewer
 * who proved `STATUS_TOKEN`, and `aggregates` for the open page, which leaves out
 * everything about people (names, user and event ids, message texts) and keeps counts,
 * types and states.
 * @module
 */
import { withTimeout } from "../util/time.ts";
import { type BacklogView, type BacklogWatch, createGrowthWatch } from "../status/backlog_watch.ts";
import {
  assessHealth,
  type DestinationHealth,
  type DestinationState,
  type Health,
  RECENT_DEAD_LETTERS_MS,
  withFleetReasons,
} from "../status/health.ts";
import type { Routes } from "../config/routes.ts";
import type { ConsumerGroup } from "../deliver/kinds/kind.ts";
import type { EnricherStats } from "../enrich/enricher.ts";
import type { FleetView } from "../status/fleet.ts";
import type { LetterItem, ParkedItem, Workbench } from "../workbench.ts";
import type { Metrics, Sample } from "../status/metrics.ts";
import {
  failingNow,
  mergeDestinationHealth,
  recentDeadLetters,
  RecentError,
  RecentEvent,
  ServiceStatus,
} from "../status/status.ts";
import type { StateStore } from "../store/state_store.ts";
import type { Timeline, TimelineSnapshot } from "../status/timeline.ts";

/** Everything the status endpoints read. */
export interface SnapshotSources {
  version: string;
  status: ServiceStatus;
  metrics: Metrics;
  store: StateStore;
  routes: Routes;
  enrichStats: () => EnricherStats;
  /** Traffic over time for the charts; the serverless worker has none (yet). */
  timeline?: Timeline;
  /** Backlogs of the queueing destinations; none when no destination queues. */
  backlogs?: BacklogWatch;
  /** Paused destinations, and (full view) the first dead letters and parked deliveries. */
  workbench?: Workbench;
  /** Every replica sharing the state in Redis; absent outside the service, or without Redis. */
  fleet?: () => Promise<FleetView>;
  /** This process's `INSTANCE_ID`; null where there is no such process (the worker). */
  instanceId?: string | null;
  now?: () => number;
}

/** Who looks: `full` once `STATUS_TOKEN` was proven, `aggregates` on the open page. */
export type SnapshotView = "full" | "aggregates";

/** A recent event as shown: who, where, which and what only in the full view. */
export type RecentEventView =
  & Pick<RecentEvent, "at" | "event_type" | "group_id" | "destinations" | "fates">
  & Partial<Pick<RecentEvent, "event_id" | "user_name" | "peer_name" | "text">>
  & {
    /** True when the event has a text that this view leaves out. */
    text_hidden: boolean;
  };

/** The state of the service at one instant (the body of `/api/status`). */
export interface StatusSnapshot {
  view: SnapshotView;
  version: string;
  /** The process that answered. */
  instance_id: string | null;
  /** The verdict, with every reason that is not ok (the page's badge shows the same). */
  health: Health;
  now: number;
  started_at: number;
  uptime_s: number;
  events_received_total: number;
  events_received: Record<string, number>;
  events_rejected_total: number;
  events_unrouted_total: number;
  communities: {
    group_id: number;
    state: string;
    detail: string | null;
    /** The instance id of the process that polls it (holds its lease), or null. */
    owner: string | null;
    ts: string | null;
    last_event_at: number | null;
    history_lost: number;
    warnings: string[];
    /** Since when (ms since epoch) a batch keeps failing, holding back the checkpoint. */
    stuck_since: number | null;
    /** That batch: its first event ids, how many events, the last error. */
    stuck_batch: { event_ids: string[]; events: number; error: string } | null;
  }[];
  destinations: {
    name: string;
    kind: string;
    /** `failing`: its latest attempt failed; `paused`: an operator paused it. */
    state: DestinationState;
    last_delivered_at: number | null;
    last_error: { at: number; message: string } | null;
    delivered: number;
    duplicates: number;
    failures: number;
    retried: number;
    parked: number;
    dead_lettered: number;
    /** Items waiting for consumers (lists, streams); null where it cannot be read. */
    depth: number | null;
    /** Age of the oldest waiting item in seconds; null when empty or unknown. */
    oldest_age_s: number | null;
    /** Consumers reading it, where the server tells (a RabbitMQ queue); else null. */
    consumers: number | null;
    /** What consumers have not taken rose for over a minute without a dip: is a consumer alive? */
    backlog_growing: boolean;
    /**
     * A stream's consumer groups (`XINFO GROUPS`: consumers, pending, lag); an empty list is
     * "no consumer group"; null for destinations without groups.
     */
    consumer_groups: ConsumerGroup[] | null;
  }[];
  store: { kind: string; reachable: boolean; parked: number; dead_letters: number };
  enrichment: {
    hits: number;
    misses: number;
    hit_rate: number | null;
    lookups_failed: number;
    vk_api_calls: number;
    vk_api_calls_per_s: number;
  };
  recent_errors: RecentError[];
  recent_events: RecentEventView[];
  /** The oldest dead letters in the state store (the full view only; null otherwise). */
  dead_letter_items: LetterItem[] | null;
  /** The parked deliveries due first (the full view only; null otherwise). */
  parked_items: ParkedItem[] | null;
  /**
   * Every replica sharing the state (instance id, last heartbeat, communities it polls, its
   * counts) and the totals; null without Redis (one process) or when Redis does not answer.
   */
  fleet: FleetView | null;
  /** Events, latency and errors over time (the worker's from Redis); null without a timeline. */
  timeline: TimelineSnapshot | null;
}

/** Dead letters and parked deliveries the page lists (the API pages through all of them). */
export const SHOWN_ITEMS = 20;

/** Builds snapshots; remembers recent VK call counts to report a rate over the last minute. */
export function createSnapshots(
  sources: SnapshotSources,
): (view: SnapshotView) => Promise<StatusSnapshot> {
  const now = sources.now ?? Date.now;
  const callSamples: [number, number][] = [];
  const parkedGrowth = createGrowthWatch();

  /** Store figures, or unreachable within a second (the page must not hang on a down Redis). */
  async function storeFigures(): Promise<StatusSnapshot["store"]> {
    const result = await withTimeout(
      Promise.all([sources.store.parkedCount(), sources.store.deadLetterCount()]),
      1000,
    ).catch(() => null);
    return result
      ? { kind: sources.store.kind, reachable: true, parked: result[0], dead_letters: result[1] }
      : { kind: sources.store.kind, reachable: false, parked: 0, dead_letters: 0 };
  }

  return async function snapshot(view: SnapshotView): Promise<StatusSnapshot> {
    const t = now();
    const { metrics, status } = sources;
    const received: Record<string, number> = {};
    for (const s of metrics.samples()) {
      if (s.name === "vk_router_events_received_total") {
        received[String(s.labels.event_type)] = s.value;
      }
    }
    const calls = metrics.sum("vk_router_vk_api_calls_total");
    callSamples.push([t, calls]);
    while (callSamples.length > 1 && t - callSamples[0]![0] > 60_000) callSamples.shift();
    const [t0, c0] = callSamples[0]!;
    const uptimeS = (t - status.startedAt) / 1000;
    const rate = t - t0 >= 1000
      ? (calls - c0) / ((t - t0) / 1000)
      : uptimeS > 0
      ? calls / uptimeS
      : 0;
    const e = sources.enrichStats();
    const backlogs = await sources.backlogs?.read() ?? new Map<string, BacklogView>();
    const per = (name: string, destination: string) => metrics.get(name, { destination });
    const bench = sources.workbench;
    const within = <T>(p: Promise<T> | undefined) =>
      p ? withTimeout(p, 1000).catch(() => null) : Promise.resolve(null);
    const [store, fleet, pausedNames, letters, parked] = await Promise.all([
      storeFigures(),
      within(sources.fleet?.()),
      within(bench?.paused()),
      within(view === "full" ? bench?.deadLetters({ limit: SHOWN_ITEMS }) : undefined),
      within(view === "full" ? bench?.parked({ limit: SHOWN_ITEMS }) : undefined),
    ]);
    const paused = new Set(pausedNames ?? []);
    // Destinations as the fleet saw them: another replica's delivery counts as much as ours.
    const others = fleet?.replicas.filter((r) => r.instance_id !== sources.instanceId) ?? [];
    const seen = mergeDestinationHealth([
      status.destinations,
      ...others.map((r) => new Map(Object.entries(r.destinations ?? {}))),
    ]);
    const body: Omit<StatusSnapshot, "health"> = {
      view,
      version: sources.version,
      instance_id: sources.instanceId ?? null,
      now: t,
      started_at: status.startedAt,
      uptime_s: uptimeS,
      events_received_total: metrics.sum("vk_router_events_received_total"),
      events_received: received,
      events_rejected_total: metrics.sum("vk_router_events_rejected_total"),
      events_unrouted_total: metrics.sum("vk_router_events_unrouted_total"),
      communities: [...status.communities.values()].map((c) => ({
        group_id: c.groupId,
        state: c.state,
        detail: c.detail,
        owner: c.owner,
        ts: c.ts,
        last_event_at: c.lastEventAt,
        history_lost: c.historyLost,
        warnings: c.warnings,
        stuck_since: c.stuckSince,
        stuck_batch: c.stuckBatch
          ? {
            event_ids: c.stuckBatch.eventIds,
            events: c.stuckBatch.events,
            error: c.stuckBatch.error,
          }
          : null,
      })),
      destinations: [...sources.routes.destinations.values()].map((d) => ({
        name: d.name,
        kind: d.kind,
        ...healthFields(seen.get(d.name), paused.has(d.name)),
        ...backlogFields(backlogs.get(d.name)),
        delivered: per("vk_router_delivered_total", d.name),
        duplicates: per("vk_router_duplicates_total", d.name),
        failures: per("vk_router_delivery_failures_total", d.name),
        retried: per("vk_router_retried_total", d.name),
        parked: per("vk_router_parked_total", d.name),
        dead_lettered: per("vk_router_dead_lettered_total", d.name),
      })),
      store,
      enrichment: {
        hits: e.hits,
        misses: e.misses,
        hit_rate: e.hits + e.misses > 0 ? e.hits / (e.hits + e.misses) : null,
        lookups_failed: e.lookupsFailed,
        vk_api_calls: calls,
        vk_api_calls_per_s: rate,
      },
      recent_errors: [...status.recentErrors],
      recent_events: status.recentEvents.map((r) => eventView(r, view)),
      dead_letter_items: letters?.items ?? null,
      parked_items: parked?.items ?? null,
      fleet,
      timeline: sources.timeline?.series() ?? null,
    };
    const health = assessHealth({
      storeReachable: store.reachable,
      communities: body.communities,
      destinations: body.destinations.map((d) => ({
        ...d,
        recent_dead_letters: recentDeadLetters(
          seen.get(d.name),
          t,
          RECENT_DEAD_LETTERS_MS,
        ),
      })),
      parkedGrowing: store.reachable && parkedGrowth("parked", t, store.parked),
    });
    return { ...body, health: withFleetReasons(health, others) };
  };
}

/** A destination's own verdict from how its recent attempts fared. */
function healthFields(h: DestinationHealth | undefined, paused: boolean) {
  return {
    state: (paused ? "paused" : failingNow(h) ? "failing" : "ok") as DestinationState,
    last_delivered_at: h?.lastDeliveredAt ?? null,
    last_error: h?.lastError ?? null,
  };
}

/** Picks what `view` may show of a recent event (listing the kept fields, not the dropped). */
function eventView(r: RecentEvent, view: SnapshotView): RecentEventView {
  const { at, event_type, group_id, destinations } = r;
  const fates = { ...r.fates }; // events kept in Redis by an older version have none
  return view === "full" ? { ...r, fates, text_hidden: false } : {
    at,
    event_type,
    group_id,
    destinations: [...destinations],
    fates,
    text_hidden: r.text !== null,
  };
}

function backlogFields(b: BacklogView | undefined) {
  return {
    depth: b?.depth ?? null,
    oldest_age_s: b?.oldest_age_s ?? null,
    consumers: b?.consumers ?? null,
    backlog_growing: b?.growing ?? false,
    consumer_groups: b?.groups ?? null,
  };
}

/** Gauges computed at scrape time, added to the counters for `/metrics`. */
export function snapshotGauges(s: StatusSnapshot): Sample[] {
  const per = (name: string, value: (d: StatusSnapshot["destinations"][number]) => number) =>
    s.destinations.map((d) => ({ name, labels: { destination: d.name }, value: value(d) }));
  return [
    { name: "vk_router_uptime_seconds", labels: {}, value: Math.round(s.uptime_s) },
    { name: "vk_router_parked_deliveries", labels: {}, value: s.store.parked },
    { name: "vk_router_dead_letters", labels: {}, value: s.store.dead_letters },
    { name: "vk_router_enrich_cache_hits_total", labels: {}, value: s.enrichment.hits },
    { name: "vk_router_enrich_cache_misses_total", labels: {}, value: s.enrichment.misses },
    {
      name: "vk_router_health_status",
      labels: {},
      value: ["ok", "degraded", "failing"].indexOf(s.health.status),
    },
    ...per("vk_router_destination_failing", (d) => d.state === "failing" ? 1 : 0),
    ...per("vk_router_destination_paused", (d) => d.state === "paused" ? 1 : 0),
    ...s.destinations.flatMap((d) =>
      d.depth === null ? [] : [
        { name: "vk_router_backlog_depth", labels: { destination: d.name }, value: d.depth },
        {
          name: "vk_router_backlog_oldest_age_seconds",
          labels: { destination: d.name },
          value: d.oldest_age_s ?? 0,
        },
        ...(d.consumers === null ? [] : [{
          name: "vk_router_backlog_consumers",
          labels: { destination: d.name },
          value: d.consumers,
        }]),
      ]
    ),
    ...s.communities.flatMap((c) => [
      {
        name: "vk_router_up",
        labels: { group_id: c.group_id },
        value: c.state === "polling" ? 1 : 0,
      },
      {
        name: "vk_router_ingestion_stalled",
        labels: { group_id: c.group_id },
        value: c.stuck_since === null ? 0 : 1,
      },
    ]),
  ];
}
