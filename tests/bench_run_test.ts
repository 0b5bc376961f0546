/**
 * `deno task bench` on a bare machine: the micro benchmarks run (smoke size) through the
 * runner against the Redis it is given and no other, their keys are gone afterwards, the
 * results go to `--out` only, and a mistake in its flags is one line and exit 2. (The
 * other parts run through the runner in their own smoke tests.)
 */
import assert from "node:assert/strict";
import { runBench } from "./support/bench_run.ts";
import { testRedis } from "./support/redis.ts";

const COMMITTED = new URL("../bench/results.json", import.meta.url);

Deno.test("deno task bench --smoke runs the micro benchmarks, cleans its keys and writes only to --out", async () => {
  await using redis = testRedis();
  const committed = await Deno.readTextFile(COMMITTED);
  const out = await Deno.makeTempDir({ prefix: "vk-router-bench-run-" });
  const { code, stderr } = await runBench(["--smoke", "--only", "micro", "--out", out]);
  assert.equal(code, 0, stderr);
  assert.match(stderr, /== micro: done in/);
  assert.match(stderr, /Using the Redis named by BENCH_REDIS_URL/);
  const [, keys] = await redis.handle.redis.scan("0", { match: "bench-run-*", count: 10_000 });
  assert.deepEqual(keys, [], "the run's keys are gone");
  assert.equal(
    await Deno.readTextFile(COMMITTED),
    committed,
    "the committed results are untouched",
  );
  assert.match(stderr, new RegExp(`Results in ${out}`));
  await Deno.remove(out, { recursive: true });
});

Deno.test("deno task bench refuses an unknown part or flag with exit 2", async () => {
  for (const args of [["--only", "nope"], ["--fast"]]) {
    const { code, stderr } = await runBench(args);
    assert.equal(code, 2, stderr);
    assert.match(stderr, /^error: .*\nUsage: deno task bench/);
  }
});
