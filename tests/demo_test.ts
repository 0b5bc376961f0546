import assert from "node:assert/strict";
import { deleteKeys, TEST_REDIS_URL, testRedis } from "./support/redis.ts";

Deno.test("deno task demo shows events flowing within seconds, to the log and the Redis lists", async () => {
  await using redis = testRedis();
  const dataDir = `./data/demo-test-${crypto.randomUUID().slice(0, 8)}`;
  const root = new URL("../", import.meta.url);
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["task", "demo", "--duration=3", "--rate=20"],
    cwd: root,
    env: {
      PORT: "0",
      LOG_FORMAT: "json",
      DATA_DIR: dataDir,
      DEMO_PREFIX: redis.prefix,
      REDIS_URL: TEST_REDIS_URL,
      NO_COLOR: "1",
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  assert.equal(code, 0, out);
  assert.match(out, /Status page: {2}http:\/\/127\.0\.0\.1:\d+\//);
  const events = out.split("\n").filter((l) => l.includes('"logger":"vk-event-router.events"'));
  assert.ok(events.length >= 20, `only ${events.length} events in the log`);
  const types = new Set(events.map((l) => JSON.parse(l).event.event_type));
  assert.ok(types.has("message_new") && types.size >= 3, `event types: ${[...types]}`);
  const finished = /Demo finished: (\d+) events generated, (\d+) routed\./.exec(out);
  assert.ok(finished && Number(finished[2]) > 0);
  assert.ok(
    await redis.handle.redis.llen(`${redis.prefix}message_new`) > 0,
    "the Redis lists got events",
  );
  await deleteKeys(redis.handle, redis.prefix);
  await Deno.remove(new URL(dataDir.slice(2), root), { recursive: true });
});
