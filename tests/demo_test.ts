import assert from "node:assert/strict";
import { openKvStore } from "../src/store/kv_store.ts";
import { deleteKeys, TEST_REDIS_URL, testRedis } from "./support/redis.ts";
import { waitFor } from "./support/wait.ts";

const SIMULATED_COMMUNITY = 218730916;

Deno.test("deno task demo shows events flowing within seconds, calmly, to the log and the Redis lists", async () => {
  await using redis = testRedis();
  const root = new URL("../", import.meta.url);
  const dataDir = `data/demo-test-${crypto.randomUUID().slice(0, 8)}`;
  // A previous demo run left its checkpoint far beyond the new simulator's history.
  {
    await using store = await openKvStore(new URL(dataDir, root).pathname);
    await store.setCheckpoint(SIMULATED_COMMUNITY, "500");
  }
  const child = new Deno.Command(Deno.execPath(), {
    args: ["task", "demo", "--duration=5", "--rate=20"],
    cwd: root,
    env: {
      PORT: "0",
      LOG_FORMAT: "json",
      DATA_DIR: `./${dataDir}`,
      DEMO_PREFIX: redis.prefix,
      REDIS_URL: TEST_REDIS_URL,
      NO_COLOR: "1",
    },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  const decoder = new TextDecoder();
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) out += decoder.decode(chunk, { stream: true });
  };
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)]);
  const eventLines = () =>
    out.split("\n").filter((l) => l.includes('"logger":"vk-event-router.events"'));
  try {
    await waitFor(() => /Status page: {2}http:\/\/127\.0\.0\.1:\d+\//.test(out), "the banner");
    const url = /Status page: {2}(http:\/\/127\.0\.0\.1:\d+)\//.exec(out)![1]!;
    await waitFor(() => eventLines().length >= 20, "20 events in the log");
    const status = await (await fetch(`${url}/api/status`)).json();
    assert.equal(status.communities[0].group_id, SIMULATED_COMMUNITY);
    assert.equal(status.communities[0].history_lost, 0, "no failed: 1 alarm");
    assert.deepEqual(status.recent_errors, [], "no recent error");
  } finally {
    const code = (await child.status).code;
    await drained;
    assert.equal(code, 0, out);
  }
  assert.doesNotMatch(out, /failed: 1|"level":"(ERROR|FATAL)"/);
  const types = new Set(eventLines().map((l) => JSON.parse(l).event.event_type));
  assert.ok(types.has("message_new") && types.size >= 3, `event types: ${[...types]}`);
  const finished = /Demo finished: (\d+) events generated, (\d+) routed\./.exec(out);
  assert.ok(finished && Number(finished[2]) > 0);
  assert.ok(
    await redis.handle.redis.llen(`${redis.prefix}message_new`) > 0,
    "the Redis lists got events",
  );
  await deleteKeys(redis.handle, redis.prefix);
  await Deno.remove(new URL(dataDir, root), { recursive: true });
});
