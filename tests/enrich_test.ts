import assert from "node:assert/strict";
import { createVkDirectory } from "../src/enrich/directory.ts";
import { createEnricher } from "../src/enrich/enricher.ts";
import { TtlCache } from "../src/enrich/ttl_cache.ts";
import { type CustomEvent } from "../src/events/types.ts";
import { transform } from "../src/events/transform.ts";
import { createVkApi } from "../src/vk/api.ts";
import { type FakeVk, startFakeVk } from "./support/fake_vk.ts";

const OPTIONS = { receivedAt: 1709107923, timezone: "UTC", commandPrefixes: ["/"] };

/** A deterministic random in [0, 1). */
function seeded(seed: number) {
  return () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}

function populate(vk: FakeVk, users: number, chats: number) {
  for (let id = 1; id <= users; id++) {
    vk.users.set(id, { id, first_name: `User${id}`, last_name: "Test", domain: `user${id}` });
  }
  for (let c = 1; c <= chats; c++) vk.chats.set(2e9 + c, `Chat ${c}`);
}

function message(n: number, userId: number, peerId: number): CustomEvent {
  const raw = {
    type: "message_new",
    event_id: `e${n}`,
    group_id: 1,
    object: {
      message: { from_id: userId, peer_id: peerId, text: `hello ${n}`, conversation_message_id: n },
    },
  };
  const result = transform(raw, OPTIONS);
  assert.ok(result.ok);
  return result.event;
}

function vkCalls(vk: FakeVk): number {
  return ["users.get", "groups.getById", "messages.getConversationsById"]
    .reduce((sum, m) => sum + (vk.calls.get(m) ?? 0), 0);
}

Deno.test("createEnricher() makes at most 3 VK calls per batch and under 0.05 per event after warm-up", async () => {
  await using vk = await startFakeVk();
  populate(vk, 200, 20);
  const api = createVkApi({ token: "test-token", apiUrl: vk.apiUrl });
  const enricher = createEnricher({ directory: createVkDirectory(api) });
  const random = seeded(42);
  const perBatch: number[] = [];
  let afterWarmUp = 0;
  for (let b = 0; b < 100; b++) {
    const events = Array.from({ length: 100 }, (_, i) => {
      const user = 1 + Math.floor(random() * 200);
      const peer = random() < 0.2 ? user : 2e9 + 1 + Math.floor(random() * 20);
      return message(b * 100 + i, user, peer);
    });
    const before = vkCalls(vk);
    await enricher.enrich(events);
    perBatch.push(vkCalls(vk) - before);
    if (b >= 10) afterWarmUp += vkCalls(vk) - before;
    for (const e of events) {
      assert.ok("user_name" in e && e.user_name?.startsWith("User"), `user name of ${e.event_id}`);
      assert.ok("peer_name" in e && e.peer_name !== null, `peer name of ${e.event_id}`);
    }
  }
  const total = vkCalls(vk);
  assert.ok(Math.max(...perBatch) <= 3, `calls per batch: ${perBatch}`);
  const perEvent = afterWarmUp / 9_000;
  assert.ok(perEvent < 0.05, `calls per event after warm-up: ${perEvent}`);
  assert.ok(total <= 20, `${total} VK calls for 10,000 events`);
});

Deno.test("createEnricher() sends events with null names within the deadline when VK is down", async () => {
  await using vk = await startFakeVk();
  populate(vk, 5, 1);
  vk.setApiDown(true);
  const api = createVkApi({
    token: "test-token",
    apiUrl: vk.apiUrl,
    backoff: { minMs: 200, maxMs: 400 },
  });
  const enricher = createEnricher({
    directory: createVkDirectory(api),
    deadlineMs: 150,
    failurePauseMs: 60_000,
  });
  const events = [message(1, 1, 2e9 + 1), message(2, 2, 2)];
  const started = performance.now();
  await enricher.enrich(events);
  const elapsed = performance.now() - started;
  assert.ok(elapsed < 400, `enrichment took ${elapsed} ms`);
  for (const e of events) {
    assert.ok("user_name" in e && e.user_name === null && e.user_nick === null);
    assert.ok("peer_name" in e && e.peer_name === null);
  }
  assert.equal(enricher.stats.deadlinesMissed, 1);
  await new Promise((r) => setTimeout(r, 1_500)); // let the background lookups give up
  const callsDuringOutage = vkCalls(vk);
  await enricher.enrich([message(3, 3, 3)]);
  assert.equal(
    vkCalls(vk),
    callsDuringOutage,
    "after a failure, lookups pause instead of hammering VK",
  );
  assert.ok(enricher.stats.lookupsFailed >= 1);
});

Deno.test("createEnricher() waits out VK error 6 and then fills the names", async () => {
  await using vk = await startFakeVk();
  populate(vk, 3, 0);
  vk.apiFault("users.get", [{ error_code: 6, error_msg: "Too many requests per second" }]);
  const api = createVkApi({
    token: "test-token",
    apiUrl: vk.apiUrl,
    backoff: { minMs: 50, maxMs: 100 },
  });
  const enricher = createEnricher({ directory: createVkDirectory(api), deadlineMs: 2_000 });
  const events = [message(1, 1, 1), message(2, 2, 2)];
  await enricher.enrich(events);
  assert.deepEqual(events.map((e) => "user_name" in e && e.user_name), [
    "User1 Test",
    "User2 Test",
  ]);
  assert.equal(vk.calls.get("users.get"), 2, "one refused call, one retry");
});

Deno.test("createEnricher() caches 'no access' briefly instead of asking again", async () => {
  await using vk = await startFakeVk();
  let now = 0;
  vk.apiFault("messages.getConversationsById", [{
    error_code: 917,
    error_msg: "You don't have access to this chat",
  }]);
  const api = createVkApi({ token: "test-token", apiUrl: vk.apiUrl });
  const enricher = createEnricher({
    directory: createVkDirectory(api),
    negativeTtlMs: 60_000,
    now: () => now,
  });
  const first = message(1, 7, 2e9 + 9);
  await enricher.enrich([first]);
  assert.ok("peer_name" in first && first.peer_name === null);
  await enricher.enrich([message(2, 7, 2e9 + 9)]);
  assert.equal(vk.calls.get("messages.getConversationsById"), 1, "the null was cached");
  now += 61_000;
  vk.chats.set(2e9 + 9, "Now visible");
  const later = message(3, 7, 2e9 + 9);
  await enricher.enrich([later]);
  assert.equal(vk.calls.get("messages.getConversationsById"), 2);
  assert.ok("peer_name" in later && later.peer_name === "Now visible");
});

Deno.test("createEnricher() asks once for ids a concurrent batch is already looking up", async () => {
  await using vk = await startFakeVk({ apiLatencyMs: 50 });
  populate(vk, 2, 0);
  const api = createVkApi({ token: "test-token", apiUrl: vk.apiUrl });
  const enricher = createEnricher({ directory: createVkDirectory(api) });
  const a = [message(1, 1, 1)];
  const b = [message(2, 1, 1)];
  await Promise.all([enricher.enrich(a), enricher.enrich(b)]);
  assert.equal(vk.calls.get("users.get"), 1);
  assert.ok("user_name" in b[0]! && b[0].user_name === "User1 Test");
});

Deno.test("TtlCache expires entries and evicts the least recently used", () => {
  let now = 0;
  const cache = new TtlCache<string, number>({ maxEntries: 2, now: () => now });
  cache.set("a", 1, 100);
  cache.set("b", 2, 100);
  assert.equal(cache.get("a"), 1); // a is now the most recent
  cache.set("c", 3, 100);
  assert.equal(cache.get("b"), undefined, "b was least recently used");
  assert.equal(cache.get("a"), 1);
  now = 150;
  assert.equal(cache.get("a"), undefined, "expired");
  assert.equal(cache.has("c"), false);
});

Deno.test("TtlCache moves a read entry only when it is not among the newest quarter", () => {
  const cache = new TtlCache<string, number>({ maxEntries: 8, now: () => 0 });
  for (const [i, key] of [..."abcdefgh"].entries()) cache.set(key, i, 100);
  assert.equal(cache.get("a"), 0); // the oldest: moved to the new end
  assert.equal(cache.get("h"), 7); // among the newest two: keeps its place
  cache.set("i", 8, 100);
  assert.equal(cache.has("a"), true, "a was read, so b went first");
  assert.equal(cache.has("b"), false);
  for (const key of "jklmno") cache.set(key, 0, 100);
  assert.deepEqual([..."acdefghi"].filter((k) => cache.has(k)), ["a", "i"]);
  assert.equal(cache.size, 8);
});

Deno.test("one enricher per token: its communities share the names, and keep their chats apart", async () => {
  await using vk = await startFakeVk({ tokens: { 1: "shared-token", 2: "shared-token" } });
  populate(vk, 5, 1);
  const api = createVkApi({ token: "shared-token", apiUrl: vk.apiUrl });
  const enricher = createEnricher({ directory: createVkDirectory(api) });
  const inGroup = (groupId: number, n: number) => {
    const event = message(n, 1 + (n % 5), 2e9 + 1);
    return { ...event, group_id: groupId } as CustomEvent;
  };
  await enricher.enrich(Array.from({ length: 10 }, (_, n) => inGroup(1, n)));
  const second = Array.from({ length: 10 }, (_, n) => inGroup(2, 10 + n));
  await enricher.enrich(second);
  assert.equal(vk.calls.get("users.get"), 1, "the second community's users were known");
  assert.equal(vk.calls.get("messages.getConversationsById"), 2, "a chat title per community");
  for (const e of second) assert.ok("user_name" in e && e.user_name?.startsWith("User"));
});
