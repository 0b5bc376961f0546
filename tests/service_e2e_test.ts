/** The real service process: the Callback API, long poll beside it, several communities. */
import assert from "node:assert/strict";
import { parseRoutes } from "../src/config/routes.ts";
import { checkSettings, neededSettings } from "../src/vk/settings_check.ts";
import { createVkApi } from "../src/vk/api.ts";
import { startFakeVk } from "./support/fake_vk.ts";
import { TEST_REDIS_URL, testRedis } from "./support/redis.ts";
import { spawnService } from "./support/service_process.ts";
import { waitFor } from "./support/wait.ts";

const event = (id: string, groupId = 42) => ({
  type: "message_new",
  event_id: id,
  group_id: groupId,
  object: {
    message: { from_id: 7, peer_id: 7, text: `text of ${id}`, conversation_message_id: 1 },
  },
});

Deno.test("Callback API events, redeliveries included, and the same event by long poll land once", async () => {
  await using redis = testRedis();
  await using vk = await startFakeVk({ tokens: { 42: "cb-token" } });
  const dir = await Deno.makeTempDir({ prefix: "vk-router-callback-" });
  const list = `${redis.prefix}messages`;
  await Deno.writeTextFile(
    `${dir}/routes.json`,
    JSON.stringify({
      destinations: { q: { kind: "redis-list", key: list } },
      rules: [{ to: ["q"] }],
    }),
  );
  await using service = await spawnService({
    VK_TOKEN: "cb-token",
    VK_GROUP_ID: "42",
    VK_API_URL: vk.apiUrl,
    VK_LONGPOLL_WAIT: "1",
    VK_CALLBACK_CONFIRMATION: "d8v2ve07",
    VK_CALLBACK_SECRET: "cb-secret-0123456789",
    ROUTES_FILE: "routes.json",
    REDIS_URL: TEST_REDIS_URL,
    REDIS_PREFIX: `${redis.prefix}router:`,
    HOST: "127.0.0.1",
    PORT: "0",
  }, dir);
  const url = await service.url();
  const callback = async (body: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${url}/callback`, {
      method: "POST",
      body: JSON.stringify(body),
      headers,
    });
    return [res.status, await res.text()] as const;
  };
  assert.deepEqual(await callback({ type: "confirmation", group_id: 42 }), [200, "d8v2ve07"]);
  assert.deepEqual(await callback({ ...event("cb-1"), secret: "cb-secret-0123456789" }), [
    200,
    "ok",
  ]);
  assert.deepEqual(
    await callback({ ...event("cb-1"), secret: "cb-secret-0123456789" }, {
      "x-retry-counter": "1",
    }),
    [200, "ok"],
  );
  assert.deepEqual(await callback({ ...event("cb-2"), secret: "cb-secret-0123456789" }), [
    200,
    "ok",
  ]);
  assert.deepEqual(await callback({ ...event("cb-3"), secret: "wrong" }), [403, "forbidden"]);

  await waitFor(() => (vk.calls.get("a_check") ?? 0) > 0, "the first poll");
  vk.push([event("both-1")], 42);
  assert.deepEqual(await callback({ ...event("both-1"), secret: "cb-secret-0123456789" }), [
    200,
    "ok",
  ]);
  await waitFor(async () => (await redis.handle.redis.llen(list)) >= 3, "three events");
  await new Promise((r) => setTimeout(r, 1500)); // time for a duplicate to show up, if there were one
  const ids = (await redis.handle.redis.lrange(list, 0, -1)).map((s) => JSON.parse(s).event_id)
    .sort();
  assert.deepEqual(ids, ["both-1", "cb-1", "cb-2"]);
  assert.ok(
    !(await redis.handle.redis.lrange(list, 0, -1)).some((s) => s.includes("cb-secret-0123456789")),
  );
  assert.equal(await service.stop(), 0);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("one service polls several communities, each with its own token, on one status page", async () => {
  await using vk = await startFakeVk({ tokens: { 42: "token-42", 43: "token-43" } });
  await using service = await spawnService({
    VK_GROUP_ID: "42,43",
    VK_TOKEN_42: "token-42",
    VK_TOKEN_43: "token-43",
    VK_API_URL: vk.apiUrl,
    VK_LONGPOLL_WAIT: "1",
    HOST: "127.0.0.1",
    PORT: "0",
  });
  const url = await service.url();
  await waitFor(() => vk.keysIssued(42) > 0 && vk.keysIssued(43) > 0, "both long polls");
  vk.push([event("g42", 42)], 42);
  vk.push([event("g43", 43)], 43);
  await waitFor(
    () => service.output().includes("g42") && service.output().includes("g43"),
    "events of both",
  );
  await waitFor(async () => {
    const status = await (await fetch(`${url}/api/status`)).json();
    return status.communities.length === 2 && status.communities.every((c: { state: string }) =>
      c.state === "polling"
    ) &&
      status.events_received_total === 2;
  }, "both communities on the status page");
  await waitFor(async () => {
    const status = await (await fetch(`${url}/api/status`)).json();
    return status.communities.every((c: { ts: string | null }) => Number(c.ts) >= 1);
  }, "each community's checkpoint ts on the status page once events flowed");
  assert.equal((await fetch(`${url}/readyz`)).status, 200);
  assert.equal(await service.stop(), 0);
});

Deno.test("checkSettings() names the VK setting to tick for each event type the routes need", async () => {
  await using vk = await startFakeVk();
  const routes = parseRoutes({
    destinations: { q: { kind: "log" } },
    rules: [{ when: { event_type: ["command_call", "button_pressed"] }, to: ["q"] }, {
      when: { event_type: ["reaction"] },
      to: ["q"],
    }],
  });
  assert.deepEqual(neededSettings(routes).map(([s]) => s), [
    "message_new",
    "message_event",
    "message_reaction_event",
  ]);
  vk.settings.set(1, { message_new: 1, message_event: 0 });
  const warnings = await checkSettings(
    createVkApi({ token: "test-token", apiUrl: vk.apiUrl }),
    1,
    routes,
  );
  assert.equal(warnings.length, 2);
  assert.match(
    warnings[0]!,
    /need message_event events.*tick "Message event \(callback buttons\)"/,
  );
  assert.match(warnings[1]!, /message_reaction_event/);
});
