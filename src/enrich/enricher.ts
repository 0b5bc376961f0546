/**
 * Fills `user_name`, `user_nick` and `peer_name` of a batch's events. Unknown ids are
 * collected for the whole batch and asked once per method; answers are cached with a TTL
 * and a size bound. Enrichment never holds a batch hostage: past a short deadline the
 * events go out with what the cache knows (nulls at worst) while the lookup finishes in
 * the background for later batches.
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { errorMessage } from "../errors.ts";
import { CHAT_PEER_BASE } from "../events/transform.ts";
import type { CustomEvent } from "../events/types.ts";
import type { Directory, Profile } from "./directory.ts";
import { TtlCache } from "./ttl_cache.ts";
import { withTimeout } from "../util/time.ts";

const log = getLogger(["vk-event-router", "enrich"]);

/** Options for {@linkcode createEnricher}. */
export interface EnricherOptions {
  directory: Directory;
  /** How long a name is trusted. @default 1 hour */
  ttlMs?: number;
  /** How long "VK will not tell" is trusted. @default 5 minutes */
  negativeTtlMs?: number;
  /** @default 50_000 */
  maxEntries?: number;
  /** Longest wait for lookups before a batch goes out without them. @default 1_500 */
  deadlineMs?: number;
  /** Pause after VK failed, doubling to a minute, so an outage costs few calls. @default 2_000 */
  failurePauseMs?: number;
  now?: () => number;
}

/** Counters for the status page. */
export interface EnricherStats {
  hits: number;
  misses: number;
  lookupsFailed: number;
  deadlinesMissed: number;
}

/** Enriches batches of events in place. */
export interface Enricher {
  enrich(events: CustomEvent[]): Promise<void>;
  readonly stats: Readonly<EnricherStats>;
}

/** What a lookup asks: users and communities are one lane each; chats one per community. */
type Lane = "user" | "community" | `chat:${number}`;
type Key = `${Lane}:${number}`;

interface LaneState {
  queued: Set<number>;
  next: Promise<void> | null;
  release: () => void;
  busy: boolean;
}
type Value = Profile | string | null;

/** Creates an enricher over a {@linkcode Directory}. */
export function createEnricher(options: EnricherOptions): Enricher {
  const { directory } = options;
  const ttlMs = options.ttlMs ?? 3_600_000;
  const negativeTtlMs = options.negativeTtlMs ?? 300_000;
  const deadlineMs = options.deadlineMs ?? 1_500;
  const basePauseMs = options.failurePauseMs ?? 2_000;
  const now = options.now ?? Date.now;
  const cache = new TtlCache<Key, Value>({ maxEntries: options.maxEntries ?? 50_000, now });
  const inflight = new Map<Key, Promise<void>>();
  const stats: EnricherStats = { hits: 0, misses: 0, lookupsFailed: 0, deadlinesMissed: 0 };
  let pausedUntil = 0;
  let pauseMs = basePauseMs;

  /**
   * Lookups coalesce per lane: at most one call in flight, and ids asked for meanwhile wait
   * for the next call, which carries all of them. Under load this turns many small calls
   * (and waits on the rate limiter) into few large ones.
   */
  const lanes = new Map<Lane, LaneState>();
  const laneOf = (lane: Lane): LaneState => {
    let state = lanes.get(lane);
    if (!state) {
      lanes.set(lane, state = { queued: new Set(), next: null, release: () => {}, busy: false });
    }
    return state;
  };

  function request(kind: Lane, ids: readonly number[]): void {
    const lane = laneOf(kind);
    for (const id of ids) lane.queued.add(id);
    lane.next ??= new Promise<void>((resolve) => lane.release = resolve);
    for (const id of ids) inflight.set(`${kind}:${id}`, lane.next);
    if (!lane.busy) startLookup(kind);
  }

  /** Sends one call for every id queued in the lane; the ids queued meanwhile wait for the next. */
  function startLookup(kind: Lane): void {
    const lane = laneOf(kind);
    const ids = [...lane.queued];
    const release = lane.release;
    const done = lane.next!;
    lane.queued.clear();
    lane.next = null;
    lane.busy = true;
    lookup(kind, ids).finally(() => {
      for (const id of ids) {
        if (inflight.get(`${kind}:${id}`) === done) inflight.delete(`${kind}:${id}`);
      }
      release();
      lane.busy = false;
      if (lane.queued.size > 0) startLookup(kind);
    });
  }

  function lookup(kind: Lane, ids: number[]): Promise<void> {
    const ask = kind === "user"
      ? directory.users(ids)
      : kind === "community"
      ? directory.communities(ids)
      : directory.chatTitles(ids, undefined, Number(kind.slice(5)));
    return ask.then(
      (answers: Map<number, Value>) => {
        pauseMs = basePauseMs;
        for (const id of ids) {
          const value = answers.get(id) ?? null;
          cache.set(`${kind}:${id}`, value, value === null ? negativeTtlMs : ttlMs);
        }
      },
      (error) => {
        stats.lookupsFailed++;
        pausedUntil = now() + pauseMs;
        log.warn(
          "Cannot look up {count} {kind} names, events go out without them for {pause} ms: {error}",
          {
            count: ids.length,
            kind,
            pause: pauseMs,
            error: errorMessage(error),
          },
        );
        pauseMs = Math.min(pauseMs * 2, 60_000);
      },
    );
  }

  return {
    stats,
    async enrich(events) {
      for (const e of events) {
        if (
          e.event_type === "chat_action" && e.action.type === "chat_title_update" && e.action.text
        ) {
          cache.set(`chat:${e.group_id}:${e.peer_id}`, e.action.text, ttlMs);
        }
      }
      const needed = new Set<Key>();
      for (const e of events) {
        if ("user_id" in e) needed.add(actorKey(e.user_id));
        if ("peer_id" in e) needed.add(peerKey(e.group_id, e.peer_id));
      }
      // Each distinct id is read from the cache once per batch, not once per event.
      const known = new Map<Key, Value>();
      const missing = new Map<Lane, number[]>();
      const waits = new Set<Promise<void>>();
      for (const key of needed) {
        const value = cache.get(key);
        if (value !== undefined) {
          known.set(key, value);
          stats.hits++;
          continue;
        }
        stats.misses++;
        const pending = inflight.get(key);
        if (pending) waits.add(pending);
        else if (now() >= pausedUntil) {
          const at = key.lastIndexOf(":");
          const lane = key.slice(0, at) as Lane;
          missing.set(lane, [...(missing.get(lane) ?? []), Number(key.slice(at + 1))]);
        }
      }
      for (const [lane, ids] of missing) request(lane, ids);
      for (const key of needed) {
        const pending = inflight.get(key);
        if (pending) waits.add(pending);
      }
      if (waits.size > 0) {
        // Lookups never reject (failures are cached as unknown), so a rejection is the deadline.
        await withTimeout(Promise.all(waits), deadlineMs).catch(() => stats.deadlinesMissed++);
        for (const key of needed) {
          if (known.has(key)) continue;
          const value = cache.get(key);
          if (value !== undefined) known.set(key, value);
        }
      }
      for (const e of events) fill(e, known);
    },
  };

  function fill(e: CustomEvent, known: ReadonlyMap<Key, Value>): void {
    if ("user_id" in e) {
      const p = known.get(actorKey(e.user_id)) as Profile | null | undefined;
      e.user_name = p?.name ?? null;
      e.user_nick = p?.nick ?? null;
    }
    if ("peer_id" in e) {
      const key = peerKey(e.group_id, e.peer_id);
      const value = known.get(key);
      e.peer_name = typeof value === "string"
        ? value
        : (value as Profile | null | undefined)?.name ?? null;
    }
  }
}

/** Positive ids are users, negative ones communities. */
function actorKey(id: number): Key {
  return id < 0 ? `community:${-id}` : `user:${id}`;
}

/**
 * Group chats have titles, numbered per community (one token may serve several); a
 * private dialog's name is its user's (or community's).
 */
function peerKey(groupId: number, peerId: number): Key {
  return peerId > CHAT_PEER_BASE ? `chat:${groupId}:${peerId}` : actorKey(peerId);
}
