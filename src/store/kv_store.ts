/**
 * The embedded state store: a Deno KV file under `DATA_DIR`, used when no Redis is
 * configured. Parked deliveries are indexed by due time; dead letters are kept under their
 * time-ordered id; login sessions carry their expiry time, since KV deletes expired keys
 * only eventually. Event bodies and letters of any size are kept whole: KV refuses a value
 * over 64 KiB, so long ones are stored in parts (`kv_blobs.ts`). Taking a letter is one
 * atomic delete checked against the version read, so two takers never share one.
 * One process at a time: it cannot coordinate with another, so a second process on the
 * same `DATA_DIR` is refused (an exclusive lock on `<dataDir>/state.lock`, which the
 * operating system drops when the process dies, so a crash leaves no stale lock); the
 * store's named locks (`withLock`) are therefore this process's own.
 * @module
 */
import { ConfigError } from "../errors.ts";
import { withTimeout } from "../util/time.ts";
import { blobOf, deleteText, readText, sweepBlobs, type TextRef, writeText } from "./kv_blobs.ts";
import {
  type DeadLetter,
  type DeadLetterFilter,
  type DeliveryClaim,
  LockBusyError,
  newLetterId,
  type ParkedDelivery,
  type SetAside,
  type StateStore,
} from "./state_store.ts";

/** A parked delivery as stored: its body by reference (a plain string before parts existed). */
type ParkedRecord = Omit<ParkedDelivery, "body"> & { body: TextRef | string };

/** A dead letter as stored: what listings filter on, and the whole letter by reference. */
interface LetterRecord {
  id: string;
  reason: DeadLetter["reason"];
  destination: string | null;
  letter: TextRef;
}

/** An item set aside, its text by reference. */
type SetAsideRecord = Omit<SetAside, "item"> & { item: TextRef };

/** A delivery marker: delivered, or claimed by the holder of `claim`, until `until` (ms). */
interface MarkerRecord {
  claim: string | null;
  until: number;
}

/**
 * Opens (creating if needed) `<dataDir>/state.kv`, moves dead letters of the older layout
 * to the current one and deletes parts that a crash left behind.
 * @throws {ConfigError} when another process uses `dataDir`.
 */
export async function openKvStore(dataDir: string): Promise<StateStore> {
  await Deno.mkdir(dataDir, { recursive: true });
  const lock = await lockDataDir(dataDir);
  const kv = await Deno.openKv(`${dataDir}/state.kv`).catch((error) => {
    lock.close();
    throw error;
  });
  let closed = false;
  const close = () => {
    if (!closed) {
      kv.close();
      lock.close();
    }
    closed = true;
    return Promise.resolve();
  };
  try {
    await upgrade(kv);
  } catch (error) {
    await close();
    throw error;
  }
  const count = async (prefix: string[]) => {
    let n = 0;
    for await (const _ of kv.list({ prefix })) n++;
    return n;
  };
  const readParked = async (record: ParkedRecord): Promise<ParkedDelivery> => ({
    ...record,
    body: await readText(kv, record.body),
  });
  const removeParked = async (id: string) => {
    const entry = await kv.get<ParkedRecord>(["retry", id]);
    if (!entry.value) return;
    const done = await kv.atomic().check(entry).delete(["retry", id]).delete([
      "retry_due",
      entry.value.nextAttemptAt,
      id,
    ]).commit();
    if (done.ok) await deleteText(kv, entry.value.body);
  };
  const parkOne = async (d: ParkedDelivery) => {
    const body = await writeText(kv, d.body);
    const record: ParkedRecord = { ...d, body };
    for (;;) {
      const old = await kv.get<ParkedRecord>(["retry", d.id]);
      const write = kv.atomic().check(old).set(["retry", d.id], record)
        .set(["retry_due", d.nextAttemptAt, d.id], d.id);
      if (old.value && old.value.nextAttemptAt !== d.nextAttemptAt) {
        write.delete(["retry_due", old.value.nextAttemptAt, d.id]);
      }
      if ((await write.commit()).ok) {
        if (old.value) await deleteText(kv, old.value.body);
        return;
      }
    }
  };
  /** Reads the letter, then deletes it if nobody did in between; null when another taker won. */
  const takeEntry = async (entry: Deno.KvEntry<LetterRecord>): Promise<DeadLetter | null> => {
    const letter = await readLetter(entry.value);
    if (!(await kv.atomic().check(entry).delete(entry.key).commit()).ok) return null;
    await deleteText(kv, entry.value.letter);
    return letter;
  };
  const readLetter = async (record: LetterRecord): Promise<DeadLetter> => ({
    ...JSON.parse(await readText(kv, record.letter)) as DeadLetter,
    id: record.id,
  });
  const matches = (record: LetterRecord, filter: DeadLetterFilter = {}) =>
    (filter.destination === undefined || filter.destination === record.destination) &&
    (filter.reason === undefined || filter.reason === record.reason);
  /** In-process locks: the data directory's lock already makes this process the only one. */
  const locks = new Map<string, Promise<unknown>>();
  const markerKey = (destination: string, eventId: string) => ["delivery", destination, eventId];

  return {
    kind: "kv",
    async getCheckpoint(groupId) {
      return (await kv.get<string>(["checkpoint", groupId])).value;
    },
    async setCheckpoint(groupId, ts) {
      await kv.set(["checkpoint", groupId], ts);
    },
    async park(deliveries) {
      for (const d of deliveries) await parkOne(d);
    },
    async due(now, limit) {
      const out: ParkedDelivery[] = [];
      for await (
        const entry of kv.list<string>({ start: ["retry_due"], end: ["retry_due", now + 1] }, {
          limit,
        })
      ) {
        const d = await kv.get<ParkedRecord>(["retry", entry.value]);
        if (d.value) out.push(await readParked(d.value));
      }
      return out;
    },
    async nextDueAt() {
      for await (const entry of kv.list({ prefix: ["retry_due"] }, { limit: 1 })) {
        return entry.key[1] as number;
      }
      return null;
    },
    async unpark(ids) {
      for (const id of ids) await removeParked(id);
    },
    parkedCount: () => count(["retry"]),
    async listParked({ limit, cursor, filter }) {
      const items: ParkedDelivery[] = [];
      const entries = kv.list<string>({ prefix: ["retry_due"] }, cursor ? { cursor } : {});
      for await (const entry of entries) {
        const d = (await kv.get<ParkedRecord>(["retry", entry.value])).value;
        if (!d || (filter?.destination !== undefined && d.destination !== filter.destination)) {
          continue;
        }
        items.push(await readParked(d));
        if (items.length === limit) return { items, cursor: entries.cursor || null };
      }
      return { items, cursor: null };
    },
    async addDeadLetters(letters) {
      for (const l of letters) {
        const letter = await writeText(kv, JSON.stringify(l));
        const record: LetterRecord = {
          id: l.id,
          reason: l.reason,
          destination: l.destination,
          letter,
        };
        await kv.set(["dead_letter", l.id], record);
      }
    },
    async takeDeadLetters(limit) {
      const out: DeadLetter[] = [];
      for await (const entry of kv.list<LetterRecord>({ prefix: ["dead_letter"] })) {
        const letter = await takeEntry(entry);
        if (letter) out.push(letter);
        if (out.length === limit) break;
      }
      return out;
    },
    async takeDeadLettersById(ids) {
      const out: DeadLetter[] = [];
      for (const id of ids) {
        const entry = await kv.get<LetterRecord>(["dead_letter", id]);
        const letter = entry.value ? await takeEntry(entry as Deno.KvEntry<LetterRecord>) : null;
        if (letter) out.push(letter);
      }
      return out;
    },
    async listDeadLetters({ limit, cursor, filter }) {
      const items: DeadLetter[] = [];
      const entries = kv.list<LetterRecord>({ prefix: ["dead_letter"] }, cursor ? { cursor } : {});
      for await (const entry of entries) {
        if (!matches(entry.value, filter)) continue;
        items.push(await readLetter(entry.value));
        if (items.length === limit) return { items, cursor: entries.cursor || null };
      }
      return { items, cursor: null };
    },
    async getDeadLetter(id) {
      const record = (await kv.get<LetterRecord>(["dead_letter", id])).value;
      return record ? await readLetter(record) : null;
    },
    async deleteDeadLetters(ids) {
      let deleted = 0;
      for (const id of ids) {
        const entry = await kv.get<LetterRecord>(["dead_letter", id]);
        if (!entry.value) continue;
        if (!(await kv.atomic().check(entry).delete(entry.key).commit()).ok) continue;
        await deleteText(kv, entry.value.letter);
        deleted++;
      }
      return deleted;
    },
    deadLetterCount: () => count(["dead_letter"]),
    async setPaused(destination, paused) {
      const key = ["paused", destination];
      const entry = await kv.get<number>(key);
      if ((entry.value !== null) === paused) return false;
      const write = kv.atomic().check(entry);
      const done = await (paused ? write.set(key, Date.now()) : write.delete(key)).commit();
      return done.ok;
    },
    async pausedDestinations() {
      const names: string[] = [];
      for await (const entry of kv.list({ prefix: ["paused"] })) names.push(String(entry.key[1]));
      return names.sort();
    },
    async setAside(items) {
      for (const aside of items) {
        const record: SetAsideRecord = { ...aside, item: await writeText(kv, aside.item) };
        await kv.set(["set_aside", newLetterId()], record);
      }
    },
    async listSetAside(limit) {
      const out: SetAside[] = [];
      for await (
        const entry of kv.list<SetAsideRecord>({ prefix: ["set_aside"] }, { limit, reverse: true })
      ) {
        out.push({ ...entry.value, item: await readText(kv, entry.value.item) });
      }
      return out;
    },
    async withLock(name, waitMs, work) {
      const deadline = Date.now() + waitMs;
      while (locks.has(name)) {
        const left = deadline - Date.now();
        if (left <= 0) throw new LockBusyError(`The ${name} lock is held: try again later`);
        await withTimeout(locks.get(name)!, left).catch(() => {});
      }
      const running = work();
      locks.set(name, running);
      try {
        return await running;
      } finally {
        locks.delete(name);
      }
    },
    async claimDeliveries(destination, eventIds, ttlMs) {
      const out: DeliveryClaim[] = [];
      for (const eventId of eventIds) {
        const key = markerKey(destination, eventId);
        const now = Date.now();
        const entry = await kv.get<MarkerRecord>(key);
        const live = entry.value && entry.value.until > now ? entry.value : null;
        if (live) {
          out.push(live.claim === null ? "delivered" : "busy");
          continue;
        }
        const claim: MarkerRecord = { claim: crypto.randomUUID(), until: now + ttlMs };
        const done = await kv.atomic().check(entry).set(key, claim, { expireIn: ttlMs }).commit();
        out.push(done.ok ? "claimed" : "busy");
      }
      return out;
    },
    async settleDeliveries(destination, settled, dedupTtlS) {
      for (const { eventId, delivered } of settled) {
        const key = markerKey(destination, eventId);
        if (!delivered) {
          await kv.delete(key);
          continue;
        }
        const marker: MarkerRecord = { claim: null, until: Date.now() + dedupTtlS * 1000 };
        await kv.set(key, marker, { expireIn: dedupTtlS * 1000 });
      }
    },
    async putSession(key, ttlMs) {
      await kv.set(["session", key], Date.now() + ttlMs, { expireIn: Math.max(1, ttlMs) });
    },
    async hasSession(key) {
      const expiresAt = (await kv.get<number>(["session", key])).value;
      return expiresAt !== null && expiresAt > Date.now();
    },
    async deleteSession(key) {
      await kv.delete(["session", key]);
    },
    async ping() {
      await kv.get(["ping"]);
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * Brings a store of an older version up to date: dead letters under `["dead", ms, seq,
 * uuid]` (no id, one value each) move under their own id, and parts that no record names
 * (a crash between writing parts and their record) are deleted.
 */
async function upgrade(kv: Deno.Kv): Promise<void> {
  for await (const entry of kv.list<Omit<DeadLetter, "id">>({ prefix: ["dead"] })) {
    const id = newLetterId(entry.key[1] as number);
    const l: DeadLetter = { ...entry.value, id };
    const record: LetterRecord = {
      id,
      reason: l.reason,
      destination: l.destination,
      letter: await writeText(kv, JSON.stringify(l)),
    };
    await kv.atomic().check(entry).delete(entry.key).set(["dead_letter", id], record).commit();
  }
  const referenced = new Set<string>();
  const note = (ref: TextRef | string | undefined) => {
    const blob = blobOf(ref);
    if (blob) referenced.add(blob);
  };
  for await (const e of kv.list<ParkedRecord>({ prefix: ["retry"] })) note(e.value.body);
  for await (const e of kv.list<LetterRecord>({ prefix: ["dead_letter"] })) note(e.value.letter);
  for await (const e of kv.list<SetAsideRecord>({ prefix: ["set_aside"] })) note(e.value.item);
  await sweepBlobs(kv, referenced);
}

/** Takes the exclusive lock of `dataDir` for as long as the returned file stays open. */
async function lockDataDir(dataDir: string): Promise<Deno.FsFile> {
  const path = `${dataDir}/state.lock`;
  const file = await Deno.open(path, { read: true, write: true, create: true });
  if (!await file.tryLock(true)) {
    file.close();
    const pid = (await Deno.readTextFile(path).catch(() => "")).trim();
    throw new ConfigError([
      `DATA_DIR: ${dataDir} is in use by another process${
        /^\d+$/.test(pid) ? ` (pid ${pid})` : ""
      }; the embedded store serves one process only: stop the other one, give this one its own DATA_DIR, or set REDIS_URL to run several replicas`,
    ]);
  }
  await file.truncate(0);
  await file.write(new TextEncoder().encode(`${Deno.pid}\n`));
  return file;
}
