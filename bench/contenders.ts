// deno-lint-ignore-file no-console -- a benchmark process reports to its parent
/**
 * The benchmark's reference contenders, each in its own process like the router:
 * - `floor`: poll, `JSON.parse`, one pipelined LPUSH of the raw updates. Nothing does the job faster.
 * - `naive`: the original service's algorithm: per event, `users.get`, then
 *   `messages.getConversationsById`, then one LPUSH, all sequential.
 * Environment: VK_API_URL, VK_TOKEN, VK_GROUP_ID, REDIS_URL, LIST, COUNT.
 * @module
 */
import { RespConnection } from "../src/redis/resp_connection.ts";

const [mode] = Deno.args;
const env = (name: string) =>
  Deno.env.get(name) ?? (() => {
    throw new Error(`${name} is not set`);
  })();
const apiUrl = env("VK_API_URL");
const token = env("VK_TOKEN");
const groupId = env("VK_GROUP_ID");
const list = env("LIST");
const count = Number(env("COUNT"));
const redis = new RespConnection({ url: env("REDIS_URL"), connectTimeoutMs: 5000 });

async function api<T>(method: string, params: Record<string, string>): Promise<T> {
  const body = new URLSearchParams({ ...params, access_token: token, v: "5.199" });
  const res = await fetch(`${apiUrl}/${method}`, { method: "POST", body });
  const json = await res.json();
  if (json.error) throw new Error(`${method}: ${json.error.error_msg}`);
  return json.response as T;
}

type Raw = { object?: Record<string, unknown> & { message?: Record<string, unknown> } };
const ids = (u: Raw) => {
  const o = u.object ?? {};
  const m = o.message ?? o;
  return { user: m.from_id ?? o.user_id ?? o.reacted_id, peer: m.peer_id ?? o.peer_id };
};

const server = await api<{ server: string; key: string }>("groups.getLongPollServer", {
  group_id: groupId,
});
let ts = "0";
let pushed = 0;
while (pushed < count) {
  const res = await fetch(
    `${server.server}?${new URLSearchParams({ act: "a_check", key: server.key, ts, wait: "1" })}`,
  );
  const body = JSON.parse(await res.text()) as { ts: string; updates: Raw[] };
  ts = body.ts;
  if (body.updates.length === 0) continue;
  if (mode === "floor") {
    await redis.send(body.updates.map((u) => ["LPUSH", list, JSON.stringify(u)]));
  } else {
    for (const update of body.updates) {
      const { user, peer } = ids(update);
      if (user !== undefined) await api("users.get", { user_ids: String(user), fields: "domain" });
      if (peer !== undefined) {
        await api("messages.getConversationsById", { peer_ids: String(peer) });
      }
      await redis.send([["LPUSH", list, JSON.stringify(update)]]);
    }
  }
  pushed += body.updates.length;
}
redis.close();
console.log(`done ${pushed}`);
