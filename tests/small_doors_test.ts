/**
 * The small doors of issue 20: what a stranger or a receiver can do with one header, one
 * variable or one request that the router must bound.
 */
import assert from "node:assert/strict";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import { CONFIG_VARIABLES, loadConfig } from "../src/config/config.ts";
import { ConfigError } from "../src/errors.ts";
import { createDeliverer } from "../src/deliver/deliverer.ts";
import type { Sink } from "../src/deliver/types.ts";
import { parseRoutes } from "../src/config/routes.ts";
import { buildRouter, type Router } from "../src/router.ts";
import { MAX_LABEL_VALUE_CHARS, Metrics } from "../src/status/metrics.ts";
import { openKvStore } from "../src/store/kv_store.ts";
import { createWorker } from "../src/worker/worker.ts";
import { deleteKeys, TEST_REDIS_URL, testRedis } from "./support/redis.ts";
import { startUpstashGateway } from "../dev/upstash_gateway.ts";
import type { StateStore } from "../src/store/state_store.ts";

/** A deliverer whose only webhook always answers 503 with `Retry-After: 99999999999`. */
function askingForEver(store: StateStore, scheduleS: number[], maxAgeS: number, now: () => number) {
  const sink: Sink = {
    name: "hook",
    kind: "webhook",
    deliver: (items) =>
      Promise.resolve(items.map(() => ({
        status: "retry" as const,
        error: "HTTP 503",
        httpStatus: 503,
        retryAfterMs: 99_999_999_999_000,
      }))),
  };
  return createDeliverer({
    sinks: new Map([["hook", sink]]),
    store,
    deadLetterSink: null,
    metrics: new Metrics(),
    attempts: 100,
    maxAgeS,
    scheduleS,
    now,
  });
}

Deno.test("Retry-After cannot park a delivery past the schedule's longest step or the letter's maximum age", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await using store = await openKvStore(dir);
    const t0 = 1_000_000;
    let t = t0;
    const byStep = askingForEver(store, [5, 300], 86_400, () => t);
    await byStep.deliver([{ destination: "hook", eventId: "e1", body: "{}" }]);
    assert.equal(await store.nextDueAt(), t0 + 300_000, "capped by the schedule's longest step");
    await store.unpark(["hook:e1"]);

    const byAge = askingForEver(store, [5, 100_000], 1000, () => t);
    await byAge.deliver([{ destination: "hook", eventId: "e2", body: "{}" }]);
    assert.equal(await store.nextDueAt(), t0 + 1_000_000, "capped by the maximum age");
    t = t0 + 1_000_000;
    await byAge.retryDue();
    assert.equal(await store.nextDueAt(), null, "no longer parked");
    assert.equal(await store.deadLetterCount(), 1, "dead-lettered at its maximum age");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the README names every variable the configuration reads", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  assert.deepEqual(CONFIG_VARIABLES.filter((name) => !readme.includes(`\`${name}\``)), []);
});

Deno.test("config errors follow one rule for every variable: no long value is echoed", () => {
  const base = { VK_TOKEN: "t".repeat(20), VK_GROUP_ID: "42" };
  const long = (core: string) => core.repeat(Math.ceil(300 / core.length));
  const hostile = [
    long("!"),
    long("9"),
    `${long("9")}.5`,
    `ftp://${long("h")}/x`,
    `http://${long("h")}:99999999/x`,
    ` ${long("x!")} `,
  ];
  for (const name of CONFIG_VARIABLES) {
    for (const value of hostile) {
      let lines: readonly string[] = [];
      try {
        loadConfig({ ...base, [name]: value });
      } catch (error) {
        assert.ok(error instanceof ConfigError, String(error));
        lines = error.issues;
      }
      const core = value.trim();
      for (const line of lines) {
        for (let i = 0; i + 16 <= core.length; i += 8) {
          assert.ok(
            !line.includes(core.slice(i, i + 16)),
            `${name}=${core.slice(0, 20)}… is echoed: ${line.slice(0, 160)}`,
          );
        }
      }
    }
  }
});

/** A router that takes unsigned callbacks for community 42 (the insecure mode), state in a temporary Deno KV. */
async function insecureRouter(env: Record<string, string> = {}): Promise<Router & { dir: string }> {
  const dir = await Deno.makeTempDir();
  const config = loadConfig({
    VK_GROUP_ID: "42",
    VK_LONGPOLL: "off",
    VK_CALLBACK_CONFIRMATION: "conf-abc",
    VK_CALLBACK_INSECURE_NO_SECRET: "1",
    DATA_DIR: dir,
    ...env,
  });
  const routes = parseRoutes({ destinations: { q: { kind: "log" } }, rules: [{ to: ["q"] }] });
  const router = await buildRouter({ config, routes });
  return Object.assign(router, {
    dir,
    async [Symbol.asyncDispose]() {
      await router.close();
      await Deno.remove(dir, { recursive: true });
    },
  });
}

Deno.test("metric labels are bounded: a forged callback type is counted as other, any value cut at 64 characters", async () => {
  await using router = await insecureRouter();
  for (const type of ["x".repeat(1024 * 1024 - 100), "message_new", "forged_type"]) {
    const res = await router.app.request("/callback", {
      method: "POST",
      body: JSON.stringify({ type, group_id: 42, object: {} }), // no event_id: rejected
    });
    await res.body?.cancel();
  }
  const labels = router.metrics.samples()
    .filter((s) => s.name === "vk_router_events_rejected_total")
    .map((s) => s.labels.raw_type).sort();
  assert.deepEqual(labels, ["message_new", "other"]);

  const metrics = new Metrics();
  metrics.inc("c", { destination: "d".repeat(1000) });
  metrics.observe("h", { destination: "d".repeat(1000) }, 1);
  for (const s of metrics.samples()) {
    assert.equal(String(s.labels.destination).length, MAX_LABEL_VALUE_CHARS, s.name);
  }
});

const STATUS_TOKEN = "status-token-0123456789";

/** Every log record's text while `work` runs. */
async function loggedDuring(work: () => Promise<void>): Promise<string[]> {
  const records: LogRecord[] = [];
  await configure({
    reset: true,
    sinks: { memory: (r) => records.push(r) },
    loggers: [
      { category: ["vk-event-router"], lowestLevel: "debug", sinks: ["memory"] },
      { category: ["logtape", "meta"], lowestLevel: "error", sinks: ["memory"] },
    ],
  });
  try {
    await work();
  } finally {
    await reset();
  }
  return records.map((r) => JSON.stringify([r.message, r.properties]));
}

Deno.test("one throttle for every way of presenting the status token, atomic under concurrency, logged without the value", async () => {
  const login = (router: Router, token: string) =>
    router.app.request("/login", { method: "POST", body: new URLSearchParams({ token }) });
  const status = (router: Router, headers: Record<string, string>) =>
    router.app.request("/api/status", { headers });
  const statuses = async (responses: (Response | Promise<Response>)[]) =>
    (await Promise.all(responses)).map((r) => (r.body?.cancel(), r.status));
  const lines = await loggedDuring(async () => {
    {
      await using router = await insecureRouter({ STATUS_TOKEN });
      const all = await statuses(Array.from({ length: 60 }, (_, i) => login(router, `guess-${i}`)));
      assert.equal(all.filter((s) => s === 401).length, 5, `60 concurrent logins: ${all}`);
      assert.equal(all.filter((s) => s === 429).length, 55);
    }
    {
      await using router = await insecureRouter({ STATUS_TOKEN });
      const right = { authorization: `Bearer ${STATUS_TOKEN}` };
      const many = await statuses(Array.from({ length: 20 }, () => status(router, right)));
      assert.deepEqual(new Set(many), new Set([200]), "concurrent right tokens all pass");
    }
    {
      await using router = await insecureRouter({ STATUS_TOKEN });
      const tries = [];
      for (let i = 0; i < 8; i++) {
        tries.push(...await statuses([status(router, { authorization: `Bearer wrong-${i}` })]));
      }
      assert.deepEqual(tries, [401, 401, 401, 401, 401, 429, 429, 429], "bearer tokens");
      const right = { authorization: `Bearer ${STATUS_TOKEN}` };
      assert.deepEqual(await statuses([status(router, right)]), [429], "blocked, right or not");
    }
    {
      await using router = await insecureRouter({ STATUS_TOKEN });
      const cookie = (i: number) => ({
        cookie: `vk_router_session=${String(i).padStart(43, "A")}`,
      });
      const tries = [];
      for (let i = 0; i < 3; i++) tries.push(...await statuses([status(router, cookie(i))]));
      tries.push(...await statuses([status(router, { authorization: "Bearer wrong-bearer" })]));
      tries.push(...await statuses([login(router, "wrong-login")]));
      tries.push(...await statuses([login(router, STATUS_TOKEN)]));
      assert.deepEqual(
        tries,
        [401, 401, 401, 401, 401, 429],
        "cookies, bearer and form: one throttle",
      );
    }
  });
  const joined = lines.join("\n");
  assert.match(joined, /a bearer token/, "refused bearer tokens are logged");
  assert.match(joined, /a session cookie/, "refused cookies are logged");
  for (const value of ["wrong-bearer", "wrong-login", "guess-1", "wrong-7", "AAAA1"]) {
    assert.ok(!joined.includes(value), `${value} is logged`);
  }
});

Deno.test("every POST with the session cookie must come from this site, whatever its content type", async () => {
  await using router = await insecureRouter({ STATUS_TOKEN });
  const res = await router.app.request("/login", {
    method: "POST",
    body: new URLSearchParams({ token: STATUS_TOKEN }),
  });
  const cookie = res.headers.get("set-cookie")!.split(";")[0]!;
  const replay = (headers: Record<string, string>, body?: string) =>
    router.app.request("http://localhost/dead-letters/replay", {
      method: "POST",
      headers: { cookie, ...headers },
      ...(body === undefined ? {} : { body }),
    });
  for (const type of ["application/json", "text/plain", "application/x-www-form-urlencoded"]) {
    const cross = await replay({ "content-type": type, origin: "https://evil.example" }, "{}");
    assert.equal(cross.status, 403, `${type} from another site`);
    const absent = await replay({ "content-type": type }, "{}");
    assert.equal(absent.status, 403, `${type} without Origin or Sec-Fetch-Site`);
  }
  assert.equal((await replay({})).status, 403, "no content type at all");
  assert.equal((await replay({ origin: "http://localhost" })).status, 200, "this site");
  assert.equal((await replay({ "sec-fetch-site": "same-origin" })).status, 200, "this site");
  // A browser's own form post under `Referrer-Policy: no-referrer` (the page's) says
  // `Origin: null`; Sec-Fetch-Site tells it from a sandboxed frame elsewhere.
  const own = { origin: "null", "sec-fetch-site": "same-origin" };
  assert.equal((await replay(own)).status, 200, "this site's form under no-referrer");
  const sandboxed = { origin: "null", "sec-fetch-site": "cross-site" };
  assert.equal((await replay(sandboxed)).status, 403, "an opaque origin elsewhere");
});

Deno.test("the worker: /readyz asks Upstash at most once a second, and logins are throttled per client address", async () => {
  await using redis = testRedis();
  await using gateway = startUpstashGateway(TEST_REDIS_URL);
  const worker = await createWorker({
    VK_GROUP_ID: "42",
    VK_CALLBACK_CONFIRMATION: "confirm",
    VK_CALLBACK_SECRET: "worker-doors-callback-secret",
    STATUS_TOKEN,
    UPSTASH_REDIS_REST_URL: gateway.url,
    UPSTASH_REDIS_REST_TOKEN: gateway.token,
    REDIS_PREFIX: `${redis.prefix}router:`,
  });
  const from = (hostname: string): Deno.ServeHandlerInfo => ({
    remoteAddr: { transport: "tcp", hostname, port: 40000 },
    completed: Promise.resolve(),
  });
  const ready = async () => {
    const res = await worker.handle(new Request("http://worker/readyz"), from("192.0.2.1"));
    assert.equal(await res.text(), "ready");
  };
  await ready();
  gateway.resetCounts();
  const started = Date.now();
  await Promise.all(Array.from({ length: 30 }, ready));
  for (let i = 0; i < 20; i++) await ready();
  const asked = gateway.counts.requests;
  if (Date.now() - started < 1000) assert.equal(asked, 0, "answered from the last second's ask");
  await new Promise((r) => setTimeout(r, 1100));
  await Promise.all(Array.from({ length: 10 }, ready));
  assert.ok(gateway.counts.requests - asked <= 1, `${gateway.counts.requests - asked} asks`);

  const login = async (hostname: string, token: string) => {
    const res = await worker.handle(
      new Request("http://worker/login", { method: "POST", body: new URLSearchParams({ token }) }),
      from(hostname),
    );
    await res.body?.cancel();
    return res.status;
  };
  for (let i = 0; i < 5; i++) assert.equal(await login("198.51.100.1", `guess-${i}`), 401);
  assert.equal(await login("198.51.100.1", "guess-5"), 429, "this address is blocked");
  assert.equal(await login("198.51.100.2", "guess-6"), 401, "another address is not");
  await deleteKeys(redis.handle, redis.prefix);
});
