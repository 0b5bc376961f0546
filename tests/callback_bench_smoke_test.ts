/**
 * A small run of the callback-path benchmark (`bench/callback_http.ts`), so that it cannot
 * rot: every figure is produced, not how fast (machines are noisy).
 */
import assert from "node:assert/strict";
import { runBench } from "./support/bench_run.ts";

Deno.test("the callback-path benchmark runs (smoke size) and writes its ratios", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vk-router-callback-bench-" });
  const out = `${dir}/callback_http.json`;
  const { code, stderr } = await runBench(["--smoke", "--only", "callback", "--out", dir]);
  assert.equal(code, 0, stderr);
  const results = JSON.parse(await Deno.readTextFile(out));
  for (
    const key of [
      "throughput_after_vs_before",
      "p99_after_vs_before",
      "healthz_throughput_after_vs_before",
      "healthz_p99_after_vs_before",
      "router_vs_floor",
      "p99_router_vs_floor",
    ]
  ) {
    assert.ok(Number.isFinite(results[key]) && results[key] > 0, `${key} is ${results[key]}`);
  }
  await Deno.remove(dir, { recursive: true });
});
