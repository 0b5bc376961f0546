/**
 * The embedded state store: a Deno KV file under `DATA_DIR`, used when no Redis is
 * configured. Parked deliveries are indexed by due time; dead letters by a time-ordered id;
 * login sessions carry their expiry time, since KV deletes expired keys only eventually.
 * One process at a time: it cannot coordinate with another, so a second process on the
 * same `DATA_DIR` is refused (an exclusive lock on `<dataDir>/state.lock`, which the
 * operating system drops when the process dies, so a crash leaves no stale lock).
 * @module
 */
import { ConfigError } from "../errors.ts";
import type { DeadLetter, ParkedDelivery, StateStore } from "./state_store.ts";

/**
 * Opens (creating if needed) `<dataDir>/state.kv`.
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
  let sequence = 0;
  const close = () => {
    if (!closed) {
      kv.close();
      lock.close();
    }
    closed = true;
    return Promise.resolve();
  };
  const count = async (prefix: string[]) => {
    let n = 0;
    for await (const _ of kv.list({ prefix })) n++;
    return n;
  };
  const removeParked = async (id: string) => {
    const entry = await kv.get<ParkedDelivery>(["retry", id]);
    if (!entry.value) return;
    await kv.atomic().check(entry).delete(["retry", id]).delete([
      "retry_due",
      entry.value.nextAttemptAt,
      id,
    ]).commit();
  };
  return {
    kind: "kv",
    async getCheckpoint(groupId) {
      return (await kv.get<string>(["checkpoint", groupId])).value;
    },
    async setCheckpoint(groupId, ts) {
      await kv.set(["checkpoint", groupId], ts);
    },
    async park(deliveries) {
      for (const d of deliveries) {
        await removeParked(d.id);
        const ok = await kv.atomic()
          .set(["retry", d.id], d)
          .set(["retry_due", d.nextAttemptAt, d.id], d.id)
          .commit();
        if (!ok.ok) throw new Error(`Cannot park delivery ${d.id}`);
      }
    },
    async due(now, limit) {
      const out: ParkedDelivery[] = [];
      for await (
        const entry of kv.list<string>({ start: ["retry_due"], end: ["retry_due", now + 1] }, {
          limit,
        })
      ) {
        const d = await kv.get<ParkedDelivery>(["retry", entry.value]);
        if (d.value) out.push(d.value);
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
    async addDeadLetters(letters) {
      for (const letter of letters) {
        await kv.set(["dead", Date.now(), sequence++, crypto.randomUUID()], letter);
      }
    },
    async takeDeadLetters(limit) {
      const out: DeadLetter[] = [];
      for await (const entry of kv.list<DeadLetter>({ prefix: ["dead"] }, { limit })) {
        await kv.delete(entry.key);
        out.push(entry.value);
      }
      return out;
    },
    deadLetterCount: () => count(["dead"]),
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
