/**
 * The embedded state store: a Deno KV file under `DATA_DIR`, used when no Redis is
 * configured. Parked deliveries are indexed by due time; dead letters by a time-ordered id;
 * login sessions carry their expiry time, since KV deletes expired keys only eventually.
 * @module
 */
import type { DeadLetter, ParkedDelivery, StateStore } from "./state_store.ts";

/** Opens (creating if needed) `<dataDir>/state.kv`. */
export async function openKvStore(dataDir: string): Promise<StateStore> {
  await Deno.mkdir(dataDir, { recursive: true });
  const kv = await Deno.openKv(`${dataDir}/state.kv`);
  let closed = false;
  let sequence = 0;
  const close = () => {
    if (!closed) kv.close();
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
