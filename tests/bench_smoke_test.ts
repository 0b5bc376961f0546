/**
 * A small run of the end-to-end benchmark, so that `deno task bench` cannot rot. It checks
 * that every contender ran and every figure was produced, not how fast (machines are noisy).
 */
import assert from "node:assert/strict";
import { runBench } from "./support/bench_run.ts";

Deno.test("the end-to-end benchmark runs (smoke size) and writes its results", async () => {
  const out = await Deno.makeTempDir({ prefix: "vk-router-bench-" });
  const { code, stderr } = await runBench(["--smoke", "--only", "e2e", "--out", out]);
  assert.equal(code, 0, stderr);
  const results = JSON.parse(await Deno.readTextFile(`${out}/results.json`));
  for (
    const key of [
      "router_vs_floor",
      "router_vs_naive",
      "api_calls_per_event",
      "p99_added_latency_ms",
      "peak_rss_mb",
      "idle_rss_mb",
    ]
  ) {
    assert.equal(typeof results[key], "number", key);
    assert.ok(Number.isFinite(results[key]), `${key} is ${results[key]}`);
  }
  assert.equal(results.table.length, 9, "three contenders at three batch sizes");
  for (const batch of [100, 10, 1]) {
    const ratio = results.router_vs_floor_by_batch[batch];
    assert.ok(Number.isFinite(ratio) && ratio > 0, `router / floor at batch ${batch} is ${ratio}`);
  }
  assert.ok(
    results.router_vs_naive > 1,
    "batched enrichment beats per-event lookups even in a smoke run",
  );
  assert.match(
    await Deno.readTextFile(`${out}/throughput.svg`),
    /^<svg[\s\S]*<rect[\s\S]*<\/svg>\n$/,
  );
  assert.match(await Deno.readTextFile(`${out}/results.md`), /\| router \| 100 \|/);
  await Deno.remove(out, { recursive: true });
});
