import { redisConnections } from "./support/connections.ts";
import assert from "node:assert/strict";
import { parseRoutes } from "../src/config/routes.ts";
import { createDeliverer } from "../src/deliver/deliverer.ts";
import { createSink } from "../src/deliver/kinds/registry.ts";
import { createEnricher } from "../src/enrich/enricher.ts";
import { createPipeline } from "../src/pipeline.ts";
import { Metrics } from "../src/status/metrics.ts";
import { openKvStore } from "../src/store/kv_store.ts";
import { fixtureDirectory } from "./support/fixture_directory.ts";
import { testRedis } from "./support/redis.ts";

const FIXTURES = new URL("../fixtures/vk/", import.meta.url);
const raw = (name: string) =>
  JSON.parse(Deno.readTextFileSync(new URL(`${name}.raw.json`, FIXTURES)));

Deno.test("createPipeline() routes good events, dead-letters rejected ones, and counts both", async () => {
  await using redis = testRedis();
  const dir = await Deno.makeTempDir();
  await using store = await openKvStore(dir);
  const routes = parseRoutes({
    destinations: {
      commands: { kind: "redis-list", key: `${redis.prefix}commands` },
      all: { kind: "log" },
    },
    rules: [{ when: { event_type: ["command_call"] }, to: ["commands"] }, {
      when: { event_type: ["message_new"] },
      to: ["all"],
    }],
  });
  const metrics = new Metrics();
  const sinks = new Map(
    [...routes.destinations].map((
      [n, d],
    ) => [
      n,
      createSink(d, { connections: redisConnections(redis.handle.redis), prefix: redis.prefix }),
    ]),
  );
  const seen: string[] = [];
  const pipeline = createPipeline({
    routes,
    deliverer: createDeliverer({
      sinks,
      store,
      deadLetterSink: null,
      metrics,
      attempts: 3,
      maxAgeS: 60,
    }),
    enricherFor: () => createEnricher({ directory: fixtureDirectory() }),
    metrics,
    timezone: "Europe/Moscow",
    commandPrefixes: ["/", "!"],
    onEvents: (routed) =>
      seen.push(
        ...routed.map(({ event: e, destinations: to }) => `${e.event_type}->${to.join(",")}`),
      ),
  });
  await pipeline.handle({
    updates: [
      raw("command_call_simple"),
      raw("malformed_peer_id"),
      raw("message_new_chat"),
      raw("group_join"),
      "garbage",
    ],
    receivedAt: 1709107923_000,
  });
  assert.deepEqual(seen, ["command_call->commands", "message_new->all", "member_join->"]);
  const [pushed] = await redis.handle.redis.lrange(`${redis.prefix}commands`, 0, -1);
  const command = JSON.parse(pushed!);
  assert.equal(command.command, "ban");
  assert.equal(command.user_name, "Руслан Башинский", "enriched before delivery");
  const letters = await store.takeDeadLetters(10);
  assert.deepEqual(letters.map((l) => [l.reason, l.event_id]), [[
    "rejected",
    "a1000000000000000000000000000000000000015",
  ], ["rejected", null]]);
  assert.match(letters[0]!.last_error, /object\.message\.peer_id/);
  assert.deepEqual(letters[1]!.event, "garbage", "the raw input is kept");
  assert.equal(metrics.sum("vk_router_events_received_total"), 3);
  assert.equal(metrics.sum("vk_router_events_rejected_total"), 2);
  assert.equal(metrics.sum("vk_router_events_unrouted_total"), 1);
  assert.equal(metrics.sum("vk_router_dead_lettered_total"), 2);
  assert.equal(metrics.get("vk_router_delivered_total", { destination: "commands" }), 1);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("createPipeline() sends dead letters to the dead_letter destination when one is set", async () => {
  await using redis = testRedis();
  const dir = await Deno.makeTempDir();
  await using store = await openKvStore(dir);
  const routes = parseRoutes({
    destinations: { all: { kind: "log" } },
    rules: [{ to: ["all"] }],
    dead_letter: { kind: "redis-list", key: `${redis.prefix}dead` },
  });
  const context = { connections: redisConnections(redis.handle.redis), prefix: redis.prefix };
  const pipeline = createPipeline({
    routes,
    deliverer: createDeliverer({
      sinks: new Map([["all", createSink(routes.destinations.get("all")!, context)]]),
      store,
      deadLetterSink: createSink(routes.deadLetter!, context),
      metrics: new Metrics(),
      attempts: 3,
      maxAgeS: 60,
    }),
    enricherFor: () => null,
    metrics: new Metrics(),
    timezone: "UTC",
    commandPrefixes: ["/"],
  });
  await pipeline.handle({ updates: [raw("malformed_button_no_user")], receivedAt: Date.now() });
  const [letter] = await redis.handle.redis.lrange(`${redis.prefix}dead`, 0, -1);
  assert.equal(JSON.parse(letter!).reason, "rejected");
  assert.equal(await store.deadLetterCount(), 0);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a commit retried after a failed delivery dead-letters its rejected events once", async () => {
  const dir = await Deno.makeTempDir();
  await using store = await openKvStore(dir);
  const routes = parseRoutes({ destinations: { all: { kind: "log" } }, rules: [{ to: ["all"] }] });
  const real = createDeliverer({
    sinks: new Map(),
    store,
    deadLetterSink: null,
    metrics: new Metrics(),
    attempts: 3,
    maxAgeS: 60,
  });
  let failures = 1;
  const pipeline = createPipeline({
    routes,
    deliverer: {
      ...real,
      deliver: () => failures-- > 0 ? Promise.reject(new Error("Redis down")) : Promise.resolve([]),
    },
    enricherFor: () => null,
    metrics: new Metrics(),
    timezone: "UTC",
    commandPrefixes: ["/"],
  });
  const prepared = await pipeline.prepare({
    updates: [raw("malformed_peer_id"), raw("message_new_chat")],
    receivedAt: Date.now(),
  });
  const rejected = structuredClone(prepared.rejected);
  await assert.rejects(pipeline.commit(prepared), /Redis down/);
  assert.deepEqual(prepared.rejected, rejected, "commit leaves its input as it was");
  await pipeline.commit(prepared);
  assert.equal(await store.deadLetterCount(), 1);
  await Deno.remove(dir, { recursive: true });
});
