/**
 * What a community's ingestion touches under a lease, gated by it: every long-poll
 * request (the VK API calls and `a_check`) first checks that the lease is still held and
 * fresh, and every checkpoint write carries the lease's fencing token, so that Redis
 * refuses it once a newer holder exists. A refused write is a lost lease, not a failure to
 * retry: the holding's signal aborts and the ingestion stops.
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { FenceError, type StateStore } from "../store/state_store.ts";
import type { VkApi } from "../vk/api.ts";
import type { HeldLease } from "./hold.ts";

const log = getLogger(["vk-event-router", "lease"]);

/** A VK client whose calls fail (with the loss) once the lease is lost or stale. */
export function leasedApi(api: VkApi, lease: HeldLease): VkApi {
  return {
    async call(method, params, signal) {
      lease.check();
      return await api.call(method, params, signal);
    },
  };
}

/** A `fetch` that refuses to start a request once the lease is lost or stale. */
export function leasedFetch(doFetch: typeof fetch, lease: HeldLease): typeof fetch {
  return async (input, init) => {
    lease.check();
    return await doFetch(input, init);
  };
}

/** The store with every checkpoint (and poll server) write fenced by the lease's token. */
export function leasedStore(store: StateStore, lease: HeldLease): StateStore {
  /** A refused write ends the lease. */
  const fenced = async (write: () => Promise<void>) => {
    try {
      await write();
    } catch (error) {
      if (error instanceof FenceError) {
        log.warn("{message}", { message: error.message });
        lease.lose("fenced", error.message);
      }
      throw error;
    }
  };
  return {
    ...store,
    setCheckpoint: (groupId, ts) => fenced(() => store.setCheckpoint(groupId, ts, lease.fence)),
    ...(store.setPollServer
      ? {
        setPollServer: (groupId, server) =>
          fenced(() => store.setPollServer!(groupId, server, lease.fence)),
      }
      : {}),
    // A write carried in a batch's round trip is fenced too; when refused it stays pending
    // and is written alone above, which ends the lease.
    ...(store.carryCheckpoint
      ? {
        carryCheckpoint: (unit, groupId, ts) =>
          store.carryCheckpoint!(unit, groupId, ts, lease.fence),
      }
      : {}),
  };
}
