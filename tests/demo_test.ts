/**
 * `deno task demo` as a first-time user runs it: with a Redis, without one, with and
 * without a STATUS_TOKEN, twice at once, and with wrong flags. Each runs the real task.
 */
import assert from "node:assert/strict";
import { openKvStore } from "../src/store/kv_store.ts";
import { deleteKeys, TEST_REDIS_URL, testRedis } from "./support/redis.ts";
import { waitFor } from "./support/wait.ts";

const SIMULATED_COMMUNITY = 218730916;
const ROOT = new URL("../", import.meta.url);
/** A port nothing listens on: a Redis that is not there. */
const NO_REDIS = "redis://127.0.0.1:1";

/** A running `deno task demo`, its output so far, and its end. */
function spawnDemo(args: string[], env: Record<string, string>) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["task", "demo", ...args],
    cwd: ROOT,
    env: { PORT: "0", LOG_FORMAT: "json", NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  const decoder = new TextDecoder();
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) out += decoder.decode(chunk, { stream: true });
  };
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)]);
  return {
    output: () => out,
    eventLines: () =>
      out.split("\n").filter((l) => l.includes('"logger":"vk-event-router.events"')),
    url: async () => {
      await waitFor(() => /Status page: {2}http:\/\/127\.0\.0\.1:\d+\//.test(out), "the banner");
      return /Status page: {2}(http:\/\/127\.0\.0\.1:\d+)\//.exec(out)![1]!;
    },
    exited: async () => {
      const { code } = await child.status;
      await drained;
      return code;
    },
    [Symbol.asyncDispose]: async () => {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      await child.status;
      await drained;
    },
  };
}

/** A fresh DATA_DIR for one demo run, removed afterwards. */
function demoDataDir() {
  const dir = `data/demo-test-${crypto.randomUUID().slice(0, 8)}`;
  return {
    dir: `./${dir}`,
    [Symbol.asyncDispose]: () =>
      Deno.remove(new URL(dir, ROOT), { recursive: true }).catch(() => {}),
  };
}

Deno.test("deno task demo shows events flowing within seconds, calmly, to the log and the Redis lists", async () => {
  await using redis = testRedis();
  await using data = demoDataDir();
  // A previous demo run left its checkpoint far beyond the new simulator's history.
  {
    await using store = await openKvStore(new URL(data.dir, ROOT).pathname);
    await store.setCheckpoint(SIMULATED_COMMUNITY, "500");
  }
  await using demo = spawnDemo(["--duration=5", "--rate=20"], {
    DATA_DIR: data.dir,
    DEMO_PREFIX: redis.prefix,
    REDIS_URL: TEST_REDIS_URL,
  });
  const url = await demo.url();
  await waitFor(() => demo.eventLines().length >= 20, "20 events in the log");
  const token = /Log in with: {2}(\S+)/.exec(demo.output())![1]!;
  const status = await (await fetch(`${url}/api/status`, {
    headers: { authorization: `Bearer ${token}` },
  })).json();
  assert.equal(status.communities[0].group_id, SIMULATED_COMMUNITY);
  assert.equal(status.communities[0].history_lost, 0, "no failed: 1 alarm");
  assert.deepEqual(status.recent_errors, [], "no recent error");
  assert.equal(await demo.exited(), 0, demo.output());
  const out = demo.output();
  assert.doesNotMatch(out, /failed: 1|"level":"(ERROR|FATAL)"/);
  assert.doesNotMatch(out, /No Redis answered/);
  const types = new Set(demo.eventLines().map((l) => JSON.parse(l).event.event_type));
  assert.ok(types.has("message_new") && types.size >= 3, `event types: ${[...types]}`);
  const finished = /Demo finished: (\d+) events generated, (\d+) routed\./.exec(out);
  assert.ok(finished && Number(finished[2]) > 0);
  assert.ok(
    await redis.handle.redis.llen(`${redis.prefix}message_new`) > 0,
    "the Redis lists got events",
  );
  await deleteKeys(redis.handle, redis.prefix);
});

Deno.test("without a Redis the demo says so in one line and routes every event to the log; its one-time token opens the full view", async () => {
  await using data = demoDataDir();
  await using demo = spawnDemo(["--duration=4", "--rate=20"], {
    DATA_DIR: data.dir,
    REDIS_URL: NO_REDIS,
  });
  const url = await demo.url();
  await waitFor(() => demo.eventLines().length >= 5, "5 events in the log");
  const token = /Log in with: {2}(\S+) \(a one-time token for this run\)/.exec(demo.output())?.[1];
  assert.ok(token, demo.output());
  const open = await fetch(`${url}/api/status`);
  await open.body?.cancel();
  assert.equal(open.status, 401, "the page is behind the token");
  const full = await fetch(`${url}/api/status`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(full.status, 200);
  const events = (await full.json()).recent_events as { text_hidden: boolean }[];
  assert.ok(events.length > 0 && events.every((e) => !e.text_hidden), "names and texts shown");
  assert.equal(await demo.exited(), 0, demo.output());
  const out = demo.output();
  assert.equal(
    out.match(/^No Redis answered at 127\.0\.0\.1:1: events go to the log only/gm)?.length,
    1,
  );
  assert.doesNotMatch(out, /"level":"(ERROR|FATAL)"|Uncaught|\n\s+at /);
  assert.ok(Number(/(\d+) routed\./.exec(out)?.[1]) > 0, out);
});

Deno.test("the demo honours STATUS_TOKEN", async () => {
  await using data = demoDataDir();
  const STATUS_TOKEN = "my-own-demo-token-1234";
  await using demo = spawnDemo(["--duration=3"], {
    DATA_DIR: data.dir,
    REDIS_URL: NO_REDIS,
    STATUS_TOKEN,
  });
  const url = await demo.url();
  assert.match(demo.output(), /Log in with: {2}your STATUS_TOKEN/);
  assert.doesNotMatch(demo.output(), /STATUS_TOKEN is not set/);
  const auth = (token: string) =>
    fetch(`${url}/api/status`, { headers: { authorization: `Bearer ${token}` } })
      .then(async (r) => (await r.body?.cancel(), r.status));
  assert.equal(await auth(STATUS_TOKEN), 200);
  assert.equal(await auth("not-the-token-at-all"), 401);
  assert.equal(await demo.exited(), 0, demo.output());
  assert.doesNotMatch(demo.output(), new RegExp(STATUS_TOKEN), "the token is never printed");
});

Deno.test("a second demo beside the first stops with one error line, exit 2", async () => {
  await using data = demoDataDir();
  await using first = spawnDemo(["--duration=20"], { DATA_DIR: data.dir, REDIS_URL: NO_REDIS });
  const url = await first.url();
  const port = new URL(url).port;
  const clashes: Record<string, string>[] = [{ DATA_DIR: data.dir }, { PORT: port }];
  for (const env of clashes) {
    await using data2 = demoDataDir();
    await using second = spawnDemo(["--duration=5"], {
      DATA_DIR: data2.dir,
      REDIS_URL: NO_REDIS,
      ...env,
    });
    assert.equal(await second.exited(), 2, second.output());
    const errors = second.output().split("\n").filter((l) => l.startsWith("error: "));
    assert.equal(errors.length, 1, second.output());
    assert.match(
      errors[0]!,
      "PORT" in env ? /^error: PORT: \d+ is in use/ : /^error: DATA_DIR: .* in use/,
    );
    assert.doesNotMatch(second.output(), /Uncaught|ConfigError|\n\s+at /);
  }
});

Deno.test("deno task demo --help and a bad flag print its usage, with exit 2", async (t) => {
  const cases: [string[], number, RegExp][] = [
    [["--help"], 2, /^Usage: deno task demo/m],
    [["--rate=abc"], 2, /^error: --rate: expected a number from 0\.1 to 1000, got abc$/m],
    [["--duration=0"], 2, /^error: --duration: expected a number from 1 to 86400, got 0$/m],
    [["--speed=3"], 2, /^error: Unknown option '--speed'/m],
  ];
  for (const [args, code, expected] of cases) {
    await t.step(args.join(" "), async () => {
      await using demo = spawnDemo(args, { REDIS_URL: NO_REDIS });
      assert.equal(await demo.exited(), code, demo.output());
      assert.match(demo.output(), expected);
      assert.match(demo.output(), /--duration=SECONDS/);
      assert.doesNotMatch(demo.output(), /Status page:|\n\s+at /);
    });
  }
});
