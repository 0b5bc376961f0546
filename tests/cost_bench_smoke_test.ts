/**
 * A small run of the Upstash cost benchmark, so that `deno task bench` cannot rot. Counts
 * are deterministic, so it checks them; times only for being there (machines are noisy).
 */
import assert from "node:assert/strict";
import { runBench } from "./support/bench_run.ts";

Deno.test("the cost benchmark runs (smoke size) and counts one request per worker callback", async () => {
  const out = await Deno.makeTempDir({ prefix: "vk-router-cost-" });
  const { code, stderr } = await runBench(["--smoke", "--only", "cost", "--out", out]);
  assert.equal(code, 0, stderr);
  const results = JSON.parse(await Deno.readTextFile(`${out}/cost.json`));
  const row = (path: string, scenario: string) =>
    results.table.find((r: { path: string; scenario: string }) =>
      r.path === path && r.scenario === scenario
    );
  const worker = row("worker", "one redis-list route");
  assert.equal(worker.requests_per_event, 1);
  assert.ok(worker.commands_per_event <= 2, `${worker.commands_per_event} commands per event`);
  assert.ok(Number.isFinite(worker.p50_ms) && Number.isFinite(worker.p99_ms));
  const service = row("service", "one event at a time (every 50 ms)");
  assert.ok(service.requests_per_event <= 1.2, `${service.requests_per_event} requests per event`);
  assert.equal(results.table.length, 5);
  assert.ok(results.cold_start.median_ms_to_first_callback > 0);
  assert.ok(results.module_graph.npm_packages.some((p: string) => p.startsWith("@upstash/redis")));
  await Deno.remove(out, { recursive: true });
});
