/**
 * The real service with a routes rule whose pattern sends a backtracking engine into
 * polynomial time: chat messages built to trigger it must neither stall the router (its
 * `/healthz` keeps answering) nor get lost.
 */
import assert from "node:assert/strict";
import { startFakeVk } from "./support/fake_vk.ts";
import { TEST_REDIS_URL, testRedis } from "./support/redis.ts";
import { spawnService } from "./support/service_process.ts";
import { waitFor } from "./support/wait.ts";

/** Slower than this, a `/healthz` answer means the event loop was blocked. */
const STALL_MS = 200;

const message = (id: string, text: string) => ({
  type: "message_new",
  event_id: id,
  group_id: 1,
  object: { message: { from_id: 7, peer_id: 7, text, conversation_message_id: 1 } },
});

Deno.test("hostile texts against a catastrophic pattern neither stall the router nor get lost", async () => {
  await using redis = testRedis();
  await using vk = await startFakeVk();
  const dir = await Deno.makeTempDir({ prefix: "vk-router-text-pattern-" });
  const lists = { matched: `${redis.prefix}matched`, rest: `${redis.prefix}rest` };
  await Deno.writeTextFile(
    `${dir}/routes.json`,
    JSON.stringify({
      destinations: {
        matched: { kind: "redis-list", key: lists.matched },
        rest: { kind: "redis-list", key: lists.rest },
      },
      rules: [
        { name: "angle", when: { text: "<a*a*a*a*>" }, to: ["matched"] },
        { name: "brackets", when: { text: "\\[\\w*\\s*\\w*\\s*\\w*\\]$" }, to: ["matched"] },
        { name: "everything else", to: ["rest"] },
      ],
    }),
  );
  await using service = await spawnService({
    VK_TOKEN: "test-token",
    VK_GROUP_ID: "1",
    VK_API_URL: vk.apiUrl,
    VK_LONGPOLL_WAIT: "1",
    ROUTES_FILE: "routes.json",
    REDIS_URL: TEST_REDIS_URL,
    REDIS_PREFIX: `${redis.prefix}router:`,
    HOST: "127.0.0.1",
    PORT: "0",
  }, dir);
  const url = await service.url();
  await waitFor(() => (vk.calls.get("a_check") ?? 0) > 0, "the first poll");

  /** Each hostile text, and the list it belongs in. */
  const texts: [string, keyof typeof lists][] = [
    ["<" + "a".repeat(4095), "rest"],
    ["<" + "a".repeat(20_000), "rest"], // longer than VK allows: read up to 4,096 characters
    ["<" + "a".repeat(4094) + ">", "matched"],
    ["[" + "a".repeat(4095), "rest"],
    ["[" + "a ".repeat(2047) + "a", "rest"],
    ["[" + "a".repeat(2000) + " " + "b".repeat(2000) + "]", "matched"],
  ];
  const expected = { matched: [] as string[], rest: [] as string[] };
  const events = [];
  for (let round = 0; round < 5; round++) {
    for (const [i, [text, list]] of texts.entries()) {
      const id = `hostile-${round}-${i}`;
      events.push(message(id, text));
      expected[list].push(id);
    }
  }

  const healthz = async () => {
    const started = performance.now();
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(5_000) });
      await res.body?.cancel();
      return res.ok ? performance.now() - started : Infinity;
    } catch {
      return Infinity; // no answer at all: the event loop is stuck
    }
  };
  for (let i = 0; i < 5; i++) await healthz(); // a warm connection, as a load balancer has
  const routed = async () =>
    (await redis.handle.redis.llen(lists.matched)) + (await redis.handle.redis.llen(lists.rest));

  vk.push(events);
  const answers: number[] = [];
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    answers.push(await healthz());
    if (answers.at(-1)! >= STALL_MS) break; // stalled: no need to wait out the deadline
    if (answers.length >= 20 && await routed() === events.length) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  const slow = answers.filter((ms) => ms >= STALL_MS);
  assert.deepEqual(
    slow.map((ms) => Number.isFinite(ms) ? `${ms.toFixed(0)} ms` : "no answer"),
    [],
    `/healthz answered slower than ${STALL_MS} ms while the events were handled`,
  );
  for (const [list, key] of Object.entries(lists) as [keyof typeof lists, string][]) {
    const ids = (await redis.handle.redis.lrange(key, 0, -1)).map((s) => JSON.parse(s).event_id);
    assert.deepEqual(ids.sort(), expected[list].sort(), `the ${list} list`);
  }
  assert.equal(await service.stop(), 0);
  await Deno.remove(dir, { recursive: true });
});
