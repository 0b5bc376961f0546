/**
 * The operator's workbench: browse, replay and delete dead letters one by one or by
 * destination, see the parked deliveries, retry a destination now, pause and resume it.
 * The state lives in the state store, so every replica shows and does the same: a letter
 * is taken atomically (two replicas acting on one letter act once), a pause holds for
 * every replica and survives restarts. Every action is logged with its outcome.
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { DeadLetter, ParkedDelivery, StateStore } from "./store/state_store.ts";
import type { Deliverer } from "./deliver/deliverer.ts";
import type { Replay, ReplayResult } from "./replay.ts";

const log = getLogger(["vk-event-router", "workbench"]);

/** A dead letter as a list shows it (times in ms since epoch). */
export interface LetterItem {
  id: string;
  destination: string | null;
  reason: string;
  error: string;
  attempts: number;
  first_failed_at: number;
  last_failed_at: number;
  event_type: string | null;
  event_id: string | null;
}

/** A parked delivery, in the same shape, with when it is tried next. */
export interface ParkedItem extends LetterItem {
  due_at: number;
}

/** One page of a list; `next_cursor` continues it, null at the end. */
export interface ItemPage<T> {
  items: T[];
  next_cursor: string | null;
}

/** What the workbench does. */
export interface Workbench {
  deadLetters(query: {
    destination?: string | null;
    reason?: DeadLetter["reason"];
    limit: number;
    cursor?: string | null;
  }): Promise<ItemPage<LetterItem>>;
  /** One letter with its event (and validation issues, HTTP status, redirect target). */
  deadLetter(
    id: string,
  ): Promise<(LetterItem & { event: unknown; [more: string]: unknown }) | null>;
  /** Replays letters by id, or every letter of a destination (up to {@linkcode MAX_BULK}). */
  replay(request: { ids: readonly string[] } | { destination: string }): Promise<ReplayResult>;
  deleteDeadLetter(id: string): Promise<{ deleted: number }>;
  parked(query: {
    destination?: string;
    limit: number;
    cursor?: string | null;
  }): Promise<ItemPage<ParkedItem>>;
  retryNow(destination: string): Promise<{ retried: number; delivered: number; failed: number }>;
  pause(destination: string): Promise<{ destination: string; paused: true; changed: boolean }>;
  resume(destination: string): Promise<
    { destination: string; paused: false; changed: boolean; retried: number; delivered: number }
  >;
  paused(): Promise<string[]>;
}

/** Most letters one bulk replay by destination takes. */
export const MAX_BULK = 1000;

/** A letter as a list shows it. */
export function letterItem(l: DeadLetter): LetterItem {
  const event = (l.event ?? {}) as { event_type?: unknown };
  return {
    id: l.id,
    destination: l.destination,
    reason: l.reason,
    error: l.last_error,
    attempts: l.attempts,
    first_failed_at: (l.first_failed_at ?? l.failed_at) * 1000,
    last_failed_at: l.failed_at * 1000,
    event_type: typeof event.event_type === "string" ? event.event_type : null,
    event_id: l.event_id,
  };
}

/** A parked delivery as a list shows it. */
export function parkedItem(d: ParkedDelivery): ParkedItem {
  return {
    id: d.id,
    destination: d.destination,
    reason: d.attempts === 0 ? "paused" : "delivery_failed",
    error: d.lastError,
    attempts: d.attempts,
    first_failed_at: d.firstFailedAt,
    last_failed_at: d.lastFailedAt ?? d.firstFailedAt,
    event_type: d.eventType ?? null,
    event_id: d.eventId,
    due_at: d.nextAttemptAt,
  };
}

/** Builds the workbench over the router's store, deliverer and replay. */
export function createWorkbench(
  options: { store: StateStore; deliverer: Deliverer; replay: Replay },
): Workbench {
  const { store, deliverer } = options;
  return {
    async deadLetters({ destination, reason, limit, cursor }) {
      const page = await store.listDeadLetters({
        limit,
        cursor: cursor ?? null,
        filter: {
          ...(destination !== undefined ? { destination } : {}),
          ...(reason ? { reason } : {}),
        },
      });
      return { items: page.items.map(letterItem), next_cursor: page.cursor };
    },
    async deadLetter(id) {
      const l = await store.getDeadLetter(id);
      if (!l) return null;
      const { event, issues, last_status, location } = l;
      return {
        ...letterItem(l),
        last_status,
        ...(issues ? { issues } : {}),
        ...(location ? { location } : {}),
        event,
      };
    },
    async replay(request) {
      let ids: readonly string[];
      if ("ids" in request) ids = request.ids;
      else {
        const found: string[] = [];
        let cursor: string | null = null;
        do {
          const page = await store.listDeadLetters({
            limit: 100,
            cursor,
            filter: { destination: request.destination },
          });
          found.push(...page.items.map((l) => l.id));
          cursor = page.cursor;
        } while (cursor !== null && found.length < MAX_BULK);
        ids = found.slice(0, MAX_BULK);
      }
      const result = ids.length === 0
        ? { replayed: 0, delivered: 0, failed: 0, set_aside: 0 }
        : await options.replay({ ids });
      log.info(
        "Replayed {replayed} of {asked} dead letters ({delivered} delivered, {failed} failed)",
        { ...result, asked: ids.length, ...request },
      );
      return result;
    },
    async deleteDeadLetter(id) {
      const deleted = await store.deleteDeadLetters([id]);
      log.info("Deleted dead letter {id}: {deleted} removed", { id, deleted });
      return { deleted };
    },
    async parked({ destination, limit, cursor }) {
      const page = await store.listParked({
        limit,
        cursor: cursor ?? null,
        filter: destination !== undefined ? { destination } : {},
      });
      return { items: page.items.map(parkedItem), next_cursor: page.cursor };
    },
    async retryNow(destination) {
      const { tried, delivered } = await deliverer.retryNow(destination);
      const result = { retried: tried, delivered, failed: tried - delivered };
      log.info(
        "Retried {retried} parked deliveries of {destination} now: {delivered} delivered",
        { destination, ...result },
      );
      return result;
    },
    async pause(destination) {
      const changed = await store.setPaused(destination, true);
      deliverer.pausedChanged(destination, true);
      log.info("Paused destination {destination}: its deliveries are parked until resumed", {
        destination,
        changed,
      });
      return { destination, paused: true, changed };
    },
    async resume(destination) {
      const changed = await store.setPaused(destination, false);
      deliverer.pausedChanged(destination, false);
      const { tried, delivered } = await deliverer.retryNow(destination);
      log.info(
        "Resumed destination {destination}: {retried} parked deliveries retried, {delivered} delivered",
        { destination, changed, retried: tried, delivered },
      );
      return { destination, paused: false, changed, retried: tried, delivered };
    },
    paused: () => store.pausedDestinations(),
  };
}
