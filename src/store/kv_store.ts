/**
 * The embedded state store: a Deno KV file under `DATA_DIR`, used when no Redis is
 * configured.
 * @module
 */
import type { StateStore } from "./state_store.ts";

/** Opens (creating if needed) `<dataDir>/state.kv`. */
export async function openKvStore(dataDir: string): Promise<StateStore> {
  await Deno.mkdir(dataDir, { recursive: true });
  const kv = await Deno.openKv(`${dataDir}/state.kv`);
  let closed = false;
  const close = () => {
    if (!closed) kv.close();
    closed = true;
    return Promise.resolve();
  };
  return {
    kind: "kv",
    async getCheckpoint(groupId) {
      const entry = await kv.get<string>(["checkpoint", groupId]);
      return entry.value;
    },
    async setCheckpoint(groupId, ts) {
      await kv.set(["checkpoint", groupId], ts);
    },
    async ping() {
      await kv.get(["ping"]);
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
