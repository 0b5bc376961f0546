import assert from "node:assert/strict";
import { parseRoutes } from "../src/config/routes.ts";
import type { CustomEvent } from "../src/events/types.ts";
import { createApp, MAX_CALLBACK_BYTES } from "../src/http/app.tsx";
import { createSnapshots } from "../src/http/snapshot.ts";
import { Metrics } from "../src/status/metrics.ts";
import { ServiceStatus } from "../src/status/status.ts";
import { openKvStore } from "../src/store/kv_store.ts";

const TOKEN = "status-token-123";
const SECRET = "callback-secret-456";

async function setup(
  options: { token?: string | null; confirmation?: string | null; ready?: string | null } = {},
) {
  const dir = await Deno.makeTempDir();
  const store = await openKvStore(dir);
  const metrics = new Metrics();
  const status = new ServiceStatus([42], true);
  const accepted: unknown[] = [];
  let failAccept = false;
  let stopping = false;
  let replayed = 0;
  const routes = parseRoutes({ destinations: { q: { kind: "log" } }, rules: [{ to: ["q"] }] });
  const app = createApp({
    snapshot: createSnapshots({
      version: "1.2.3",
      instanceId: "replica-a",
      status,
      metrics,
      store,
      routes,
      enrichStats: () => ({ hits: 3, misses: 1, lookupsFailed: 0, deadlinesMissed: 0 }),
    }),
    samples: () => Promise.resolve(metrics.samples()),
    readiness: () => Promise.resolve(options.ready ?? null),
    statusToken: options.token === undefined ? TOKEN : options.token,
    callback: {
      confirmation: options.confirmation === undefined ? "conf-abc" : options.confirmation,
      secret: SECRET,
      groupIds: [42],
    },
    accept: (update) => {
      if (failAccept) return Promise.reject(new Error("Redis down"));
      accepted.push(update);
      return Promise.resolve();
    },
    replayDeadLetters: () => Promise.resolve(++replayed),
    stopping: () => stopping,
  });
  return {
    app,
    metrics,
    status,
    accepted,
    failAccept: () => failAccept = true,
    stop: () => stopping = true,
    [Symbol.asyncDispose]: async () => {
      await store.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

const bearer = { authorization: `Bearer ${TOKEN}` };
const post = (body: unknown, headers: Record<string, string> = {}) => ({
  method: "POST",
  headers: { "content-type": "application/json", ...headers },
  body: typeof body === "string" ? body : JSON.stringify(body),
});
const message = (id: string) => ({
  type: "message_new",
  event_id: id,
  group_id: 42,
  object: {},
  secret: SECRET,
});

Deno.test("/healthz and /readyz answer without auth", async () => {
  await using t = await setup();
  assert.equal((await t.app.request("/healthz")).status, 200);
  assert.equal((await t.app.request("/readyz")).status, 200);
  await using notReady = await setup({ ready: "state store: connection refused" });
  const res = await notReady.app.request("/readyz");
  assert.equal(res.status, 503);
  assert.equal(await res.text(), "not ready: state store: connection refused");
});

Deno.test("with STATUS_TOKEN every other route needs the token", async (t) => {
  await using s = await setup();
  await t.step("the page redirects to the login form", async () => {
    const res = await s.app.request("/");
    assert.equal(res.status, 303);
    assert.equal(res.headers.get("location"), "/login");
  });
  const guarded: [string, string][] = [["GET", "/api/status"], ["GET", "/metrics"], [
    "POST",
    "/dead-letters/replay",
  ]];
  for (const [method, path] of guarded) {
    await t.step(
      `${method} ${path}: 401 without, 401 with a wrong token, 200 with the right one`,
      async () => {
        assert.equal((await s.app.request(path, { method })).status, 401);
        assert.equal(
          (await s.app.request(path, { method, headers: { authorization: "Bearer nope" } })).status,
          401,
        );
        assert.equal((await s.app.request(path, { method, headers: bearer })).status, 200);
      },
    );
  }
  await t.step("the login form sets a session cookie that opens the page", async () => {
    const wrong = await s.app.request("/login", {
      method: "POST",
      body: new URLSearchParams({ token: "nope" }),
    });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.headers.get("set-cookie"), null);
    const ok = await s.app.request("/login", {
      method: "POST",
      body: new URLSearchParams({ token: TOKEN }),
    });
    assert.equal(ok.status, 303);
    const cookie = ok.headers.get("set-cookie")!;
    assert.match(cookie, /^vk_router_session=[^;]+; Path=\/; HttpOnly; SameSite=Strict$/);
    assert.ok(!cookie.includes(TOKEN), "the cookie is not the token");
    const page = await s.app.request("/", { headers: { cookie: cookie.split(";")[0]! } });
    assert.equal(page.status, 200);
    assert.match(await page.text(), /vk-event-router/);
  });
  await t.step("the replay action re-queues dead letters", async () => {
    const res = await s.app.request("/dead-letters/replay", { method: "POST", headers: bearer });
    assert.deepEqual(await res.json(), { replayed: 2 });
  });
});

const privateMessage = {
  event_type: "message_new",
  event_id: "e1",
  group_id: 42,
  text: "a private message",
  user_name: "Ann",
  peer_name: "Chat",
} as unknown as CustomEvent;

Deno.test("without STATUS_TOKEN the page is open and message texts are hidden", async () => {
  await using s = await setup({ token: null });
  s.status.event(
    privateMessage,
    ["q"],
  );
  const html = await (await s.app.request("/")).text();
  assert.doesNotMatch(html, /a private message/);
  assert.match(html, /hidden/);
  const json = await (await s.app.request("/api/status")).json();
  assert.equal(json.recent_events[0].text, null);
  await using authed = await setup();
  authed.status.event(
    privateMessage,
    ["q"],
  );
  assert.match(
    await (await authed.app.request("/", { headers: bearer })).text(),
    /a private message/,
  );
});

Deno.test("/api/status reports counters, communities and destinations", async () => {
  await using s = await setup();
  s.metrics.inc("vk_router_events_received_total", { event_type: "message_new" }, 5);
  s.metrics.inc("vk_router_events_received_total", { event_type: "button_pressed" }, 2);
  s.metrics.inc("vk_router_delivered_total", { destination: "q" }, 7);
  s.status.state(42, "polling");
  s.status.checkpoint(42, "1234");
  const json = await (await s.app.request("/api/status", { headers: bearer })).json();
  assert.equal(json.events_received_total, 7);
  assert.deepEqual(json.events_received, { button_pressed: 2, message_new: 5 });
  assert.equal(json.version, "1.2.3");
  assert.equal(json.instance_id, "replica-a");
  assert.deepEqual(json.communities[0], {
    group_id: 42,
    state: "polling",
    detail: null,
    owner: null,
    ts: "1234",
    last_event_at: null,
    history_lost: 0,
    warnings: [],
  });
  assert.equal(json.destinations[0].delivered, 7);
  assert.equal(json.enrichment.hit_rate, 0.75);
  assert.deepEqual(json.store, { kind: "kv", reachable: true, parked: 0, dead_letters: 0 });
});

Deno.test("/api/status and the page show who polls each community: this process, or another on standby", async () => {
  await using s = await setup();
  s.status.owner(42, "replica-a", true);
  s.status.state(42, "polling");
  const owned = await (await s.app.request("/api/status", { headers: bearer })).json();
  assert.deepEqual(
    [owned.communities[0].state, owned.communities[0].owner],
    ["polling", "replica-a"],
  );
  s.status.owner(42, "replica-b", false);
  const standby = await (await s.app.request("/api/status", { headers: bearer })).json();
  assert.deepEqual([standby.communities[0].state, standby.communities[0].owner], [
    "standby",
    "replica-b",
  ]);
  assert.equal(standby.communities[0].detail, "polled by replica-b");
  const page = await (await s.app.request("/", { headers: bearer })).text();
  assert.match(page, /instance (<b>)?replica-a/);
  assert.match(page, /<td[^>]*>replica-b<\/td>/);
  assert.match(page, /class="ok">standby</);
});

Deno.test("/metrics is valid Prometheus text exposition", async () => {
  await using s = await setup();
  s.metrics.inc("vk_router_events_received_total", { event_type: "message_new" }, 3);
  s.metrics.inc("vk_router_delivered_total", { destination: 'we"ird\\name' });
  s.status.state(42, "polling");
  const res = await s.app.request("/metrics", { headers: bearer });
  assert.match(res.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
  const lines = (await res.text()).trimEnd().split("\n");
  const declared = new Map<string, string>();
  const values = new Map<string, number>();
  for (const line of lines) {
    const help = /^# HELP ([a-z_]+) .+$/.exec(line);
    const type = /^# TYPE ([a-z_]+) (counter|gauge)$/.exec(line);
    if (help) continue;
    if (type) {
      assert.ok(!declared.has(type[1]!), `${type[1]} declared twice`);
      declared.set(type[1]!, type[2]!);
      continue;
    }
    const sample =
      /^([a-z_]+)(\{([a-z_]+="(?:[^"\\]|\\.)*")(,[a-z_]+="(?:[^"\\]|\\.)*")*\})? (-?[0-9.e+]+)$/
        .exec(line);
    assert.ok(sample, `not a sample line: ${line}`);
    assert.ok(declared.has(sample[1]!), `${sample[1]} has no TYPE line before it`);
    assert.ok(sample[1]!.startsWith("vk_router_"));
    assert.equal(declared.get(sample[1]!), sample[1]!.endsWith("_total") ? "counter" : "gauge");
    values.set(`${sample[1]}${sample[2] ?? ""}`, Number(sample.at(-1)));
  }
  assert.equal(values.get('vk_router_events_received_total{event_type="message_new"}'), 3);
  assert.equal(values.get('vk_router_delivered_total{destination="we\\"ird\\\\name"}'), 1);
  assert.equal(values.get('vk_router_up{group_id="42"}'), 1);
  assert.equal(values.get("vk_router_enrich_cache_hits_total"), 3);
});

Deno.test("POST /callback follows VK's protocol", async (t) => {
  await using s = await setup();
  await t.step("confirmation answers the configured string as text/plain", async () => {
    const res = await s.app.request("/callback", post({ type: "confirmation", group_id: 42 }));
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "conf-abc");
    assert.match(res.headers.get("content-type")!, /^text\/plain/);
  });
  await t.step("an event with the right secret is accepted, without its secret", async () => {
    const res = await s.app.request("/callback", post(message("e1"), { "x-retry-counter": "1" }));
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "ok");
    assert.deepEqual(s.accepted, [{
      type: "message_new",
      event_id: "e1",
      group_id: 42,
      object: {},
    }]);
  });
  await t.step("a wrong or missing secret is 403", async () => {
    assert.equal(
      (await s.app.request("/callback", post({ ...message("e2"), secret: "nope" }))).status,
      403,
    );
    const { secret: _, ...noSecret } = message("e3");
    assert.equal((await s.app.request("/callback", post(noSecret))).status, 403);
    assert.equal(s.accepted.length, 1);
  });
  await t.step("another community is 403", async () => {
    assert.equal(
      (await s.app.request("/callback", post({ ...message("e4"), group_id: 7 }))).status,
      403,
    );
  });
  await t.step("a body that is not JSON, or not an object, is 400", async () => {
    assert.equal((await s.app.request("/callback", post("{not json"))).status, 400);
    assert.equal((await s.app.request("/callback", post("[1,2]"))).status, 400);
  });
  await t.step("a body over 1 MiB is 413", async () => {
    const big = JSON.stringify({
      ...message("e5"),
      object: { text: "x".repeat(MAX_CALLBACK_BYTES) },
    });
    assert.equal((await s.app.request("/callback", post(big))).status, 413);
  });
  await t.step("an event that cannot be made durable is 500, so VK redelivers", async () => {
    s.failAccept();
    assert.equal((await s.app.request("/callback", post(message("e6")))).status, 500);
  });
  await t.step("during shutdown, 503", async () => {
    s.stop();
    assert.equal((await s.app.request("/callback", post(message("e7")))).status, 503);
  });
  await using off = await setup({ confirmation: null });
  assert.equal((await off.app.request("/callback", post(message("e8")))).status, 404);
});
