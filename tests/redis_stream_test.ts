/**
 * The redis-stream destination over both Redis transports (native `redis://` and Upstash
 * REST through the local gateway), each on a private redis-server: entry fields, order,
 * effectively-once appends, trimming, refusals, replay take-back, and the consumer-group
 * recipe of the README.
 */
import assert from "node:assert/strict";
import { redisConnections } from "./support/connections.ts";
import { parseRoutes } from "../src/config/routes.ts";
import { createSink, deadLetterAccess } from "../src/deliver/kinds/registry.ts";
import type { Delivery } from "../src/deliver/types.ts";
import type { RedisClient } from "../src/redis/connection.ts";
import { startRedisServer } from "./support/redis_server.ts";
import { redisTransports } from "./support/redis_transports.ts";

const transports = redisTransports(2000);

function events(from: number, count: number): Delivery[] {
  return Array.from({ length: count }, (_, i) => ({
    eventId: `ev${from + i}`,
    eventType: (from + i) % 2 === 0 ? "message_new" : "command_call",
    body: JSON.stringify({ event_id: `ev${from + i}`, n: from + i, text: "привет" }),
  }));
}

/** A stream's entries as `{ id, fields }`. */
async function entries(redis: RedisClient, key: string) {
  const raw = await redis.xrange(key, "-", "+") as unknown as [string, string[]][];
  return raw.map(([id, flat]) => {
    const fields: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
    return { id, fields };
  });
}

function streamSink(redis: RedisClient, name: string, key: string, maxlen?: number) {
  const routes = parseRoutes({
    destinations: { [name]: { kind: "redis-stream", key, ...(maxlen ? { maxlen } : {}) } },
    rules: [],
  });
  const destination = routes.destinations.get(name)!;
  return {
    destination,
    sink: createSink(destination, { connections: redisConnections(redis), prefix: "markers:" }),
  };
}

for (const [transport, open] of transports) {
  Deno.test(`redis-stream destination over ${transport}`, async (t) => {
    await using server = await startRedisServer();
    await using conn = open(server.url);
    const redis = conn.handle.redis;

    await t.step("each event is one entry with event_type, event_id and event", async () => {
      const { sink } = streamSink(redis, "s", "stream:a");
      const outcomes = await sink.deliver(events(0, 5));
      assert.deepEqual(outcomes.map((o) => o.status), Array(5).fill("delivered"));
      const got = await entries(redis, "stream:a");
      assert.deepEqual(
        got.map((e) => Object.keys(e.fields)),
        Array(5).fill(["event_type", "event_id", "event"]),
      );
      assert.deepEqual(got.map((e) => e.fields.event_id), ["ev0", "ev1", "ev2", "ev3", "ev4"]);
      assert.deepEqual(got.map((e) => e.fields.event_type).slice(0, 2), [
        "message_new",
        "command_call",
      ]);
      assert.deepEqual(JSON.parse(got[0]!.fields.event!), {
        event_id: "ev0",
        n: 0,
        text: "привет",
      });
    });

    await t.step(
      "a replayed batch appends nothing twice; markers are per destination",
      async () => {
        const { sink } = streamSink(redis, "replay", "stream:replay");
        await sink.deliver(events(0, 10));
        const again = await sink.deliver(events(5, 10)); // half replayed, half new
        assert.equal(again.filter((o) => o.status === "delivered" && o.duplicate).length, 5);
        await sink.deliver(events(0, 15));
        assert.equal(await redis.xlen("stream:replay"), 15);
        const { sink: other } = streamSink(redis, "other", "stream:other");
        await other.deliver(events(0, 3));
        assert.equal(await redis.xlen("stream:other"), 3);
      },
    );

    await t.step("maxlen trims the stream approximately", async () => {
      const { sink } = streamSink(redis, "capped", "stream:capped", 10);
      for (let i = 0; i < 1000; i += 200) await sink.deliver(events(i, 200));
      const length = await redis.xlen("stream:capped");
      assert.ok(length >= 10 && length < 1000, `trimmed to about 10, got ${length}`);
    });

    await t.step("a refused append is retried and leaves no marker behind", async () => {
      await redis.set("stream:wrong", "a string, not a stream");
      const { sink } = streamSink(redis, "wrong", "stream:wrong");
      const outcomes = await sink.deliver(events(0, 3));
      assert.ok(outcomes.every((o) => o.status === "retry" && /WRONGTYPE/.test(o.error)));
      await redis.del("stream:wrong");
      const retried = await sink.deliver(events(0, 3));
      assert.ok(retried.every((o) => o.status === "delivered" && !o.duplicate));
      assert.equal(await redis.xlen("stream:wrong"), 3);
    });

    await t.step("as the dead letter, entries are taken back oldest first for replay", async () => {
      const { destination, sink } = streamSink(redis, "dead", "stream:dead");
      await sink.deliver(events(0, 4));
      const held = deadLetterAccess(destination, redisConnections(redis))!;
      const taken = await held.take(3);
      assert.deepEqual(taken.map((s) => JSON.parse(s).n), [0, 1, 2]);
      assert.equal(await redis.xlen("stream:dead"), 1, "taken entries are removed");
      await held.putBack(taken.slice(0, 2)); // a replay that failed again
      const back = await entries(redis, "stream:dead");
      assert.deepEqual(back.map((e) => JSON.parse(e.fields.event!).n), [3, 0, 1]);
      assert.deepEqual(back.slice(1).map((e) => e.fields.event_id), ["ev0", "ev1"]);
    });

    await t.step(
      "the README's consumer-group recipe reads, acknowledges and reclaims",
      async () => {
        const { sink } = streamSink(redis, "work", "stream:work");
        await sink.deliver(events(0, 4));
        await redis.call(["XGROUP", "CREATE", "stream:work", "handlers", "0"]);
        const read = await redis.call(
          ["XREADGROUP", "GROUP", "handlers", "alice", "COUNT", "2", "STREAMS", "stream:work", ">"],
        );
        const firstTwo = (read as unknown as [string, [string, string[]][]][])[0]![1];
        assert.equal(firstTwo.length, 2);
        await redis.call(["XACK", "stream:work", "handlers", firstTwo[0]![0]]);
        // alice dies holding the second entry: bob claims it after it was idle long enough.
        await new Promise((r) => setTimeout(r, 20));
        const claimed = await redis.call(
          ["XAUTOCLAIM", "stream:work", "handlers", "bob", "10", "0-0"],
        ) as unknown as [string, [string, string[]][]];
        assert.deepEqual(claimed[1].map(([id]) => id), [firstTwo[1]![0]]);
      },
    );
  });
}

Deno.test("the routes file takes redis-stream destinations and checks their fields", () => {
  const routes = parseRoutes({
    destinations: { s: { kind: "redis-stream", key: "events", maxlen: 100_000 } },
    rules: [{ to: ["s"] }],
  });
  assert.deepEqual(routes.destinations.get("s"), {
    kind: "redis-stream",
    name: "s",
    key: "events",
    maxlen: 100_000,
  });
  for (
    const [bad, message] of [
      [{ kind: "redis-stream", key: "k", maxlen: 0 }, /maxlen: expected a positive number/],
      [{ kind: "redis-stream", key: "" }, /key: expected a Redis key/],
      [{ kind: "redis-stream", key: "k", push: "lpush" }, /push: unknown key/],
    ] as const
  ) {
    assert.throws(
      () => parseRoutes({ destinations: { s: bad }, rules: [] }),
      (e: Error) => message.test(e.message),
      JSON.stringify(bad),
    );
  }
});
