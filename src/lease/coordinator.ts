/**
 * Which community each replica polls. Per community: stand by until the lease is free,
 * take it, run the work (the community's ingestion) with a signal that aborts when the
 * lease is lost or the service stops, then release it. Per process: a heartbeat in Redis
 * tells how many replicas are alive and how many leases each holds, so that a replica
 * holding its fair share (`ceil(communities / live replicas)`) lets the others take the
 * rest first, and one holding more than its share, or two more than another replica,
 * hands one lease over per TTL (a graceful handover: the batch in flight is finished and
 * checkpointed, and the lease released).
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { errorMessage } from "../errors.ts";
import { isAbort, retry } from "../util/retry.ts";
import { sleep, withTimeout } from "../util/time.ts";
import { type HeldLease, holdLease, type LossReason, renewEveryMs } from "./hold.ts";
import { instanceOf, type LeaseClient, ownerToken, type Replicas } from "./lease.ts";

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
  /** How many communities the replicas share. */
  communities: number;
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
  /** Stops the heartbeat and leaves the set of live replicas (after every `run` ended). */
  close(): Promise<void>;
}

/** Why a standby did not take the lease this time. */
class Standby extends Error {
  constructor(readonly holder: string | null) {
    super("standing by");
    this.name = "Standby";
  }
}

interface Holding {
  lease: HeldLease;
  since: number;
  handOver: AbortController;
}

/**
 * Creates the coordinator and starts its heartbeat.
 *
 * @example
 * ```ts
 * const leases = createLeaseCoordinator({ client, instanceId, communities: 2, ttlMs, observer });
 * await leases.run(groupId, (lease, signal) => runIngestion({ ..., signal }), shutdown);
 * ```
 */
export function createLeaseCoordinator(options: CoordinatorOptions): LeaseCoordinator {
  const { client, instanceId, ttlMs, observer } = options;
  const now = options.now ?? (() => performance.now());
  const owner = ownerToken(instanceId);
  /** Longest wait of a standby between two looks at the lease (jittered down to half). */
  const standbyMs = Math.min(1000, ttlMs / 3);
  const beatMs = renewEveryMs(ttlMs);
  const holdings = new Map<number, Holding>();
  /** Communities looked at once: only the first look may reclaim a lease of this instance id. */
  const looked = new Set<number>();
  const closing = new AbortController();
  let replicas: Replicas = { live: 1, fewestLeases: 0 };
  let lastHandOver = -Infinity;
  /** Communities handed over lately, until when this process leaves them to the others. */
  const handedOver = new Map<number, number>();

  const fairShare = () => Math.ceil(options.communities / Math.max(1, replicas.live));
  /** More than the fair share, or two more than the replica with the fewest. */
  const overloaded = () =>
    holdings.size > fairShare() || holdings.size - replicas.fewestLeases >= 2;

  /** One heartbeat; hands a lease over when this process holds too many. */
  const beat = async () => {
    try {
      replicas = await withTimeout(
        client.heartbeat(instanceId, ttlMs, holdings.size),
        beatMs,
        "no heartbeat",
      );
    } catch (error) {
      log.debug("Cannot record the heartbeat of {instanceId}: {error}", {
        instanceId,
        error: errorMessage(error),
      });
      return;
    }
    const t = now();
    if (!overloaded() || t - lastHandOver < ttlMs) return;
    const [groupId, newest] = [...holdings].filter(([, h]) => t - h.since >= ttlMs)
      .sort(([, a], [, b]) => b.since - a.since)[0] ?? [];
    if (groupId === undefined || !newest) return;
    lastHandOver = t;
    handedOver.set(groupId, t + ttlMs);
    log.info(
      "Handing community {groupId} over: this process holds {count} of {communities} leases among {live} replicas",
      { groupId, count: holdings.size, communities: options.communities, live: replicas.live },
    );
    newest.handOver.abort(new DOMException("Handing the lease over", "AbortError"));
  };
  const ready = beat();
  const beating = (async () => {
    await ready;
    while (!closing.signal.aborted) {
      try {
        await sleep(beatMs, closing.signal);
      } catch {
        return;
      }
      await beat();
    }
  })();

  /** Stands by until the lease of `groupId` is ours. */
  const acquire = async (groupId: number, signal: AbortSignal) => {
    let freeSince: number | null = null;
    let failing = false;
    return await retry(async () => {
      // At its share, or just after handing this one over, a replica lets the others
      // take a free lease first: it takes one only after it stayed free for a TTL.
      const t0 = now();
      if (holdings.size >= fairShare() || t0 < (handedOver.get(groupId) ?? -Infinity)) {
        const holder = await client.holder(groupId);
        const t = now();
        if (holder !== null) freeSince = null;
        else freeSince ??= t;
        if (holder !== null || t - freeSince! < ttlMs) throw new Standby(holder);
      }
      const sentAt = now();
      // At start, take back at once what this instance id held before a crash and restart.
      const got = await client.acquire(groupId, owner, looked.has(groupId) ? "" : instanceId);
      looked.add(groupId);
      failing = false;
      if (!got.acquired) throw new Standby(got.holder);
      return { ...got, sentAt };
    }, {
      signal,
      backoff: { minMs: standbyMs, maxMs: standbyMs },
      onRetry(error) {
        if (error instanceof Standby) {
          return observer.standby(groupId, error.holder && instanceOf(error.holder));
        }
        if (!failing) {
          log.warn("Cannot look for the lease of community {groupId}: {error}", {
            groupId,
            error: errorMessage(error),
          });
        }
        failing = true;
      },
    });
  };

  return {
    get held() {
      return new Set(holdings.keys());
    },
    async run(groupId, work, signal) {
      await ready;
      while (!signal.aborted) {
        let got;
        try {
          got = await acquire(groupId, signal);
        } catch (error) {
          if (isAbort(error, signal)) return;
          throw error;
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
        const holding: Holding = { lease, since: now(), handOver: new AbortController() };
        holdings.set(groupId, holding);
        try {
          await work(lease, AbortSignal.any([signal, lease.signal, holding.handOver.signal]));
        } finally {
          holdings.delete(groupId);
          await lease.end();
        }
        if (!signal.aborted) observer.standby(groupId, null);
      }
    },
    async close() {
      closing.abort();
      await beating;
      await withTimeout(client.leave(instanceId), ttlMs, "no answer").catch(() => {});
    },
    [Symbol.asyncDispose]() {
      return this.close();
    },
  };
}
