/**
 * What the stages report as they run (poll states and faults, routed events, checkpoints),
 * recorded once into both the status page's state and the metrics, so no stage knows
 * about either.
 * @module
 */
import type { StuckBatch } from "../ingest/ingestion.ts";
import type { LeaseObserver } from "../lease/coordinator.ts";
import type { PollObserver } from "../vk/long_poll.ts";
import type { Metrics } from "./metrics.ts";
import type { ServiceStatus } from "./status.ts";
import type { RoutedEvent } from "../events/types.ts";

/** Everything the stages tell. */
export interface RouterObserver extends PollObserver, LeaseObserver {
  /** A batch's events were routed (an empty list of destinations: unrouted). */
  events(routed: readonly RoutedEvent[]): void;
  /** A community's checkpoint was written. */
  checkpoint(groupId: number, ts: string): void;
  /** A community's batch keeps failing (null: it got through). */
  stuck(groupId: number, stuck: StuckBatch | null): void;
}

/** An observer that records into `status` and `metrics`. */
export function createObserver(status: ServiceStatus, metrics: Metrics): RouterObserver {
  return {
    state: (groupId, state, detail) => status.state(groupId, state, detail),
    historyLost(groupId) {
      metrics.inc("vk_router_history_lost_total", { group_id: groupId });
      status.historyLost(groupId);
    },
    fault(groupId, kind, message) {
      metrics.inc("vk_router_poll_faults_total", { group_id: groupId, kind });
      status.fault(groupId, kind, message);
    },
    events: (routed) => status.events(routed),
    stuck(groupId, stuck) {
      if (stuck) metrics.inc("vk_router_stuck_batches_total", { group_id: groupId });
      status.stuck(groupId, stuck);
    },
    checkpoint(groupId, ts) {
      metrics.set("vk_router_checkpoint_ts", { group_id: groupId }, Number(ts));
      status.checkpoint(groupId, ts);
    },
    acquired(groupId, instanceId, takeover) {
      metrics.inc("vk_router_lease_acquired_total", { group_id: groupId });
      if (takeover) metrics.inc("vk_router_lease_takeovers_total", { group_id: groupId });
      status.owner(groupId, instanceId, true);
    },
    lost(groupId, reason, message) {
      metrics.inc("vk_router_lease_lost_total", { group_id: groupId, reason });
      status.error(message);
    },
    standby: (groupId, holder) => status.owner(groupId, holder, false),
  };
}
