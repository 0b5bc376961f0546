/** Scripts go by SHA, many calls in one request, and the text only when Redis lacks it. */
import assert from "node:assert/strict";
import { connectRedis } from "../src/redis/connection.ts";
import { LuaScript, runScript, runScripts } from "../src/redis/scripts.ts";
import { TEST_REDIS_URL, testRedis } from "./support/redis.ts";
import { startUpstashGateway } from "../dev/upstash_gateway.ts";

Deno.test("runScripts() sends EVALSHA, and EVAL once for a script Redis does not know", async () => {
  await using redis = testRedis();
  await using gateway = startUpstashGateway(TEST_REDIS_URL);
  const upstash = connectRedis({ kind: "upstash", url: gateway.url, token: gateway.token });
  // A text no Redis has seen: its first EVALSHA answers NOSCRIPT.
  const fresh = new LuaScript(
    `-- ${crypto.randomUUID()}\nreturn redis.call('INCRBY', KEYS[1], ARGV[1])`,
  );
  const echo = new LuaScript("return ARGV[1]");
  const key = `${redis.prefix}n`;
  const calls = [
    { script: fresh, keys: [key], args: ["2"] },
    { script: echo, keys: [], args: ["hi"] },
    { script: fresh, keys: [key], args: ["3"] },
  ];
  await runScript(upstash.redis, { script: echo, keys: [], args: ["load"] });
  gateway.resetCounts();

  const first = await runScripts(upstash.redis, calls);
  assert.deepEqual(first, [
    { ok: true, value: 2 },
    { ok: true, value: "hi" },
    { ok: true, value: 5 },
  ]);
  assert.equal(gateway.counts.requests, 2, "the calls, then the unknown ones again");
  assert.deepEqual(Object.fromEntries(gateway.counts.byCommand), { EVALSHA: 3, EVAL: 2 });

  gateway.resetCounts();
  await runScripts(upstash.redis, calls);
  assert.equal(gateway.counts.requests, 1, "once loaded, one request");
  assert.deepEqual(Object.fromEntries(gateway.counts.byCommand), { EVALSHA: 3 });
  assert.equal(await redis.handle.redis.get(key), "10", "each call ran exactly once");
});

Deno.test("runScripts() answers each call on its own and never throws", async () => {
  await using redis = testRedis();
  await using gateway = startUpstashGateway(TEST_REDIS_URL);
  const upstash = connectRedis({ kind: "upstash", url: gateway.url, token: gateway.token });
  const key = `${redis.prefix}list`;
  await redis.handle.redis.lpush(key, "x");
  const incr = new LuaScript("return redis.call('INCR', KEYS[1])");
  const [refused, fine] = await runScripts(upstash.redis, [
    { script: incr, keys: [key], args: [] },
    { script: incr, keys: [`${redis.prefix}n`], args: [] },
  ]);
  assert.equal(refused!.ok, false);
  // The error names the key Redis refused the script on.
  assert.equal(
    (refused as { error: string }).error.startsWith(
      `Redis refused the script on key ${JSON.stringify(key)}: `,
    ),
    true,
  );
  assert.match((refused as { error: string }).error, /WRONGTYPE/);
  assert.deepEqual(fine, { ok: true, value: 1 });

  gateway.setFailing(true);
  const [down] = await runScripts(upstash.redis, [{ script: incr, keys: [key], args: [] }]);
  assert.equal(down!.ok, false);
  assert.match((down as { error: string }).error, /^Redis unreachable: /);
  await assert.rejects(
    runScript(upstash.redis, { script: incr, keys: [key], args: [] }),
    /Redis unreachable/,
  );
  gateway.setFailing(false);
});

Deno.test("runScripts() over the native transport loads unknown scripts the same way", async () => {
  await using redis = testRedis();
  const script = new LuaScript(`-- ${crypto.randomUUID()}\nreturn ARGV[1] .. ARGV[2]`);
  assert.deepEqual(await runScripts(redis.handle.redis, [{ script, keys: [], args: ["a", "b"] }]), [
    { ok: true, value: "ab" },
  ]);
  assert.equal(await runScript(redis.handle.redis, { script, keys: [], args: ["c", "d"] }), "cd");
});

Deno.test("LuaScript puts each included part in place of its --- @include line", () => {
  const script = new LuaScript("-- around\n--- @include append\nreturn append()\n", {
    append: "local function append() return 1 end\n",
  });
  assert.equal(script.source, "-- around\nlocal function append() return 1 end\nreturn append()\n");
  assert.throws(() => new LuaScript("--- @include missing\n"), /includes missing/);
});
