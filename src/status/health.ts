/**
 * One verdict for the whole service, with the reasons behind it: what an operator (or a
 * load balancer's probe, or an alert) reads first. Pure: it judges figures the snapshot
 * already read, so the badge, `/api/status` and the page never disagree.
 * @module
 */

/** How one destination fared lately, as this process saw its attempts. */
export interface DestinationHealth {
  lastDeliveredAt: number | null;
  lastFailedAt: number | null;
  lastError: { at: number; message: string } | null;
  /** When this process added its dead letters (ms since epoch), the recent ones only. */
  deadLetteredAt: number[];
}

/** Why the service is not `ok`; `destination` or `group_id` names what is affected. */
export interface HealthReason {
  code:
    | "store_unreachable"
    | "community_fatal"
    | "community_not_polling"
    | "ingestion_stalled"
    | "destination_failing"
    | "destination_paused"
    | "dead_letters_added"
    | "parked_growing"
    | "backlog_growing";
  message: string;
  destination?: string;
  group_id?: number;
}

/** `failing`: events cannot be taken or held; `degraded`: taken and held, some not delivered. */
export interface Health {
  status: "ok" | "degraded" | "failing";
  reasons: HealthReason[];
}

/** A destination's own verdict: its latest attempt failed (`failing`), or it is `paused`. */
export type DestinationState = "ok" | "failing" | "paused";

/** What the verdict is made of: figures of one snapshot. */
export interface HealthInput {
  storeReachable: boolean;
  communities: readonly {
    group_id: number;
    state: string;
    detail: string | null;
    /** Since when a batch keeps failing and holds back the checkpoint; null while it advances. */
    stuck_since: number | null;
    stuck_batch: { events: number; error: string } | null;
  }[];
  destinations: readonly {
    name: string;
    state: DestinationState;
    last_error: { at: number; message: string } | null;
    /** Dead letters it added within {@linkcode RECENT_DEAD_LETTERS_MS}. */
    recent_dead_letters: number;
    backlog_growing: boolean;
  }[];
  /** The store's parked deliveries rose for a while without ever falling. */
  parkedGrowing: boolean;
}

/** Dead letters added this recently make the service `degraded`. */
export const RECENT_DEAD_LETTERS_MS = 5 * 60_000;

/** States of a community in which it takes events (itself or through another replica). */
const TAKING: ReadonlySet<string> = new Set(["polling", "callback-only", "standby"]);

/**
 * The verdict of this replica with the other replicas' reasons about the communities they
 * poll, each named by its replica (`replica-a: Community 42 does not advance: …`), so a
 * standby's page tells the fleet's truth. (Destinations are judged on the fleet's merged
 * attempts already, and the store is the same for all.)
 */
export function withFleetReasons(
  own: Health,
  others: readonly { instance_id: string; reasons?: readonly HealthReason[] }[],
): Health {
  const reasons = [...own.reasons];
  let failing = own.status === "failing";
  for (const replica of others) {
    for (const r of replica.reasons ?? []) {
      if (r.group_id === undefined) continue;
      failing ||= r.code === "community_fatal";
      reasons.push({ ...r, message: `${replica.instance_id}: ${r.message}` });
    }
  }
  return { status: failing ? "failing" : reasons.length > 0 ? "degraded" : "ok", reasons };
}

/** Judges the figures: every problem becomes a reason; the worst decides the status. */
export function assessHealth(input: HealthInput): Health {
  const failing: HealthReason[] = [];
  const degraded: HealthReason[] = [];
  if (!input.storeReachable) {
    failing.push({
      code: "store_unreachable",
      message: "The state store is unreachable: events cannot be parked or checkpointed",
    });
  }
  for (const c of input.communities) {
    const detail = c.detail ? `: ${c.detail}` : "";
    if (c.state === "fatal") {
      failing.push({
        code: "community_fatal",
        message: `Community ${c.group_id} stopped for good${detail}`,
        group_id: c.group_id,
      });
    } else if (!TAKING.has(c.state)) {
      degraded.push({
        code: "community_not_polling",
        message: `Community ${c.group_id} is ${c.state}${detail}`,
        group_id: c.group_id,
      });
    }
    if (c.stuck_since !== null) {
      const batch = c.stuck_batch;
      degraded.push({
        code: "ingestion_stalled",
        message: `Community ${c.group_id} does not advance: a batch${
          batch ? ` of ${batch.events} events` : ""
        } keeps failing${batch ? ` (${batch.error})` : ""}; the checkpoint waits`,
        group_id: c.group_id,
      });
    }
  }
  for (const d of input.destinations) {
    if (d.state === "paused") {
      degraded.push({
        code: "destination_paused",
        message: `Destination ${d.name} is paused: its deliveries are parked`,
        destination: d.name,
      });
    } else if (d.state === "failing") {
      degraded.push({
        code: "destination_failing",
        message: `Destination ${d.name} is failing: ${
          d.last_error?.message ?? "its last attempt failed"
        }`,
        destination: d.name,
      });
    }
    if (d.recent_dead_letters > 0) {
      degraded.push({
        code: "dead_letters_added",
        message: `Destination ${d.name} added ${d.recent_dead_letters} dead letter${
          d.recent_dead_letters === 1 ? "" : "s"
        } in the last ${RECENT_DEAD_LETTERS_MS / 60_000} minutes`,
        destination: d.name,
      });
    }
    if (d.backlog_growing) {
      degraded.push({
        code: "backlog_growing",
        message: `The backlog of ${d.name} keeps growing: is its consumer running?`,
        destination: d.name,
      });
    }
  }
  if (input.parkedGrowing) {
    degraded.push({
      code: "parked_growing",
      message: "Parked deliveries keep growing: retries do not catch up",
    });
  }
  const reasons = [...failing, ...degraded];
  return {
    status: failing.length > 0 ? "failing" : degraded.length > 0 ? "degraded" : "ok",
    reasons,
  };
}
