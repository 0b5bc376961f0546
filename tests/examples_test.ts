/**
 * The consumer examples (`examples/`), run as a consumer runs them, fed by the router's own
 * sinks. The convention: every destination kind of the registry that has consumers (all but
 * `log`) has `examples/<kind>_consumer.ts` (dashes as underscores), and a test runs it: one
 * here, or the kind's own test beside its module (`src/deliver/kinds/<kind>/`).
 */
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { DESTINATION_KINDS } from "../src/deliver/kinds/registry.ts";
import { createRedisListSink } from "../src/deliver/kinds/redis_list.ts";
import { createRedisStreamSink } from "../src/deliver/kinds/redis_stream.ts";
import { createWebhookSink } from "../src/deliver/kinds/webhook.ts";
import type { Delivery } from "../src/deliver/types.ts";
import { TEST_REDIS_URL, testRedis } from "./support/redis.ts";
import { waitFor } from "./support/wait.ts";

const ROOT = new URL("../", import.meta.url);
/** Kinds that deliver to no one a consumer could read from. */
const WITHOUT_CONSUMERS = new Set(["log"]);

/** The example of `kind`, by the convention. */
function exampleOf(kind: string): string {
  return `examples/${kind.replaceAll("-", "_")}_consumer.ts`;
}

/** Every test file of the repository: `tests/` and the kinds' own folders. */
async function testSources(): Promise<string[]> {
  const sources: string[] = [];
  const walk = async (dir: URL) => {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isDirectory) await walk(new URL(`${entry.name}/`, dir));
      else if (entry.name.endsWith("_test.ts")) {
        sources.push(await Deno.readTextFile(new URL(entry.name, dir)));
      }
    }
  };
  await walk(new URL("tests/", ROOT));
  await walk(new URL("src/deliver/kinds/", ROOT));
  return sources;
}

Deno.test("every destination kind with consumers has a consumer example that a test runs", async () => {
  const kinds = DESTINATION_KINDS.map((k) => k.kind).filter((k) => !WITHOUT_CONSUMERS.has(k));
  assert.ok(kinds.includes("redis-list") && kinds.includes("webhook"), `kinds: ${kinds}`);
  const tests = await testSources();
  for (const kind of kinds) {
    const example = exampleOf(kind);
    await Deno.stat(new URL(example, ROOT)).catch(() => assert.fail(`${kind}: no ${example}`));
    const file = example.slice("examples/".length);
    assert.ok(tests.some((t) => t.includes(file)), `${kind}: no test runs ${example}`);
  }
});

/** Sample events, as the router delivers them. */
function deliveries(n: number, tag: string): Delivery[] {
  return Array.from({ length: n }, (_, i) => {
    const event = {
      event_id: `${tag}-${i}`,
      event_type: "message_new",
      group_id: 1,
      text: `#${i}`,
    };
    return { eventId: event.event_id, eventType: event.event_type, body: JSON.stringify(event) };
  });
}

/** A running example; its stdout lines so far, its stderr, and its stop. */
function runExample(file: string, env: Record<string, string>) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-env", new URL(file, ROOT).pathname],
    cwd: ROOT,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  let err = "";
  const reading = Promise.all([
    (async () => {
      for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) out += chunk;
    })(),
    (async () => {
      for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) err += chunk;
    })(),
  ]);
  return {
    lines: () => out.split("\n").filter(Boolean).map((l) => JSON.parse(l).event_id as string),
    stderr: () => err,
    async stop(): Promise<number> {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
      const { code } = await child.status;
      await reading;
      return code;
    },
  };
}

Deno.test("the redis-list example prints each event once, oldest first, and re-handles what a crash left", async () => {
  await using redis = testRedis();
  const list = `${redis.prefix}q`;
  const sink = createRedisListSink({
    redis: redis.handle.redis,
    prefix: redis.prefix,
    name: "q",
    key: list,
    push: "lpush",
  });
  await sink.deliver(deliveries(5, "a"));
  // A previous consumer took this one and died before it was done.
  await redis.handle.redis.lpush(`${list}:processing`, deliveries(1, "left-over")[0]!.body);
  const consumer = runExample("examples/redis_list_consumer.ts", {
    REDIS_URL: TEST_REDIS_URL,
    LIST: list,
  });
  await waitFor(() => consumer.lines().length >= 6, "6 events", 20_000);
  await sink.deliver(deliveries(2, "b"));
  await waitFor(() => consumer.lines().length >= 8, "8 events", 20_000);
  assert.equal(await consumer.stop(), 0, consumer.stderr());
  assert.deepEqual(consumer.lines(), [
    "left-over-0",
    ...deliveries(5, "a").map((d) => d.eventId),
    ...deliveries(2, "b").map((d) => d.eventId),
  ]);
  assert.equal(await redis.handle.redis.llen(list), 0);
  assert.equal(await redis.handle.redis.llen(`${list}:processing`), 0, "all handled");
});

Deno.test("the redis-stream example reads in a group, acknowledges each entry, and takes its pending ones first", async () => {
  await using redis = testRedis();
  const stream = `${redis.prefix}s`;
  const sink = createRedisStreamSink({
    redis: redis.handle.redis,
    prefix: redis.prefix,
    name: "s",
    key: stream,
    maxlen: null,
  });
  // The group exists and one entry is pending with this consumer (it died before XACK).
  const control = new Redis(TEST_REDIS_URL);
  try {
    await control.xgroup("CREATE", stream, "handlers", "$", "MKSTREAM");
    await sink.deliver(deliveries(1, "pending"));
    await control.xreadgroup("GROUP", "handlers", "worker-1", "COUNT", 1, "STREAMS", stream, ">");
    await sink.deliver(deliveries(4, "a"));
    const env = { REDIS_URL: TEST_REDIS_URL, STREAM: stream, GROUP: "handlers" };
    const consumer = runExample("examples/redis_stream_consumer.ts", env);
    await waitFor(() => consumer.lines().length >= 5, "5 events", 20_000);
    await sink.deliver(deliveries(2, "b"));
    await waitFor(() => consumer.lines().length >= 7, "7 events", 20_000);
    assert.equal(await consumer.stop(), 0, consumer.stderr());
    assert.deepEqual(consumer.lines(), [
      "pending-0",
      ...deliveries(4, "a").map((d) => d.eventId),
      ...deliveries(2, "b").map((d) => d.eventId),
    ]);
    const [count] = await control.xpending(stream, "handlers") as [number];
    assert.equal(count, 0, "every entry acknowledged");
  } finally {
    control.disconnect();
  }
});

Deno.test("the webhook example prints each signed event once and refuses a forged one", async () => {
  const secret = "whsec_ZXhhbXBsZS13ZWJob29rLXNlY3JldC0zMi1ieXRlcyE=";
  const consumer = runExample("examples/webhook_consumer.ts", {
    WEBHOOK_SECRET: secret,
    PORT: "0",
  });
  try {
    await waitFor(() => /Listening on http:\/\//.test(consumer.stderr()), "the receiver", 20_000);
    const url = /Listening on (http:\/\/\S+)/.exec(consumer.stderr())![1]!;
    const sink = (key: string) =>
      createWebhookSink({ name: "w", url, secret: key, timeoutMs: 5_000 });
    const events = deliveries(3, "w");
    const outcomes = await sink(secret).deliver(events);
    assert.deepEqual(outcomes.map((o) => o.status), ["delivered", "delivered", "delivered"]);
    // A retry of the same event (same webhook-id) is answered but not handled twice.
    assert.equal((await sink(secret).deliver(events.slice(0, 1)))[0]!.status, "delivered");
    const forged = await sink("whsec_bm90LXRoZS1yaWdodC1zZWNyZXQtYXQtYWxsLTMyYnl0ZXM=")
      .deliver(deliveries(1, "forged"));
    assert.notEqual(forged[0]!.status, "delivered", "a forged request is refused");
    const unsigned = await fetch(url, { method: "POST", body: events[0]!.body });
    await unsigned.body?.cancel();
    assert.equal(unsigned.status, 401);
    await waitFor(() => consumer.lines().length >= 3, "3 events");
  } finally {
    assert.equal(await consumer.stop(), 0, consumer.stderr());
  }
  // The sink posts up to 8 at once: each event once, in whatever order they were answered.
  assert.deepEqual([...consumer.lines()].sort(), ["w-0", "w-1", "w-2"]);
});
