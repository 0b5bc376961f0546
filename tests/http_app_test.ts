import assert from "node:assert/strict";
import { redisKeys } from "../src/redis/keys.ts";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import { parseRoutes } from "../src/config/routes.ts";
import type { CustomEvent } from "../src/events/types.ts";
import { createApp, MAX_CALLBACK_BYTES, MAX_LOGIN_BYTES } from "../src/http/app.tsx";
import { createLoginThrottle, type LoginThrottle } from "../src/http/login_throttle.ts";
import { createSnapshots } from "../src/http/snapshot.ts";
import { Metrics } from "../src/status/metrics.ts";
import { ServiceStatus } from "../src/status/status.ts";
import { openKvStore } from "../src/store/kv_store.ts";
import { createRedisStore } from "../src/store/redis_store.ts";
import type { StateStore } from "../src/store/state_store.ts";
import { testRedis } from "./support/redis.ts";

const TOKEN = "status-token-0123456789";
const SECRET = "callback-secret-0123456789";

interface SetupOptions {
  bodyTimeoutMs?: number;
  token?: string | null;
  confirmation?: string | null;
  ready?: string | null;
  secrets?: string[];
  sessionTtlMs?: number;
  trustProxy?: boolean;
  store?: StateStore;
  /** @default createLoginThrottle() */
  throttle?: LoginThrottle;
}

async function setup(options: SetupOptions = {}) {
  const dir = await Deno.makeTempDir();
  const store = options.store ?? await openKvStore(dir);
  const metrics = new Metrics();
  const status = new ServiceStatus([42], true);
  const accepted: unknown[] = [];
  let failAccept = false;
  let stopping = false;
  let replayed = 0;
  let retried = 0;
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
    sessionStore: store,
    ...(options.sessionTtlMs === undefined ? {} : { sessionTtlMs: options.sessionTtlMs }),
    trustProxy: options.trustProxy ?? false,
    secrets: options.secrets ?? [],
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
    replayDeadLetters: () =>
      Promise.resolve({ replayed: ++replayed, delivered: replayed, failed: 0, set_aside: 0 }),
    retryTask: () => Promise.resolve(++retried),
    stopping: () => stopping,
    loginThrottle: options.throttle ?? createLoginThrottle(),
    ...(options.bodyTimeoutMs === undefined ? {} : { bodyTimeoutMs: options.bodyTimeoutMs }),
  });
  return {
    app,
    metrics,
    status,
    accepted,
    replays: () => replayed,
    retries: () => retried,
    failAccept: () => failAccept = true,
    stop: () => stopping = true,
    [Symbol.asyncDispose]: async () => {
      if (!options.store) await store.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

type App = Awaited<ReturnType<typeof setup>>["app"];

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

/** Logs in with `token` from `headers`' address; the response. */
function login(
  app: App,
  token: string,
  headers: Record<string, string> = {},
  url = "http://localhost/login",
) {
  return app.request(url, { method: "POST", body: new URLSearchParams({ token }), headers });
}

/** Sends every log record of the router to `records` until disposed. */
async function captureLogs() {
  const records: LogRecord[] = [];
  await configure({
    reset: true,
    sinks: { memory: (r) => records.push(r) },
    loggers: [
      { category: ["vk-event-router"], lowestLevel: "debug", sinks: ["memory"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["memory"] },
    ],
  });
  return { records, [Symbol.asyncDispose]: () => reset() };
}

/** The `name=value` part of a response's session cookie. */
function sessionCookie(res: Response): string {
  const cookie = res.headers.get("set-cookie");
  assert.ok(cookie, `no cookie set (status ${res.status})`);
  return cookie.split(";")[0]!;
}

const privateMessage = {
  event_type: "message_new",
  event_id: "evt-ann-private-4711",
  group_id: 42,
  text: "a private message",
  user_name: "Ann Smith",
  peer_name: "Secret Chat",
} as unknown as CustomEvent;

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
  // Its steps try wrong tokens from one address: the throttle is another test's.
  await using s = await setup({ throttle: createLoginThrottle({ limit: 1000 }) });
  await t.step("the page redirects to the login form", async () => {
    const res = await s.app.request("/");
    assert.equal(res.status, 303);
    assert.equal(res.headers.get("location"), "/login");
  });
  const guarded: [string, string][] = [
    ["GET", "/api/status"],
    ["GET", "/metrics"],
    ["POST", "/dead-letters/replay"],
    ["POST", "/tasks/retry"],
  ];
  for (const [method, path] of guarded) {
    await t.step(
      `${method} ${path}: 401 without, 401 with a wrong token, 200 with the right one`,
      async () => {
        const none = await s.app.request(path, { method });
        assert.equal(none.status, 401);
        assert.deepEqual(await none.json(), {
          error: "unauthorized: send Authorization: Bearer <STATUS_TOKEN>",
        });
        assert.equal(
          (await s.app.request(path, { method, headers: { authorization: "Bearer nope" } })).status,
          401,
        );
        assert.equal((await s.app.request(path, { method, headers: bearer })).status, 200);
      },
    );
  }
  await t.step("the login form sets a session cookie that opens the page", async () => {
    const wrong = await login(s.app, "nope");
    assert.equal(wrong.status, 401);
    assert.equal(wrong.headers.get("set-cookie"), null);
    const ok = await login(s.app, TOKEN);
    assert.equal(ok.status, 303);
    const cookie = ok.headers.get("set-cookie")!;
    assert.match(
      cookie,
      /^vk_router_session=[A-Za-z0-9_-]{43}; Max-Age=43200; Path=\/; HttpOnly; SameSite=Strict$/,
    );
    assert.ok(!cookie.includes(TOKEN), "the cookie is not the token");
    const page = await s.app.request("/", { headers: { cookie: sessionCookie(ok) } });
    assert.equal(page.status, 200);
    assert.match(await page.text(), /Log out/);
  });
  await t.step("the replay action re-queues dead letters", async () => {
    const before = s.replays();
    const res = await s.app.request("/dead-letters/replay", { method: "POST", headers: bearer });
    assert.deepEqual(await res.json(), {
      replayed: before + 1,
      delivered: before + 1,
      failed: 0,
      set_aside: 0,
    });
  });
});

Deno.test("without STATUS_TOKEN the page and /api/status show aggregates only", async () => {
  await using s = await setup({ token: null });
  s.metrics.inc("vk_router_events_received_total", { event_type: "message_new" }, 3);
  s.status.event(privateMessage, ["q"]);
  s.status.event(
    { ...privateMessage, event_id: "evt-bob-9", user_name: "Bob Jones" } as CustomEvent,
    [],
  );
  const html = await (await s.app.request("/")).text();
  const json = await (await s.app.request("/api/status")).text();
  for (const [where, text] of Object.entries({ "/": html, "/api/status": json })) {
    for (const personal of ["Ann Smith", "Bob Jones", "Secret Chat", "a private message"]) {
      assert.ok(!text.includes(personal), `${personal} shows on ${where}`);
    }
    assert.ok(!text.includes("evt-ann-private-4711"), `an event id shows on ${where}`);
    assert.ok(!text.includes("evt-bob-9"), `an event id shows on ${where}`);
  }
  const status = JSON.parse(json);
  assert.equal(status.view, "aggregates");
  assert.equal(status.events_received_total, 3, "counts stay");
  assert.deepEqual(
    status.recent_events.map((e: Record<string, unknown>) => Object.keys(e).sort()),
    [
      ["at", "destinations", "event_type", "fates", "group_id", "text_hidden"],
      ["at", "destinations", "event_type", "fates", "group_id", "text_hidden"],
    ],
  );
  assert.deepEqual(status.recent_events[1].destinations, ["q"], "types and routing stay");
  assert.match(html, /message_new/);
  assert.match(html, /set STATUS_TOKEN/);
  assert.doesNotMatch(html, /Log out|Replay dead letters/, "no button that could only fail");

  await using authed = await setup();
  authed.status.event(privateMessage, ["q"]);
  const full = await (await authed.app.request("/", { headers: bearer })).text();
  assert.match(full, /a private message/);
  assert.match(full, /Ann Smith/);
  const api = await (await authed.app.request("/api/status", { headers: bearer })).json();
  assert.equal(api.view, "full");
  assert.equal(api.recent_events[0].event_id, "evt-ann-private-4711");
});

Deno.test("without STATUS_TOKEN every action answers 403 and does nothing", async () => {
  await using s = await setup({ token: null });
  for (const path of ["/dead-letters/replay", "/tasks/retry"]) {
    const tries: Record<string, string>[] = [{}, { authorization: "Bearer anything-at-all-here" }];
    for (const headers of tries) {
      const res = await s.app.request(path, { method: "POST", headers });
      assert.equal(res.status, 403, path);
      assert.match((await res.json()).error, /needs STATUS_TOKEN: set it/);
    }
  }
  // Cross-site, as a page elsewhere would send it: refused the same way.
  const forged = await s.app.request("/dead-letters/replay", {
    method: "POST",
    headers: {
      origin: "https://evil.example",
      "content-type": "application/x-www-form-urlencoded",
    },
  });
  assert.equal(forged.status, 403);
  assert.equal(s.replays(), 0);
  assert.equal(s.retries(), 0);
  // The login form has nothing to log in to.
  assert.equal((await login(s.app, "anything-at-all-here")).headers.get("set-cookie"), null);
});

Deno.test("sessions: random, server-side, ended by logout, expiry or a new token", async (t) => {
  await using redis = testRedis();
  const store = createRedisStore(redis.handle.redis, redis.prefix);
  // Its steps present many dead cookies from one address: the throttle is another test's.
  await using s = await setup({ store, throttle: createLoginThrottle({ limit: 1000 }) });

  await t.step("two logins give two different session ids", async () => {
    const [a, b] = [
      sessionCookie(await login(s.app, TOKEN)),
      sessionCookie(await login(s.app, TOKEN)),
    ];
    assert.notEqual(a, b);
    for (const cookie of [a, b]) {
      assert.equal((await s.app.request("/api/status", { headers: { cookie } })).status, 200);
    }
  });

  await t.step("the store keeps an HMAC of the id, never the id", async () => {
    const cookie = sessionCookie(await login(s.app, TOKEN));
    const keys = await redis.handle.redis.call([
      "KEYS",
      redisKeys(redis.prefix).session("*"),
    ]) as string[];
    assert.ok(keys.length >= 1);
    assert.ok(keys.every((k) => !k.includes(cookie.split("=")[1]!)));
  });

  await t.step("after logout the same cookie is refused, even sent again", async () => {
    const cookie = sessionCookie(await login(s.app, TOKEN));
    const out = await s.app.request("/logout", {
      method: "POST",
      headers: { cookie, origin: "http://localhost" },
    });
    assert.equal(out.status, 303);
    assert.equal(out.headers.get("location"), "/login");
    assert.match(out.headers.get("set-cookie")!, /^vk_router_session=; Max-Age=0;/);
    assert.equal((await s.app.request("/api/status", { headers: { cookie } })).status, 401);
    assert.equal((await s.app.request("/", { headers: { cookie } })).status, 303);
  });

  await t.step("a forged or malformed cookie is refused", async () => {
    const forged = `vk_router_session=${"A".repeat(43)}`;
    for (const cookie of [forged, "vk_router_session=x", `vk_router_session=${TOKEN}`]) {
      assert.equal((await s.app.request("/api/status", { headers: { cookie } })).status, 401);
    }
  });

  await t.step("a session survives a restart: a new app on the same Redis takes it", async () => {
    const cookie = sessionCookie(await login(s.app, TOKEN));
    await using restarted = await setup({
      store: createRedisStore(redis.handle.redis, redis.prefix),
    });
    assert.equal((await restarted.app.request("/api/status", { headers: { cookie } })).status, 200);
  });

  await t.step("a new STATUS_TOKEN ends every session", async () => {
    const cookie = sessionCookie(await login(s.app, TOKEN));
    await using rotated = await setup({ store, token: "another-status-token-0123" });
    assert.equal((await rotated.app.request("/api/status", { headers: { cookie } })).status, 401);
  });

  await t.step("a session expires", async () => {
    for (const kind of ["redis", "kv"] as const) {
      await using short = await setup({
        sessionTtlMs: 150,
        ...(kind === "redis" ? { store } : {}),
      });
      const res = await login(short.app, TOKEN);
      assert.match(res.headers.get("set-cookie")!, /Max-Age=0;/, "the cookie says so too");
      const cookie = sessionCookie(res);
      assert.equal((await short.app.request("/api/status", { headers: { cookie } })).status, 200);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(
        (await short.app.request("/api/status", { headers: { cookie } })).status,
        401,
        `expired in ${kind}`,
      );
    }
  });
});

Deno.test("the session cookie is Secure over HTTPS, or behind a trusted proxy that says so", async () => {
  await using direct = await setup();
  await using proxied = await setup({ trustProxy: true });
  const secure = (res: Response) => /;\s*Secure/.test(res.headers.get("set-cookie") ?? "");
  const https = { "x-forwarded-proto": "https" };
  assert.equal(secure(await login(direct.app, TOKEN)), false, "plain http");
  assert.equal(
    secure(await login(direct.app, TOKEN, {}, "https://localhost/login")),
    true,
    "https",
  );
  assert.equal(secure(await login(direct.app, TOKEN, https)), false, "an untrusted header");
  assert.equal(secure(await login(proxied.app, TOKEN, https)), true, "a trusted proxy");
  assert.equal(secure(await login(proxied.app, TOKEN)), false, "a trusted proxy, plain http");
});

Deno.test("logins are throttled per address, and the submitted value is never logged", async () => {
  await using logs = await captureLogs();
  await using s = await setup({ trustProxy: true });
  const from = (address: string) => ({ "x-forwarded-for": `203.0.113.9, ${address}` });
  for (let i = 0; i < 5; i++) {
    assert.equal((await login(s.app, `guess-number-${i}`, from("198.51.100.1"))).status, 401);
  }
  const blocked = await login(s.app, "guess-number-5", from("198.51.100.1"));
  assert.equal(blocked.status, 429);
  assert.ok(Number(blocked.headers.get("retry-after")) > 0);
  assert.equal(
    (await login(s.app, TOKEN, from("198.51.100.1"))).status,
    429,
    "the right token too, while blocked",
  );
  assert.equal((await login(s.app, TOKEN, from("198.51.100.2"))).status, 303, "another address");
  const lines = logs.records.map((r) => JSON.stringify(r));
  assert.ok(lines.some((l) => l.includes("198.51.100.1")), "refusals are logged");
  assert.ok(lines.some((l) => /Refusing status-page logins/.test(l)));
  for (const line of lines) {
    assert.doesNotMatch(line, /guess-number|status-token-0123456789/);
  }
});

Deno.test("a POST that carries the session cookie must come from this site", async () => {
  await using s = await setup();
  const cookie = sessionCookie(await login(s.app, TOKEN));
  const form = { cookie, "content-type": "application/x-www-form-urlencoded" };
  const from = (headers: Record<string, string>) =>
    s.app.request("/dead-letters/replay", { method: "POST", headers: { ...form, ...headers } });
  assert.equal((await from({ origin: "https://evil.example" })).status, 403);
  assert.equal((await from({ "sec-fetch-site": "cross-site" })).status, 403);
  assert.equal((await from({})).status, 403, "no Origin at all");
  assert.equal(
    (await from({ origin: "null", "sec-fetch-site": "cross-site" })).status,
    403,
    "a hidden Origin from another site",
  );
  assert.equal(s.replays(), 0);
  assert.equal((await from({ origin: "http://localhost" })).status, 200);
  assert.equal((await from({ "sec-fetch-site": "same-origin" })).status, 200);
  // The page's own forms: no-referrer makes the browser send Origin: null.
  assert.equal((await from({ origin: "null", "sec-fetch-site": "same-origin" })).status, 200);
  assert.equal(s.replays(), 3);
  const logout = await s.app.request("/logout", {
    method: "POST",
    headers: { ...form, origin: "https://evil.example" },
  });
  assert.equal(logout.status, 403, "nor can another site log the user out");
  // An API client with the Bearer token and no cookie has no Origin to show.
  assert.equal(
    (await s.app.request("/dead-letters/replay", { method: "POST", headers: bearer })).status,
    200,
  );
});

Deno.test("the login form takes a small body only", async () => {
  await using s = await setup();
  const big = await s.app.request("/login", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: `token=${"x".repeat(MAX_LOGIN_BYTES)}`,
  });
  assert.equal(big.status, 413);
});

Deno.test("no secret reaches /, /api/status, /readyz or /metrics", async () => {
  const redisPassword = "redis-password-Zq81xw";
  const vkToken = "vk1.a.SECRETvktoken0123456789abcdef";
  const configured = "configured-secret-value-42";
  const reason = `state store: cannot reach redis://default:${redisPassword}@redis:6379`;
  await using s = await setup({ ready: reason, secrets: [redisPassword, configured] });
  s.status.error(`Cannot deliver: VK said ${vkToken} is invalid`);
  s.status.error(`Cannot connect to redis://default:${redisPassword}@10.0.0.1:6379`);
  s.status.error(`A webhook answered: ${configured}`);
  s.metrics.inc("vk_router_delivered_total", { destination: `hook-${configured}` });
  s.status.state(42, "backoff", `long poll failed: ?key=${"k".repeat(20)}&ts=5`);
  const outputs = {
    "/": await (await s.app.request("/", { headers: bearer })).text(),
    "/api/status": await (await s.app.request("/api/status", { headers: bearer })).text(),
    "/readyz": await (await s.app.request("/readyz")).text(),
    "/metrics": await (await s.app.request("/metrics", { headers: bearer })).text(),
  };
  for (const [where, text] of Object.entries(outputs)) {
    for (const secret of [redisPassword, vkToken, configured, "k".repeat(20)]) {
      assert.ok(!text.includes(secret), `a secret shows on ${where}`);
    }
    assert.match(text, /\[REDACTED\]/, `${where} shows where it redacted`);
  }
  assert.match(
    outputs["/readyz"],
    /^not ready: state store: cannot reach redis:\/\/default:\[REDACTED\]@redis:6379$/,
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
    stuck_since: null,
    stuck_batch: null,
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
  await t.step("confirmation only for a configured community named by number", async () => {
    for (const groupId of ["42", "999", 999, null, 42.5, undefined]) {
      const res = await s.app.request(
        "/callback",
        post({ type: "confirmation", group_id: groupId }),
      );
      assert.equal(res.status, 403, `group_id ${JSON.stringify(groupId)}`);
      assert.doesNotMatch(await res.text(), /conf-abc/);
    }
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
  await t.step("a forged event, with a wrong or missing secret, is 403", async () => {
    const forged = {
      type: "message_new",
      event_id: "forged",
      group_id: 42,
      object: { message: { from_id: 1, peer_id: 1, text: "/ban everyone" } },
    };
    for (const secret of ["nope", "", SECRET.slice(0, -1), undefined, 1]) {
      const res = await s.app.request("/callback", post({ ...forged, secret }));
      assert.equal(res.status, 403, `secret ${JSON.stringify(secret)}`);
    }
    assert.equal(s.accepted.length, 1);
  });
  await t.step("another community, or none, is 403", async () => {
    for (const group_id of [7, "42", undefined]) {
      const res = await s.app.request("/callback", post({ ...message("e4"), group_id }));
      assert.equal(res.status, 403);
    }
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

/** Sends `head` and part of a body over raw TCP, then stalls; the answer, read up to its end. */
async function stallingClient(port: number, head: string, part: string) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode(head + part));
  let answer = "";
  const buffer = new Uint8Array(4096);
  // The test's own guard, far above the server's deadline: a hang fails instead of waiting forever.
  const guard = setTimeout(() => conn.close(), 10_000);
  try {
    while (!/\r\n\r\n[^]*\n$/.test(answer)) {
      const n = await conn.read(buffer);
      if (n === null) break;
      answer += new TextDecoder().decode(buffer.subarray(0, n));
    }
  } finally {
    clearTimeout(guard);
    conn.close();
  }
  return answer;
}

Deno.test("a client that sends half a body and stalls is answered 408 at the deadline", async (t) => {
  await using s = await setup({ bodyTimeoutMs: 300 });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, s.app.fetch);
  try {
    const cases: [string, string, string][] = [
      ["/callback", "application/json", JSON.stringify(message("slow-1"))],
      ["/login", "application/x-www-form-urlencoded", `token=${TOKEN}`],
    ];
    for (const [path, type, body] of cases) {
      await t.step(path, async () => {
        const head = `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${type}\r\n` +
          `Content-Length: ${body.length}\r\n\r\n`;
        const answer = await stallingClient(
          server.addr.port,
          head,
          body.slice(0, body.length >> 1),
        );
        assert.match(answer, /^HTTP\/1\.1 408 /);
        assert.match(answer, /^connection: close\r$/im);
        assert.match(answer, /request body not received within 300 ms\n$/);
      });
    }
    await t.step("a chunked body that stalls, too", async () => {
      const answer = await stallingClient(
        server.addr.port,
        "POST /callback HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n",
        '5\r\n{"typ\r\n',
      );
      assert.match(answer, /^HTTP\/1\.1 408 /);
    });
    assert.equal(s.accepted.length, 0);
    await t.step("a client that sends it all in time is served", async () => {
      const res = await fetch(`http://127.0.0.1:${server.addr.port}/callback`, {
        method: "POST",
        body: JSON.stringify(message("fast-1")),
      });
      assert.equal(await res.text(), "ok");
    });
  } finally {
    await server.shutdown();
  }
});

Deno.test("on a real socket, logins are throttled by the peer's address", async () => {
  await using logs = await captureLogs();
  await using s = await setup();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, s.app.fetch);
  try {
    const attempt = async (token: string, headers: Record<string, string> = {}) => {
      const res = await fetch(`http://127.0.0.1:${server.addr.port}/login`, {
        method: "POST",
        body: new URLSearchParams({ token }),
        headers,
        redirect: "manual",
      });
      await res.body?.cancel();
      return res.status;
    };
    for (let i = 0; i < 5; i++) assert.equal(await attempt(`guess-${i}`), 401);
    // An untrusted X-Forwarded-For changes nothing: the address is the socket's.
    assert.equal(await attempt(TOKEN, { "x-forwarded-for": "198.51.100.7" }), 429);
    const addresses = logs.records.map((r) => r.properties.address).filter(Boolean);
    assert.ok(addresses.length >= 5);
    assert.ok(addresses.every((a) => a === "127.0.0.1"), `logged ${addresses.join(", ")}`);
  } finally {
    await server.shutdown();
  }
});
