/**
 * The promise of the service, end to end: the real process, the fake VK and a real
 * Redis; SIGKILL at random moments while 2,000 events flow, a restart each time; at the
 * end every event is in its list (or stream) exactly once.
 */
import { redisKeys } from "../src/redis/keys.ts";
import assert from "node:assert/strict";
import type { RedisClient } from "../src/redis/connection.ts";
import { startFakeVk } from "./support/fake_vk.ts";
import { deleteKeys, TEST_REDIS_URL, testRedis } from "./support/redis.ts";
import { spawnService } from "./support/service_process.ts";
import { waitFor } from "./support/wait.ts";

const EVENTS = 2_000;
const KILLS = Number(Deno.env.get("CRASH_KILLS") ?? 5);

/** How a test reads a Redis destination of each appending kind. */
const readers = {
  "redis-list": {
    length: (redis: RedisClient, key: string) => redis.llen(key),
    all: (redis: RedisClient, key: string) => redis.lrange(key, 0, -1),
  },
  "redis-stream": {
    length: (redis: RedisClient, key: string) => redis.xlen(key),
    all: async (redis: RedisClient, key: string) =>
      ((await redis.xrange(key, "-", "+")) as unknown as [string, string[]][]).map(([, f]) =>
        f[f.indexOf("event") + 1]!
      ),
  },
};

for (const [kind, reader] of Object.entries(readers)) {
  Deno.test(`the service loses and repeats nothing across ${KILLS} SIGKILLs while ${EVENTS} events flow (${kind})`, async () => {
    await using redis = testRedis();
    await using vk = await startFakeVk({ tokens: { 77: "crash-token" } });
    const dir = await Deno.makeTempDir({ prefix: "vk-router-crash-" });
    const lists = {
      message_new: `${redis.prefix}message_new`,
      command_call: `${redis.prefix}command_call`,
    };
    await Deno.writeTextFile(
      `${dir}/routes.json`,
      JSON.stringify({
        destinations: {
          messages: { kind, key: lists.message_new },
          commands: { kind, key: lists.command_call },
        },
        rules: [
          { when: { event_type: ["command_call"] }, to: ["commands"] },
          { when: { event_type: ["message_new"] }, to: ["messages"] },
        ],
      }),
    );
    const env = {
      VK_TOKEN: "crash-token",
      VK_GROUP_ID: "77",
      VK_API_URL: vk.apiUrl,
      VK_LONGPOLL_WAIT: "1",
      ROUTES_FILE: "routes.json",
      REDIS_URL: TEST_REDIS_URL,
      REDIS_PREFIX: `${redis.prefix}router:`,
      ENRICH_DEADLINE_MS: "100",
      RETRY_SCHEDULE_S: "0.5",
      LOG_LEVEL: "warning",
      PORT: "0",
      // Each restart is the same replica (a stable INSTANCE_ID): it takes its lease back at
      // once instead of waiting for the crashed process's lease to expire.
      INSTANCE_ID: "crash-test",
    };
    // The router's first start begins at VK's current ts, so the stream starts after it.
    await redis.handle.redis.set(redisKeys(`${redis.prefix}router:`).checkpoint(77), "0");

    let pushed = 0;
    /** Pushes `count` more events, 25 per poll answer, paced like live traffic. */
    const produce = async (count: number) => {
      const end = Math.min(EVENTS, pushed + count);
      while (pushed < end) {
        const batch = Array.from({ length: Math.min(25, end - pushed) }, (_, i) => {
          const n = pushed + i;
          return {
            type: "message_new",
            event_id: `crash-${n}`,
            group_id: 77,
            object: {
              message: {
                from_id: 1 + (n % 50),
                peer_id: 2000000001 + (n % 5),
                text: n % 10 === 0 ? `/cmd ${n}` : `msg ${n}`,
                conversation_message_id: n,
              },
            },
          };
        });
        vk.push(batch, 77);
        pushed += batch.length;
        await new Promise((r) => setTimeout(r, 20));
      }
    };

    const count = async () =>
      (await reader.length(redis.handle.redis, lists.message_new)) +
      (await reader.length(redis.handle.redis, lists.command_call));
    const atKill: number[] = [];
    for (let kill = 0; kill < KILLS; kill++) {
      const service = await spawnService(env, dir);
      const before = await count();
      const producing = produce(Math.ceil(EVENTS / (KILLS + 1)));
      // Killed once this run has delivered something, so each kill lands inside the stream
      // however slowly the machine starts a process.
      await waitFor(async () => (await count()) > before, `run ${kill + 1} to deliver`, 30_000);
      await new Promise((r) => setTimeout(r, Math.random() * 300));
      service.child.kill("SIGKILL");
      await service.exited;
      await producing;
      atKill.push(await count());
    }
    assert.ok(atKill.some((n) => n > 0 && n < EVENTS), `kills landed mid-stream: ${atKill}`);
    await using service = await spawnService(env, dir);
    await produce(EVENTS);
    await waitFor(async () => (await count()) >= EVENTS, `${EVENTS} events in the lists`, 60_000);
    await new Promise((r) => setTimeout(r, 500)); // a duplicate, if any, would land now
    assert.equal(await service.stop("SIGTERM"), 0);

    const ids = [
      ...(await reader.all(redis.handle.redis, lists.message_new)),
      ...(await reader.all(redis.handle.redis, lists.command_call)),
    ].map((s) => JSON.parse(s).event_id as string);
    assert.equal(ids.length, EVENTS, "no duplicates");
    assert.equal(new Set(ids).size, EVENTS, "every event once");
    const commands = (await reader.all(redis.handle.redis, lists.command_call)).map((s) =>
      JSON.parse(s)
    );
    assert.equal(commands.length, EVENTS / 10);
    assert.ok(commands.every((c) => c.event_type === "command_call" && c.command === "cmd"));
    await deleteKeys(redis.handle, redis.prefix);
    await Deno.remove(dir, { recursive: true });
  });
}
