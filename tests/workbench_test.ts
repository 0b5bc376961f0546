/**
 * The workbench over the real router graph: dead letters listed, read, replayed and
 * deleted one by one; parked deliveries listed and retried now; a destination paused
 * (its deliveries parked, the pause kept across a restart) and resumed; and two replicas
 * acting on one letter at once act once.
 */
import assert from "node:assert/strict";
import { loadConfig } from "../src/config/config.ts";
import { parseRoutes } from "../src/config/routes.ts";
import { buildRouter, type Router } from "../src/router.ts";
import { TEST_REDIS_URL, testRedis } from "./support/redis.ts";

const TOKEN = "workbench-status-token";
const auth = { authorization: `Bearer ${TOKEN}` };

/** A webhook whose answer the test sets; counts what it received by event id. */
function hook() {
  const state = { status: 400, received: [] as string[] };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    state.received.push(JSON.parse(await req.text()).event_id);
    return new Response(state.status === 200 ? "ok" : "refused", { status: state.status });
  });
  return Object.assign(state, {
    url: `http://127.0.0.1:${server.addr.port}/in`,
    [Symbol.asyncDispose]: () => server.shutdown(),
  });
}

async function router(env: Record<string, string>, hookUrl: string): Promise<Router> {
  const routes = parseRoutes({
    destinations: { hook: { kind: "webhook", url: hookUrl }, other: { kind: "log" } },
    rules: [{ to: ["hook"] }],
    retry: { attempts: 3 },
  });
  const config = loadConfig({
    VK_TOKEN: "workbench-token",
    VK_GROUP_ID: "42",
    STATUS_TOKEN: TOKEN,
    RETRY_SCHEDULE_S: "1",
    ...env,
  });
  return await buildRouter({ config, routes });
}

const message = (id: string) => ({
  type: "message_new",
  event_id: id,
  group_id: 42,
  object: { message: { from_id: 7, peer_id: 7, text: id, conversation_message_id: 1 } },
});

const call = async (r: Router, method: string, path: string, body?: unknown) => {
  const res = await r.app.request(path, {
    method,
    headers: { ...auth, ...(body ? { "content-type": "application/json" } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return [res.status, await res.json()] as const;
};

Deno.test("dead letters one by one: listed with their fields, read with the event, replayed, deleted", async () => {
  await using h = hook();
  const dir = await Deno.makeTempDir();
  await using r = await router({ DATA_DIR: dir }, h.url);
  for (const id of ["wb-1", "wb-2", "wb-3"]) {
    await r.pipeline.handle({ updates: [message(id)], receivedAt: Date.now() });
  }
  const [status, list] = await call(r, "GET", "/api/dead-letters?destination=hook&limit=2");
  assert.equal(status, 200);
  assert.equal(list.items.length, 2);
  assert.equal(typeof list.next_cursor, "string");
  const first = list.items[0];
  assert.deepEqual(Object.keys(first).sort(), [
    "attempts",
    "destination",
    "error",
    "event_id",
    "event_type",
    "first_failed_at",
    "id",
    "last_failed_at",
    "reason",
  ]);
  assert.deepEqual(
    [first.destination, first.reason, first.attempts, first.event_type, first.event_id],
    ["hook", "delivery_failed", 1, "message_new", "wb-1"],
  );
  assert.match(first.error, /^HTTP 400 from http:\/\/127\.0\.0\.1:\d+\/…: refused$/);
  assert.ok(first.first_failed_at <= first.last_failed_at && first.last_failed_at <= Date.now());
  const [, rest] = await call(
    r,
    "GET",
    `/api/dead-letters?destination=hook&limit=2&cursor=${list.next_cursor}`,
  );
  assert.deepEqual(rest.items.map((l: { event_id: string }) => l.event_id), ["wb-3"]);
  assert.equal(rest.next_cursor, null);
  assert.deepEqual((await call(r, "GET", "/api/dead-letters?reason=rejected"))[1].items, []);
  assert.equal((await call(r, "GET", "/api/dead-letters?reason=nope"))[0], 400);

  const [, one] = await call(r, "GET", `/api/dead-letters/${first.id}`);
  assert.equal(one.event.text, "wb-1");
  assert.equal(one.last_status, 400);
  assert.equal((await call(r, "GET", "/api/dead-letters/dl_missing"))[0], 404);

  h.status = 200;
  const [, replayed] = await call(r, "POST", "/api/dead-letters/replay", { ids: [first.id] });
  assert.deepEqual(replayed, { replayed: 1, delivered: 1, failed: 0, set_aside: 0 });
  assert.deepEqual(
    (await call(r, "POST", "/api/dead-letters/replay", { ids: [first.id] }))[1],
    { replayed: 0, delivered: 0, failed: 0, set_aside: 0 },
    "a letter is replayed once",
  );
  const second = list.items[1].id;
  assert.deepEqual(await call(r, "DELETE", `/api/dead-letters/${second}`), [200, { deleted: 1 }]);
  assert.deepEqual(await call(r, "DELETE", `/api/dead-letters/${second}`), [404, { deleted: 0 }]);
  h.status = 503;
  const [, byDestination] = await call(r, "POST", "/api/dead-letters/replay", {
    destination: "hook",
  });
  assert.deepEqual(byDestination, { replayed: 1, delivered: 0, failed: 1, set_aside: 0 });
  assert.equal((await call(r, "POST", "/api/dead-letters/replay", { destination: "x" }))[0], 404);
  assert.equal((await call(r, "POST", "/api/dead-letters/replay", {}))[0], 400);
  assert.deepEqual(h.received.filter((id) => id === "wb-2"), ["wb-2"], "the deleted one stays");

  // wb-3 failed again: parked now, in the same shape with due_at; retry-now sends it.
  const [, parked] = await call(r, "GET", "/api/parked?destination=hook");
  assert.equal(parked.items.length, 1);
  assert.equal(parked.items[0].event_id, "wb-3");
  assert.equal(typeof parked.items[0].due_at, "number");
  assert.match(parked.items[0].error, /HTTP 503/);
  h.status = 200;
  assert.deepEqual(
    await call(r, "POST", "/api/destinations/hook/retry-now"),
    [200, { retried: 1, delivered: 1, failed: 0 }],
  );
  assert.deepEqual((await call(r, "GET", "/api/parked"))[1].items, []);
  assert.equal((await call(r, "POST", "/api/destinations/nope/retry-now"))[0], 404);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("without STATUS_TOKEN every workbench route answers 403", async () => {
  const dir = await Deno.makeTempDir();
  const config = loadConfig({ VK_TOKEN: "t", VK_GROUP_ID: "42", DATA_DIR: dir });
  const routes = parseRoutes({ destinations: { hook: { kind: "log" } }, rules: [] });
  await using r = await buildRouter({ config, routes });
  for (
    const [method, path] of [
      ["GET", "/api/dead-letters"],
      ["GET", "/api/dead-letters/x"],
      ["POST", "/api/dead-letters/replay"],
      ["DELETE", "/api/dead-letters/x"],
      ["GET", "/api/parked"],
      ["POST", "/api/destinations/hook/retry-now"],
      ["POST", "/api/destinations/hook/pause"],
      ["POST", "/api/destinations/hook/resume"],
    ]
  ) {
    const res = await r.app.request(path!, { method });
    assert.equal(res.status, 403, `${method} ${path}`);
    await res.body?.cancel();
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a paused destination parks its deliveries untried, stays paused across a restart, and resume sends them", async () => {
  await using h = hook();
  h.status = 200;
  const dir = await Deno.makeTempDir();
  {
    await using r = await router({ DATA_DIR: dir }, h.url);
    assert.deepEqual(
      await call(r, "POST", "/api/destinations/hook/pause"),
      [200, { destination: "hook", paused: true, changed: true }],
    );
    await r.pipeline.handle({ updates: [message("p-1")], receivedAt: Date.now() });
    assert.deepEqual(h.received, [], "nothing sent while paused");
    const [, status] = await call(r, "GET", "/api/status");
    const hookView = status.destinations.find((d: { name: string }) => d.name === "hook");
    assert.equal(hookView.state, "paused");
    assert.ok(status.health.reasons.some((x: { code: string }) => x.code === "destination_paused"));
    const [, parked] = await call(r, "GET", "/api/parked");
    assert.deepEqual(
      parked.items.map((p: { event_id: string; reason: string; attempts: number }) => [
        p.event_id,
        p.reason,
        p.attempts,
      ]),
      [["p-1", "paused", 0]],
    );
    assert.equal((await call(r, "POST", "/api/destinations/hook/retry-now"))[1].retried, 0);
    const page = await (await r.app.request("/", { headers: auth })).text();
    assert.match(page, /hook is paused/);
  }
  await using again = await router({ DATA_DIR: dir }, h.url); // a restart
  await again.pipeline.handle({ updates: [message("p-2")], receivedAt: Date.now() });
  assert.equal(await again.deliverer.retryDue(), 0, "still paused after the restart");
  assert.deepEqual(h.received, []);
  const [, resumed] = await call(again, "POST", "/api/destinations/hook/resume");

  assert.deepEqual(resumed, {
    destination: "hook",
    paused: false,
    changed: true,
    retried: 2,
    delivered: 2,
  });
  assert.deepEqual(h.received.sort(), ["p-1", "p-2"]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("two replicas acting at once on one dead letter act once; a pause holds for both", async () => {
  await using redis = testRedis();
  await using h = hook();
  const env = { REDIS_URL: TEST_REDIS_URL, REDIS_PREFIX: `${redis.prefix}router:` };
  await using a = await router({ ...env, INSTANCE_ID: "a" }, h.url);
  await using b = await router({ ...env, INSTANCE_ID: "b" }, h.url);
  for (let round = 0; round < 5; round++) {
    const id = `race-${round}`;
    h.status = 400;
    await a.pipeline.handle({ updates: [message(id)], receivedAt: Date.now() });
    const [, list] = await call(b, "GET", "/api/dead-letters");
    const letter = list.items.find((l: { event_id: string }) => l.event_id === id);
    h.status = 200;
    const before = h.received.length;
    const answers = await Promise.all([
      call(a, "POST", "/api/dead-letters/replay", { ids: [letter.id] }),
      call(b, "POST", "/api/dead-letters/replay", { ids: [letter.id] }),
      call(b, "DELETE", `/api/dead-letters/${letter.id}`),
      call(a, "DELETE", `/api/dead-letters/${letter.id}`),
    ]);
    const acted = answers.reduce(
      (n, [status, body]) => n + (status === 200 ? (body.replayed ?? body.deleted) : 0),
      0,
    );
    assert.equal(acted, 1, `round ${round}: ${JSON.stringify(answers)}`);
    assert.ok(h.received.length - before <= 1, "sent at most once");
    assert.equal((await call(a, "GET", `/api/dead-letters/${letter.id}`))[0], 404);
  }
  await call(a, "POST", "/api/destinations/hook/pause");
  await new Promise((r) => setTimeout(r, 1100)); // b's cached view of the pauses expires
  const sent = h.received.length;
  await b.pipeline.handle({ updates: [message("paused-on-b")], receivedAt: Date.now() });
  assert.equal(h.received.length, sent, "paused for every replica");
  const [, fromB] = await call(b, "GET", "/api/status");
  assert.equal(fromB.destinations.find((d: { name: string }) => d.name === "hook").state, "paused");
  await call(b, "POST", "/api/destinations/hook/resume");
  assert.ok(h.received.includes("paused-on-b"));
});
