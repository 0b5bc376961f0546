/**
 * One view of the fleet: two real replicas on one Redis; each one's /api/status and page
 * show both (instance id, last heartbeat, communities polled, counts) and the totals, and
 * the standby says it is one while it still shows the fleet's traffic.
 */
import assert from "node:assert/strict";
import { startFakeVk } from "./support/fake_vk.ts";
import { testRedis } from "./support/redis.ts";
import type { ServiceProcess } from "./support/service_process.ts";
import { FLEET_AUTH, startTwoReplicas } from "./support/two_replicas.ts";
import { waitFor } from "./support/wait.ts";

Deno.test("every replica's /api/status and page show the fleet; the standby is labelled", async () => {
  await using redis = testRedis();
  await using vk = await startFakeVk({ tokens: { 42: "fleet-token" } });
  const dir = await Deno.makeTempDir({ prefix: "vk-router-fleet-" });
  const { a, b, urls } = await startTwoReplicas(redis.prefix, vk.apiUrl, dir);
  await using _a = a as ServiceProcess;
  await using _b = b as ServiceProcess;
  const status = async (url: string) =>
    await (await fetch(`${url}/api/status`, { headers: FLEET_AUTH })).json();
  const bothSeen = async () => {
    for (const url of urls) {
      const s = await status(url);
      if (s.fleet?.replicas.length !== 2 || s.fleet.totals.communities_polled !== 1) return false;
    }
    return true;
  };
  await waitFor(bothSeen, "both replicas in each fleet view, one polling", 30_000);
  vk.push([{
    type: "message_new",
    event_id: "fleet-1",
    group_id: 42,
    object: { message: { from_id: 7, peer_id: 7, text: "hi", conversation_message_id: 1 } },
  }], 42);
  await waitFor(
    async () =>
      (await status(urls[0])).fleet.totals.events_received === 1 &&
      (await status(urls[1])).fleet.totals.events_received === 1,
    "the event in both replicas' fleet totals",
    30_000,
  );
  const views = await Promise.all(urls.map(status));
  for (const view of views) {
    const ids = view.fleet.replicas.map((r: { instance_id: string }) => r.instance_id);
    assert.deepEqual(ids, ["replica-a", "replica-b"]);
    for (const r of view.fleet.replicas) {
      assert.ok(r.heartbeat_age_s < 15, "a recent heartbeat");
      assert.equal(typeof r.last_heartbeat_at, "number");
    }
    assert.deepEqual(
      view.fleet.replicas.map((r: { standby: boolean }) => r.standby).sort(),
      [false, true],
    );
  }
  const owner = views[0].fleet.replicas.find((r: { standby: boolean }) => !r.standby);
  assert.deepEqual(owner.communities, [42]);
  assert.equal(owner.events_received, 1);
  const standbyIndex = views.findIndex((v) => v.instance_id !== owner.instance_id);
  const standbyView = views[standbyIndex];
  assert.equal(standbyView.events_received_total, 0, "the standby received nothing itself");
  const page = await (await fetch(`${urls[standbyIndex]}/`, { headers: FLEET_AUTH })).text();
  assert.match(page, /id="standby">standby</);
  assert.match(page, /data-instance="replica-a"/);
  assert.match(page, /data-instance="replica-b"/);
  assert.match(page, /polls 42/);
  assert.match(page, /\(fleet: <b>1<\/b>\)/);
  await Deno.remove(dir, { recursive: true });
});
