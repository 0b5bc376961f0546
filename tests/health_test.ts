/** The health verdict: its rules, and the real service turning degraded and ok again. */
import assert from "node:assert/strict";
import { assessHealth, type HealthInput } from "../src/status/health.ts";
import { ServiceStatus } from "../src/status/status.ts";
import { startFakeVk } from "./support/fake_vk.ts";
import { spawnService } from "./support/service_process.ts";
import { waitFor } from "./support/wait.ts";

const quiet: HealthInput = {
  storeReachable: true,
  communities: [{
    group_id: 42,
    state: "polling",
    detail: null,
    stuck_since: null,
    stuck_batch: null,
  }],
  destinations: [{
    name: "hook",
    state: "ok",
    last_error: null,
    recent_dead_letters: 0,
    backlog_growing: false,
  }],
  parkedGrowing: false,
};

Deno.test("assessHealth() names every problem; the worst one decides the status", async (t) => {
  assert.deepEqual(assessHealth(quiet), { status: "ok", reasons: [] });
  const cases: [string, Partial<HealthInput>, string, string][] = [
    ["store down", { storeReachable: false }, "failing", "store_unreachable"],
    [
      "community fatal",
      { communities: [{ ...quiet.communities[0]!, state: "fatal", detail: "bad token" }] },
      "failing",
      "community_fatal",
    ],
    [
      "community backing off",
      { communities: [{ ...quiet.communities[0]!, state: "backoff" }] },
      "degraded",
      "community_not_polling",
    ],
    [
      "ingestion stalled",
      {
        communities: [{
          ...quiet.communities[0]!,
          stuck_since: 1,
          stuck_batch: { events: 3, error: "Redis down" },
        }],
      },
      "degraded",
      "ingestion_stalled",
    ],
    [
      "destination failing",
      {
        destinations: [{
          ...quiet.destinations[0]!,
          state: "failing",
          last_error: { at: 1, message: "HTTP 500" },
        }],
      },
      "degraded",
      "destination_failing",
    ],
    [
      "destination paused",
      { destinations: [{ ...quiet.destinations[0]!, state: "paused" }] },
      "degraded",
      "destination_paused",
    ],
    [
      "dead letters added",
      { destinations: [{ ...quiet.destinations[0]!, recent_dead_letters: 3 }] },
      "degraded",
      "dead_letters_added",
    ],
    [
      "backlog growing",
      { destinations: [{ ...quiet.destinations[0]!, backlog_growing: true }] },
      "degraded",
      "backlog_growing",
    ],
    ["parked growing", { parkedGrowing: true }, "degraded", "parked_growing"],
  ];
  for (const [name, change, status, code] of cases) {
    await t.step(name, () => {
      const health = assessHealth({ ...quiet, ...change });
      assert.equal(health.status, status);
      assert.deepEqual(health.reasons.map((r) => r.code), [code]);
    });
  }
  const failing = assessHealth({
    ...quiet,
    destinations: [{ ...quiet.destinations[0]!, state: "failing", last_error: null }],
  });
  assert.equal(failing.reasons[0]!.destination, "hook");
});

Deno.test("ServiceStatus: one destination's repeated failure is one counted error line", () => {
  let now = 1_000_000;
  const status = new ServiceStatus([42], true, () => now);
  status.failed("hook", "HTTP 500");
  now += 1000;
  status.failed("hook", "HTTP 500");
  status.failed("hook", "POST failed: connection refused");
  status.failed("other", "HTTP 500");
  assert.deepEqual(status.recentErrors.map((e) => [e.message, e.count ?? 1]), [
    ["Destination other: HTTP 500", 1],
    ["Destination hook: POST failed: connection refused", 1],
    ["Destination hook: HTTP 500", 2],
  ]);
  now += 61_000; // a new minute: a new line
  status.failed("hook", "HTTP 500");
  assert.equal(status.recentErrors[0]!.message, "Destination hook: HTTP 500");
  assert.equal(status.recentErrors[0]!.count, undefined);
  assert.equal(status.destinations.get("hook")!.lastError!.message, "HTTP 500");
});

const message = (id: string) => ({
  type: "message_new",
  event_id: id,
  group_id: 42,
  object: {
    message: { from_id: 7, peer_id: 7, text: `text of ${id}`, conversation_message_id: 1 },
  },
});

Deno.test("the real service: health degraded within 30 s of a webhook failing, ok within 30 s of it recovering", async () => {
  let answer = 500;
  await using hook = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response(answer === 200 ? "ok" : "the database is down", { status: answer }),
  );
  await using vk = await startFakeVk({ tokens: { 42: "health-token" } });
  const dir = await Deno.makeTempDir({ prefix: "vk-router-health-" });
  await Deno.writeTextFile(
    `${dir}/routes.json`,
    JSON.stringify({
      destinations: { hook: { kind: "webhook", url: `http://127.0.0.1:${hook.addr.port}/in` } },
      rules: [{ to: ["hook"] }],
    }),
  );
  await using service = await spawnService({
    VK_TOKEN: "health-token",
    VK_GROUP_ID: "42",
    VK_API_URL: vk.apiUrl,
    VK_LONGPOLL_WAIT: "1",
    ROUTES_FILE: "routes.json",
    RETRY_SCHEDULE_S: "1",
    STATUS_TOKEN: "health-status-token",
    HOST: "127.0.0.1",
    PORT: "0",
  }, dir);
  const url = await service.url();
  const status = async () =>
    await (await fetch(`${url}/api/status`, {
      headers: { authorization: "Bearer health-status-token" },
    })).json();
  await waitFor(async () => (await status()).health.status === "ok", "a healthy start", 20_000);

  const failedAt = Date.now();
  vk.push([message("health-1")], 42);
  await waitFor(async () => (await status()).health.status === "degraded", "degraded", 30_000);
  const degraded = await status();
  assert.ok(Date.now() - failedAt < 30_000);
  const reason = degraded.health.reasons.find((r: { code: string }) =>
    r.code === "destination_failing"
  );
  assert.equal(reason.destination, "hook");
  assert.match(reason.message, /HTTP 500/);
  const hookView = degraded.destinations.find((d: { name: string }) => d.name === "hook");
  assert.equal(hookView.state, "failing");
  assert.match(hookView.last_error.message, /HTTP 500/);
  assert.ok(
    degraded.recent_errors.some((e: { message: string }) =>
      /Destination hook: .*HTTP 500/.test(e.message)
    ),
    "the failure is among the recent errors",
  );
  const page = await (await fetch(`${url}/`, {
    headers: { authorization: "Bearer health-status-token" },
  })).text();
  assert.match(page, /id="health">degraded</);
  assert.deepEqual(degraded.recent_events[0].fates, { hook: "parked" }, "its fate, not its route");
  assert.match(page, /data-destination="hook" data-fate="parked"/);
  assert.match(page, /Destination hook is failing/);

  const recoveredAt = Date.now();
  answer = 200;
  await waitFor(async () => (await status()).health.status === "ok", "ok again", 30_000);
  assert.ok(Date.now() - recoveredAt < 30_000);
  const ok = await status();
  const recovered = ok.destinations.find((d: { name: string }) => d.name === "hook");
  assert.equal(recovered.state, "ok");
  assert.equal(typeof recovered.last_delivered_at, "number");
  assert.deepEqual(ok.recent_events[0].fates, { hook: "delivered" });
  assert.equal(await service.stop(), 0);
  await Deno.remove(dir, { recursive: true });
});
