/**
 * Which community each replica polls. Every replica computes the same assignment from
 * the set of live replicas ({@linkcode assign}), takes the free leases assigned to it,
 * and hands over (gracefully: the batch in flight is finished and checkpointed, then the
 * lease released) those now assigned to another replica, once that one has been live for
 * a join delay. A replica that just joined claims nothing for that delay, so that at a
 * cold start the replicas see each other before any takes a lease.
 *
 * All of it is one Redis round trip per renewal period (a third of the TTL), whatever the
 * number of communities: the tick records the heartbeat, renews every held lease,
 * acquires the wanted ones and reads every holder. A lease whose renewal Redis has not
 * confirmed for too long is given up by its own monotonic watchdog (`hold.ts`), so a
 * replica cut off from Redis, or talking to one that hangs, stops polling in time.
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { errorMessage } from "../errors.ts";
import { sleep, withTimeout } from "../util/time.ts";
import { assign } from "./assignment.ts";
import { type HeldLease, holdLease, type LossReason, renewEveryMs } from "./hold.ts";
import {
  instanceOf,
  type LeaseClient,
  type OwnerToken,
  ownerToken,
  type Replica,
  type TickAction,
} from "./lease.ts";

const log = getLogger(["vk-event-router", "lease"]);

/** What the coordinator reports, for the status page and metrics. */
export interface LeaseObserver {
  /** This process took the lease; `takeover` when the previous holder had not released it. */
  acquired(groupId: number, instanceId: string, takeover: boolean): void;
  /** This process lost the lease without releasing it. */
  lost(groupId: number, reason: LossReason, message: string): void;
  /** Another process holds the lease (`holder`, an instance id), or nobody does yet. */
  standby(groupId: number, holder: string | null): void;
}

/** Options for {@linkcode createLeaseCoordinator}. */
export interface CoordinatorOptions {
  client: LeaseClient;
  /** This process's `INSTANCE_ID`. */
  instanceId: string;
  /** The communities the replicas share: the same on every replica. */
  communities: readonly number[];
  ttlMs: number;
  observer: LeaseObserver;
  /** @default performance.now */
  now?: () => number;
}

/** The work done while a lease is held: resolves when `signal` aborts (or fails for good). */
export type LeasedWork = (lease: HeldLease, signal: AbortSignal) => Promise<void>;

/** The per-process lease coordinator. */
export interface LeaseCoordinator extends AsyncDisposable {
  /** Communities whose lease this process holds now. */
  readonly held: ReadonlySet<number>;
  /**
   * Runs `work` for `groupId` whenever this process holds its lease, until `signal`
   * aborts; then releases the lease. Rejects with the work's error when it fails for good
   * (after releasing the lease).
   */
  run(groupId: number, work: LeasedWork, signal: AbortSignal): Promise<void>;
  /** Stops the ticks and leaves the set of live replicas (after every `run` ended). */
  close(): Promise<void>;
}

/** A lease just acquired for a waiting `run`. */
interface Grant {
  fence: number;
  previous: OwnerToken | null;
  sentAt: number;
}

interface Holding {
  lease: HeldLease;
  handOver: AbortController;
}

/**
 * Creates the coordinator and starts its ticks.
 *
 * @example
 * ```ts
 * const leases = createLeaseCoordinator({ client, instanceId, communities: [1, 2], ttlMs, observer });
 * await leases.run(groupId, (lease, signal) => runIngestion({ ..., signal }), shutdown);
 * ```
 */
export function createLeaseCoordinator(options: CoordinatorOptions): LeaseCoordinator {
  const { client, instanceId, ttlMs, observer } = options;
  const now = options.now ?? (() => performance.now());
  const owner = ownerToken(instanceId);
  const periodMs = renewEveryMs(ttlMs);
  /** How long a replica must have been live before it claims leases or is handed any. */
  const joinDelayMs = periodMs;
  const groups = [...new Set(options.communities)].sort((a, b) => a - b);
  const holdings = new Map<number, Holding>();
  const waiting = new Map<number, (grant: Grant) => void>();
  /** The holder each standby community was last shown with. */
  const shown = new Map<number, string | null>();
  const closing = new AbortController();
  /** The last tick's view: Redis's clock then (and ours), the live replicas, the assignment. */
  let view: { redisNow: number; at: number; replicas: Replica[] } | null = null;
  let assignment = new Map<number, string>();
  let assignedFor = "";
  /** Whether an acquisition was asked yet: only the first may reclaim this id's own leases. */
  let claimed = false;
  let failing = false;

  const settled = (replica: Replica | undefined, redisNow: number) =>
    replica !== undefined && redisNow - replica.joinedAt >= joinDelayMs;

  const show = (groupId: number, holder: string | null) => {
    if (shown.has(groupId) && shown.get(groupId) === holder) return;
    shown.set(groupId, holder);
    observer.standby(groupId, holder);
  };

  /** One tick; true when it freed up leases this process should take at once. */
  const tick = async (): Promise<boolean> => {
    const redisNow = view ? view.redisNow + now() - view.at : 0;
    const me = view?.replicas.find((r) => r.instanceId === instanceId);
    const claiming = settled(me, redisNow);
    const actions = groups.map((g): [number, TickAction] => {
      if (holdings.has(g)) return [g, "renew"];
      if (claiming && waiting.has(g) && assignment.get(g) === instanceId) {
        return [g, claimed ? "acquire" : "reclaim"];
      }
      return [g, "read"];
    });
    const sentAt = now();
    let answer;
    try {
      // A tick that hangs must not outlive the next one; the watchdogs run meanwhile.
      answer = await withTimeout(client.tick(instanceId, owner, actions), periodMs, "no answer");
    } catch (error) {
      if (!failing) {
        log.warn("Cannot renew the leases of {instanceId}: {error}", {
          instanceId,
          error: errorMessage(error),
        });
      }
      failing = true;
      return false;
    }
    if (failing) log.info("Renewed the leases of {instanceId} again", { instanceId });
    failing = false;
    if (actions.some(([, a]) => a === "reclaim")) claimed = true;
    const free = new Set<number>();
    actions.forEach(([groupId, action], i) => {
      const state = answer.leases[i]!;
      if (state.holder === null) free.add(groupId);
      if (action === "renew") {
        const holding = holdings.get(groupId);
        if (!holding) return;
        if (state.holder === owner) holding.lease.renewed(sentAt);
        else holding.lease.lose("taken", "another process holds it now");
      } else if (state.fence !== null) {
        const grant = waiting.get(groupId);
        waiting.delete(groupId);
        shown.delete(groupId);
        if (grant) grant({ fence: state.fence, previous: state.previous, sentAt });
        else client.release(groupId, owner).catch(() => {}); // its run stopped meanwhile
      } else if (state.holder !== owner) {
        show(groupId, state.holder && instanceOf(state.holder));
      }
    });
    view = { redisNow: answer.now, at: now(), replicas: answer.replicas };
    const live = answer.replicas.map((r) => r.instanceId);
    if (live.join() !== assignedFor) {
      assignedFor = live.join();
      assignment = assign(groups, live);
      log.debug("Live replicas: {live}", { live: assignedFor });
    }
    for (const [groupId, holding] of holdings) {
      const target = assignment.get(groupId);
      if (target === instanceId || holding.handOver.signal.aborted) continue;
      if (!settled(answer.replicas.find((r) => r.instanceId === target), answer.now)) continue;
      log.info("Handing community {groupId} over to {target}", { groupId, target });
      holding.handOver.abort(new DOMException("Handing the lease over", "AbortError"));
    }
    // A new view that assigns free leases to this settled process: take them now, not a
    // period later.
    const self = answer.replicas.find((r) => r.instanceId === instanceId);
    return settled(self, answer.now) &&
      [...free].some((g) => waiting.has(g) && assignment.get(g) === instanceId);
  };
  const ticking = (async () => {
    while (!closing.signal.aborted) {
      if (await tick()) await tick();
      try {
        await sleep(periodMs, closing.signal);
      } catch {
        return;
      }
    }
  })();

  /** Waits until a tick acquires the lease of `groupId` for this process. */
  const granted = (groupId: number, signal: AbortSignal) =>
    new Promise<Grant>((resolve, reject) => {
      const abort = () => {
        waiting.delete(groupId);
        reject(signal.reason);
      };
      if (signal.aborted) return abort();
      signal.addEventListener("abort", abort, { once: true });
      waiting.set(groupId, (grant) => {
        signal.removeEventListener("abort", abort);
        resolve(grant);
      });
    });

  return {
    get held() {
      return new Set(holdings.keys());
    },
    async run(groupId, work, signal) {
      while (!signal.aborted) {
        let got;
        try {
          got = await granted(groupId, signal);
        } catch {
          return;
        }
        const takeover = got.previous !== null;
        if (takeover) {
          log.info(
            "Took over community {groupId} from {previous}, which did not release it (fence {fence})",
            { groupId, previous: instanceOf(got.previous!), fence: got.fence },
          );
        } else {
          log.info("Holding community {groupId} (fence {fence})", { groupId, fence: got.fence });
        }
        observer.acquired(groupId, instanceId, takeover);
        const lease = holdLease({
          client,
          groupId,
          owner,
          fence: got.fence,
          ttlMs,
          acquiredAt: got.sentAt,
          now,
          onLost(error) {
            log.error("{message}; standing by", { message: error.message });
            observer.lost(groupId, error.reason, error.message);
          },
        });
        const holding: Holding = { lease, handOver: new AbortController() };
        holdings.set(groupId, holding);
        try {
          await work(lease, AbortSignal.any([signal, lease.signal, holding.handOver.signal]));
        } finally {
          holdings.delete(groupId);
          await lease.end();
        }
        if (!signal.aborted) show(groupId, null);
      }
    },
    async close() {
      closing.abort();
      await ticking;
      await withTimeout(client.leave(instanceId), ttlMs, "no answer").catch(() => {});
    },
    [Symbol.asyncDispose]() {
      return this.close();
    },
  };
}
