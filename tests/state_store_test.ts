/**
 * Both state stores (Deno KV and Redis) against one contract: events of any size parked
 * and dead-lettered whole, dead letters taken atomically under unique ids, listed by pages,
 * got and deleted by id, the older layouts upgraded, locks and delivery claims.
 */
import assert from "node:assert/strict";
import { createDeliverer } from "../src/deliver/deliverer.ts";
import type { Sink } from "../src/deliver/types.ts";
import { Metrics } from "../src/status/metrics.ts";
import { openKvStore } from "../src/store/kv_store.ts";
import { createRedisStore } from "../src/store/redis_store.ts";
import {
  type DeadLetter,
  LockBusyError,
  newLetterId,
  type ParkedDelivery,
  type StateStore,
} from "../src/store/state_store.ts";
import { redisKeys } from "../src/redis/keys.ts";
import { testRedis } from "./support/redis.ts";

/** Runs `body` once with each store, fresh and cleaned up after. */
async function eachStore(
  t: Deno.TestContext,
  body: (store: StateStore, kind: "kv" | "redis") => Promise<void>,
): Promise<void> {
  await t.step("Deno KV", async () => {
    const dir = await Deno.makeTempDir();
    try {
      await using store = await openKvStore(dir);
      await body(store, "kv");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
  await t.step("Redis", async () => {
    await using redis = testRedis();
    await body(createRedisStore(redis.handle.redis, redis.prefix), "redis");
  });
}

/**
 * The largest events the router may have to keep: the 1 MiB callback cap, and a long-poll
 * `message_new` as large as VK makes one (4,096 characters of text, 100 forwards of 4,096
 * characters each, nested replies), in two-byte UTF-8 (Cyrillic) so it is ~1.7 MB of JSON.
 */
function largeBodies(): Record<string, string> {
  const text = (n: number) => "Жж".repeat(2048) + ` ${n}`;
  const forward = (n: number) => ({ from_id: n, date: 1, text: text(n), attachments: [] });
  const longPoll = JSON.stringify({
    event_id: "big-lp",
    event_type: "message_new",
    text: text(0),
    fwd_messages: Array.from({ length: 100 }, (_, i) => ({
      ...forward(i),
      reply_message: forward(1000 + i),
    })),
  });
  const callback = JSON.stringify({ event_id: "big-cb", pad: "x".repeat(1024 * 1024 - 40) });
  const chat = JSON.stringify({
    event_id: "chat-74k",
    fwd_messages: Array.from({ length: 9 }, (_, i) => ({ text: "a".repeat(8_200), n: i })),
  });
  return { chat, callback, longPoll };
}

/** A webhook that is down (every attempt retried) or refuses (every event dead). */
function failingSink(status: "retry" | "dead"): Sink {
  return {
    name: "hook",
    kind: "webhook",
    deliver: (items) =>
      Promise.resolve(items.map(() => ({ status, error: "HTTP 503", httpStatus: 503 }))),
  };
}

Deno.test("events of any size are parked and dead-lettered whole (up to the 1 MiB callback cap and the largest long-poll event)", async (t) => {
  await eachStore(t, async (store) => {
    const bodies = largeBodies();
    assert.ok(new TextEncoder().encode(bodies.longPoll!).length > 1_500_000);
    for (const [name, body] of Object.entries(bodies)) {
      const eventId = JSON.parse(body).event_id as string;
      for (const fate of ["retry", "dead"] as const) {
        const deliverer = createDeliverer({
          sinks: new Map([["hook", failingSink(fate)]]),
          store,
          deadLetterSink: null,
          metrics: new Metrics(),
          attempts: 5,
          maxAgeS: 3600,
          now: () => 1_000,
        });
        await deliverer.deliver([{ destination: "hook", eventId, body }]);
        if (fate === "retry") {
          const [parked] = await store.due(Infinity, 10);
          assert.equal(parked?.body, body, `${name}: parked whole`);
          await store.unpark([parked!.id]);
          assert.equal(await store.parkedCount(), 0);
        } else {
          const [letter] = await store.takeDeadLetters(10);
          assert.deepEqual(letter?.event, JSON.parse(body), `${name}: dead-lettered whole`);
          assert.equal(await store.deadLetterCount(), 0);
        }
      }
    }
  });
});

Deno.test("re-parking a large delivery replaces it and leaves no parts behind", async (t) => {
  await eachStore(t, async (store) => {
    const body = largeBodies().callback!;
    const parked: ParkedDelivery = {
      id: "hook:big-cb",
      destination: "hook",
      eventId: "big-cb",
      body,
      attempts: 1,
      firstFailedAt: 1,
      nextAttemptAt: 10,
      lastError: "HTTP 503",
      lastStatus: 503,
    };
    await store.park([parked]);
    await store.park([{ ...parked, attempts: 2, nextAttemptAt: 20, body: `${body} ` }]);
    assert.equal(await store.parkedCount(), 1);
    assert.equal(await store.due(15, 10).then((d) => d.length), 0, "the old due time is gone");
    const [again] = await store.due(20, 10);
    assert.equal(again?.attempts, 2);
    assert.equal(again?.body, `${body} `);
    const page = await store.listParked({ limit: 10, filter: { destination: "hook" } });
    assert.deepEqual(page.items.map((p) => p.id), ["hook:big-cb"]);
    assert.deepEqual(
      (await store.listParked({ limit: 10, filter: { destination: "x" } })).items,
      [],
    );
  });
});

function letter(eventId: string, destination: string | null = "hook"): DeadLetter {
  return {
    id: newLetterId(),
    reason: destination === null ? "rejected" : "delivery_failed",
    destination,
    event_id: eventId,
    attempts: 1,
    last_error: "HTTP 400",
    last_status: 400,
    failed_at: 1,
    event: { event_id: eventId },
  };
}

Deno.test("concurrent takers never get the same dead letter", async (t) => {
  await eachStore(t, async (store) => {
    await store.addDeadLetters(Array.from({ length: 20 }, (_, i) => letter(`e${i}`)));
    const taken = await Promise.all(
      Array.from(
        { length: 5 },
        (_, i) =>
          i % 2 === 0
            ? store.takeDeadLetters(8)
            : store.listDeadLetters({ limit: 20 }).then((page) =>
              store.takeDeadLettersById(page.items.map((l) => l.id))
            ),
      ),
    );
    const ids = taken.flat().map((l) => l.event_id);
    assert.equal(ids.length, 20, "every letter taken once");
    assert.equal(new Set(ids).size, 20);
    assert.equal(await store.deadLetterCount(), 0);
  });
});

Deno.test("two letters of one event and destination within one second stay two", async (t) => {
  await eachStore(t, async (store) => {
    const deliverer = createDeliverer({
      sinks: new Map([["hook", failingSink("dead")]]),
      store,
      deadLetterSink: null,
      metrics: new Metrics(),
      attempts: 5,
      maxAgeS: 3600,
      now: () => 5_000,
    });
    const item = { destination: "hook", eventId: "same", body: '{"event_id":"same"}' };
    await deliverer.deliver([item]);
    await deliverer.deliver([item]);
    const letters = await store.takeDeadLetters(10);
    assert.equal(letters.length, 2);
    assert.notEqual(letters[0]!.id, letters[1]!.id);
  });
});

Deno.test("dead letters: listed by pages and filters, got, deleted and taken by id", async (t) => {
  await eachStore(t, async (store) => {
    const letters = [
      ...Array.from({ length: 5 }, (_, i) => letter(`a${i}`, "a")),
      letter("r0", null),
      ...Array.from({ length: 5 }, (_, i) => letter(`b${i}`, "b")),
    ];
    await store.addDeadLetters(letters);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { items: DeadLetter[]; cursor: string | null } = await store.listDeadLetters({
        limit: 2,
        cursor,
        filter: { destination: "b" },
      });
      assert.ok(page.items.length <= 2);
      seen.push(...page.items.map((l) => l.event_id!));
      cursor = page.cursor;
    } while (cursor !== null);
    assert.deepEqual(seen, ["b0", "b1", "b2", "b3", "b4"], "oldest first, only b's");
    const rejected = await store.listDeadLetters({ limit: 10, filter: { reason: "rejected" } });
    assert.deepEqual(rejected.items.map((l) => l.event_id), ["r0"]);
    assert.deepEqual(await store.getDeadLetter(letters[1]!.id), letters[1]);
    assert.equal(await store.getDeadLetter("dl_missing"), null);
    assert.equal(await store.deleteDeadLetters([letters[0]!.id, "dl_missing"]), 1);
    const taken = await store.takeDeadLettersById([letters[2]!.id, letters[0]!.id]);
    assert.deepEqual(taken.map((l) => l.event_id), ["a2"]);
    assert.equal(await store.deadLetterCount(), letters.length - 2);
  });
});

Deno.test("dead letters of the older layouts are kept, with ids, oldest first", async (t) => {
  const old = (eventId: string) => {
    const { id: _, ...rest } = letter(eventId);
    return rest;
  };
  await t.step("Deno KV", async () => {
    const dir = await Deno.makeTempDir();
    try {
      const kv = await Deno.openKv(`${dir}/state.kv`);
      await kv.set(["dead", 1_000, 0, crypto.randomUUID()], old("first"));
      await kv.set(["dead", 2_000, 1, crypto.randomUUID()], old("second"));
      kv.close();
      await using store = await openKvStore(dir);
      const page = await store.listDeadLetters({ limit: 10 });
      assert.deepEqual(page.items.map((l) => l.event_id), ["first", "second"]);
      assert.ok(page.items.every((l) => /^dl_[0-9a-f]{28}$/.test(l.id)));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
  await t.step("Redis", async () => {
    await using redis = testRedis();
    const r = redis.handle.redis;
    await r.rpush(
      redisKeys(redis.prefix).deadLetters,
      ...["first", "second"].map((e) => JSON.stringify(old(e))),
    );
    const store = createRedisStore(r, redis.prefix);
    assert.equal(await store.deadLetterCount(), 2);
    const taken = await store.takeDeadLetters(10);
    assert.deepEqual(taken.map((l) => l.event_id), ["first", "second"]);
    assert.equal(await r.llen(redisKeys(redis.prefix).deadLetters), 0);
  });
});

Deno.test("named locks exclude each other; a holder that waits too long is refused", async (t) => {
  await eachStore(t, async (store) => {
    const order: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((resolve) => release = resolve);
    const first = store.withLock("replay", 1000, async () => {
      order.push("first in");
      await held;
      order.push("first out");
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    await assert.rejects(store.withLock("replay", 0, () => Promise.resolve()), LockBusyError);
    const second = store.withLock("replay", 5000, () => {
      order.push("second");
      return Promise.resolve();
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    release();
    await Promise.all([first, second]);
    assert.deepEqual(order, ["first in", "first out", "second"]);
  });
});

Deno.test("delivery claims: one claimer at a time, a delivered event stays delivered", async (t) => {
  await eachStore(t, async (store) => {
    assert.deepEqual(await store.claimDeliveries("hook", ["a", "b"], 10_000), [
      "claimed",
      "claimed",
    ]);
    assert.deepEqual(await store.claimDeliveries("hook", ["a", "c"], 10_000), ["busy", "claimed"]);
    assert.deepEqual(await store.claimDeliveries("other", ["a"], 10_000), ["claimed"]);
    await store.settleDeliveries("hook", [{ eventId: "a", delivered: true }, {
      eventId: "b",
      delivered: false,
    }], 60);
    assert.deepEqual(await store.claimDeliveries("hook", ["a", "b"], 10_000), [
      "delivered",
      "claimed",
    ]);
  });
});
