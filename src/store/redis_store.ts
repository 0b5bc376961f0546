/**
 * The state store in Redis, under `REDIS_PREFIX`, sharing the destinations' connection.
 * Parked deliveries are a sorted set by due time plus a hash of their bodies; dead
 * letters a sorted set of their ids (in time order) plus a hash of the letters, so one
 * script takes, lists or deletes any of them atomically; login sessions keys that Redis
 * expires itself (`SET … PX`). A checkpoint (and the poll server beside it,
 * `checkpoint:<group>:server`) written under a lease is fenced by its token.
 * Named locks carry a token per holding, delivery claims one per store, so a process only
 * ever releases its own.
 * @module
 */
import type { RedisClient } from "../redis/connection.ts";
import { redisKeys } from "../redis/keys.ts";
import { LuaScript, runScript, type ScriptCall, scriptsOn } from "../redis/scripts.ts";
import { sleep } from "../util/time.ts";
import CHECKPOINT_SOURCE from "./checkpoint.lua" with { type: "text" };
import DUE_SOURCE from "./due.lua" with { type: "text" };
import FENCED_SET_SOURCE from "./fenced_set.lua" with { type: "text" };
import {
  type DeadLetter,
  type DeadLetterFilter,
  type DeliveryClaim,
  FenceError,
  LockBusyError,
  newLetterId,
  type ParkedDelivery,
  type SetAside,
  type StateStore,
} from "./state_store.ts";
import TAKE_SOURCE from "./dead_take.lua" with { type: "text" };
import PAGE_SOURCE from "./dead_page.lua" with { type: "text" };
import UPGRADE_SOURCE from "./dead_upgrade.lua" with { type: "text" };
import CLAIM_SOURCE from "./delivery_claim.lua" with { type: "text" };
import SETTLE_SOURCE from "./delivery_settle.lua" with { type: "text" };
import LOCK_SOURCE from "./lock.lua" with { type: "text" };

const TAKE_SCRIPT = new LuaScript(TAKE_SOURCE);
const PAGE_SCRIPT = new LuaScript(PAGE_SOURCE);
const UPGRADE_SCRIPT = new LuaScript(UPGRADE_SOURCE);
const CLAIM_SCRIPT = new LuaScript(CLAIM_SOURCE);
const SETTLE_SCRIPT = new LuaScript(SETTLE_SOURCE);
const LOCK_SCRIPT = new LuaScript(LOCK_SOURCE);

/** A lock lives this long unless renewed (a third of it) by its holder. */
const LOCK_TTL_MS = 30_000;
/** Letters per step of a listing, or of the move from the older layout. */
const PAGE = 100;

/** Up to ARGV[2] ids due by ARGV[1] and their bodies, in one command. */
const DUE_SCRIPT = new LuaScript(DUE_SOURCE);

/** Writes a checkpoint; a script, so that the write can travel with a batch's pushes. */
const CHECKPOINT_SCRIPT = new LuaScript(CHECKPOINT_SOURCE);

/**
 * A write under a lease, fenced by the writer's token (`fenced_set.lua`): it fails with
 * `STALE_FENCE` once a newer holder took the lease, so that a refusal looks like a failed
 * write wherever the call travels (alone, or in a batch's round trip), never like a success.
 */
export const FENCED_SET_SCRIPT: LuaScript = new LuaScript(FENCED_SET_SOURCE);

/** Whether `error` is Redis refusing a write fenced by a stale token. */
export function isStaleFence(error: unknown): boolean {
  return error instanceof Error && error.message.includes("STALE_FENCE");
}

/** A failed fenced write; a {@linkcode FenceError} when a newer lease holder exists. */
function fencedError(
  error: unknown,
  what: string,
  groupId: number,
  fence: number | undefined,
): unknown {
  if (!isStaleFence(error)) return error;
  return new FenceError(
    `Cannot write the ${what} of community ${groupId}: fence ${fence} is stale, another process holds the lease`,
  );
}

/** A store over an open Redis client; closing it leaves the connection to its owner. */
export function createRedisStore(redis: RedisClient, prefix: string): StateStore {
  const keys = redisKeys(prefix);
  const { parkedDue: dueKey, parkedItems: itemsKey } = keys;
  const dead = { ids: keys.deadLetterIds, items: keys.deadLetterItems };
  /** Where letters were kept before they had ids (a list); emptied into `dead` once. */
  const legacyDeadKey = keys.deadLetters;
  const asideKey = keys.deadLetterAside;
  /** The paused destinations: a hash of name to when it was paused (ms). */
  const pausedKey = keys.pausedDestinations;
  const token = crypto.randomUUID();
  const close = () => Promise.resolve();
  /**
   * A write of a community's state (the checkpoint, alone or carried in a batch's round
   * trip, or the poll server); with the fencing token of the writer's lease it fails
   * (STALE_FENCE) once a newer holder exists.
   */
  const stateWrite = (key: string, groupId: number, value: string, fence?: number): ScriptCall =>
    fence === undefined ? { script: CHECKPOINT_SCRIPT, keys: [key], args: [value] } : {
      script: FENCED_SET_SCRIPT,
      keys: [key, keys.fence(groupId)],
      args: [value, String(fence)],
    };
  const checkpointWrite = (groupId: number, ts: string, fence?: number) =>
    stateWrite(keys.checkpoint(groupId), groupId, ts, fence);
  /**
   * Moves letters from the list of older versions into the current layout, once per store
   * (each step one script; a crash between steps leaves the rest for the next process).
   */
  let upgrading: Promise<void> | null = null;
  const upgraded = () =>
    upgrading ??= (async () => {
      for (;;) {
        const ids = Array.from({ length: PAGE }, () => newLetterId());
        const moved = await runScript(redis, {
          script: UPGRADE_SCRIPT,
          keys: [legacyDeadKey, dead.ids, dead.items],
          args: ids,
        });
        if (Number(moved) < PAGE) return;
      }
    })().catch((error) => {
      upgrading = null; // try again on the next call
      throw error;
    });
  const takeById = async (ids: readonly string[]): Promise<DeadLetter[]> => {
    await upgraded();
    if (ids.length === 0) return [];
    return lettersOf(
      await runScript(redis, {
        script: TAKE_SCRIPT,
        keys: [dead.ids, dead.items],
        args: ["ids", ...ids],
      }),
    );
  };
  return {
    kind: "redis",
    async getCheckpoint(groupId) {
      return await redis.get(keys.checkpoint(groupId));
    },
    async setCheckpoint(groupId, ts, fence) {
      try {
        await runScript(redis, checkpointWrite(groupId, ts, fence));
      } catch (error) {
        throw fencedError(error, "checkpoint", groupId, fence);
      }
    },
    async carryCheckpoint(unit, groupId, ts, fence) {
      const result = await unit.channel(scriptsOn(redis)).add(checkpointWrite(groupId, ts, fence));
      if (!result.ok) throw fencedError(new Error(result.error), "checkpoint", groupId, fence);
    },
    async getPollServer(groupId) {
      return await redis.get(keys.pollServer(groupId));
    },
    async setPollServer(groupId, server, fence) {
      try {
        await runScript(redis, stateWrite(keys.pollServer(groupId), groupId, server, fence));
      } catch (error) {
        throw fencedError(error, "poll server", groupId, fence);
      }
    },
    async park(deliveries) {
      if (deliveries.length === 0) return;
      const multi = redis.multi();
      for (const d of deliveries) {
        multi.hset(itemsKey, { [d.id]: JSON.stringify(d) });
        multi.zadd(dueKey, { score: d.nextAttemptAt, member: d.id });
      }
      await multi.exec();
    },
    async due(now, limit) {
      const [ids, bodies] = await runScript(redis, {
        script: DUE_SCRIPT,
        keys: [dueKey, itemsKey],
        args: [String(now), String(limit)],
      }) as [string[], (string | null)[]];
      return ids.flatMap((_, i) => {
        const body = bodies[i];
        return body ? [JSON.parse(body) as ParkedDelivery] : [];
      });
    },
    async nextDueAt() {
      return await redis.lowestScore(dueKey);
    },
    async unpark(ids) {
      if (ids.length === 0) return;
      const multi = redis.multi();
      multi.zrem(dueKey, ...ids);
      multi.hdel(itemsKey, ...ids);
      await multi.exec();
    },
    async parkedCount() {
      return await redis.zcard(dueKey);
    },
    async listParked({ limit, cursor, filter }) {
      const items: ParkedDelivery[] = [];
      let offset = cursor ? Number(cursor) : 0;
      for (;;) {
        const ids = await redis.zrange(dueKey, 0, Number.MAX_SAFE_INTEGER, {
          byScore: true,
          offset,
          count: PAGE,
        });
        if (ids.length === 0) return { items, cursor: null };
        const bodies = await redis.hmget(itemsKey, ...ids);
        for (const [i, body] of bodies.entries()) {
          const d = body ? JSON.parse(body) as ParkedDelivery : null;
          if (!d || (filter?.destination !== undefined && d.destination !== filter.destination)) {
            continue;
          }
          items.push(d);
          if (items.length === limit) return { items, cursor: String(offset + i + 1) };
        }
        offset += ids.length;
      }
    },
    async addDeadLetters(letters) {
      if (letters.length === 0) return;
      const multi = redis.multi();
      for (const l of letters) {
        multi.hset(dead.items, { [l.id]: JSON.stringify(l) });
        multi.zadd(dead.ids, { score: 0, member: l.id });
      }
      await multi.exec();
    },
    async takeDeadLetters(limit) {
      await upgraded();
      return lettersOf(
        await runScript(redis, {
          script: TAKE_SCRIPT,
          keys: [dead.ids, dead.items],
          args: ["oldest", String(Math.max(1, Math.min(limit, 1000)))],
        }),
      );
    },
    takeDeadLettersById: takeById,
    async listDeadLetters({ limit, cursor, filter }) {
      await upgraded();
      const items: DeadLetter[] = [];
      let after = cursor ?? null;
      for (;;) {
        const page = lettersOf(
          await runScript(redis, {
            script: PAGE_SCRIPT,
            keys: [dead.ids, dead.items],
            args: [after === null ? "-" : `(${after}`, String(PAGE)],
          }),
        );
        if (page.length === 0) return { items, cursor: null };
        for (const letter of page) {
          after = letter.id;
          if (!matches(letter, filter)) continue;
          items.push(letter);
          if (items.length === limit) return { items, cursor: after };
        }
      }
    },
    async getDeadLetter(id) {
      await upgraded();
      const [item] = await redis.hmget(dead.items, id);
      return item ? { ...JSON.parse(item) as DeadLetter, id } : null;
    },
    async deleteDeadLetters(ids) {
      return (await takeById(ids)).length;
    },
    async deadLetterCount() {
      await upgraded();
      return await redis.zcard(dead.ids);
    },
    async setPaused(destination, paused) {
      // HSET answers 1 for a new field, HDEL 1 for a removed one: whether the state changed.
      const multi = redis.multi();
      if (paused) multi.hset(pausedKey, { [destination]: String(Date.now()) });
      else multi.hdel(pausedKey, destination);
      const [changed] = await multi.exec();
      return Number(changed) === 1;
    },
    async pausedDestinations() {
      return Object.keys(await redis.hgetall(pausedKey)).sort();
    },
    async setAside(items) {
      if (items.length === 0) return;
      await redis.lpush(asideKey, ...items.map((a) => JSON.stringify(a)));
    },
    async listSetAside(limit) {
      return (await redis.lrange(asideKey, 0, limit - 1)).map((s) => JSON.parse(s) as SetAside);
    },
    async withLock(name, waitMs, work) {
      const key = keys.lock(name);
      const holder = crypto.randomUUID(); // one per holding: another call here waits too
      const lock = (action: "take" | "renew" | "release") =>
        runScript(redis, {
          script: LOCK_SCRIPT,
          keys: [key],
          args: [action, holder, String(LOCK_TTL_MS)],
        }).then((done) => done === 1);
      const deadline = Date.now() + waitMs;
      while (!await lock("take")) {
        if (Date.now() >= deadline) {
          throw new LockBusyError(`The ${name} lock is held by another process: try again later`);
        }
        await sleep(Math.min(200, Math.max(1, deadline - Date.now())));
      }
      const renewal = setInterval(() => lock("renew").catch(() => {}), LOCK_TTL_MS / 3);
      try {
        return await work();
      } finally {
        clearInterval(renewal);
        await lock("release").catch(() => {}); // else it expires within LOCK_TTL_MS
      }
    },
    async claimDeliveries(destination, eventIds, ttlMs) {
      if (eventIds.length === 0) return [];
      return await runScript(redis, {
        script: CLAIM_SCRIPT,
        keys: eventIds.map((id) => keys.dedup(destination, id)),
        args: [String(Math.max(1, Math.ceil(ttlMs))), token],
      }) as DeliveryClaim[];
    },
    async settleDeliveries(destination, settled, dedupTtlS, unit) {
      if (settled.length === 0) return;
      const call: ScriptCall = {
        script: SETTLE_SCRIPT,
        keys: settled.map((s) => keys.dedup(destination, s.eventId)),
        args: [String(dedupTtlS), token, ...settled.map((s) => s.delivered ? "1" : "0")],
      };
      if (!unit) return void await runScript(redis, call);
      // Not awaited: the unit is sent after this sink answers. A unit sent or given up
      // refuses the call, which then goes alone; if that fails too, the claim expires.
      unit.channel(scriptsOn(redis)).add(call).catch(() => runScript(redis, call)).catch(() => {});
    },
    async putSession(key, ttlMs) {
      await redis.set(keys.session(key), "1", { px: Math.max(1, Math.ceil(ttlMs)) });
    },
    async hasSession(key) {
      return await redis.exists(keys.session(key)) === 1;
    },
    async deleteSession(key) {
      await redis.del(keys.session(key));
    },
    async ping() {
      await redis.ping();
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** The letters a take or page script answered, each with its id. */
function lettersOf(answer: unknown): DeadLetter[] {
  const [ids, items] = answer as [string[], (string | null)[]];
  return ids.flatMap((id, i) => {
    const item = items[i];
    return item ? [{ ...JSON.parse(item) as DeadLetter, id }] : [];
  });
}

/** Whether a letter passes a listing's filter. */
export function matches(letter: DeadLetter, filter: DeadLetterFilter = {}): boolean {
  return (filter.destination === undefined || filter.destination === letter.destination) &&
    (filter.reason === undefined || filter.reason === letter.reason);
}
