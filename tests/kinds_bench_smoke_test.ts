/**
 * A small run of the destination kinds' benchmark (`bench/kinds.ts`), so that it cannot rot:
 * one row per kind harness, every figure a positive number (not how fast: machines are noisy).
 */
import assert from "node:assert/strict";
import { kindHarnesses } from "./support/kind_harness.ts";
import { runBench } from "./support/bench_run.ts";

Deno.test("the kinds benchmark runs (smoke size) with a row per kind harness", async () => {
  const out = await Deno.makeTempDir({ prefix: "vk-router-bench-kinds-" });
  const { code, stderr } = await runBench(["--smoke", "--only", "kinds", "--out", out]);
  assert.equal(code, 0, stderr);
  const rows = JSON.parse(await Deno.readTextFile(`${out}/kinds.json`));
  assert.deepEqual(
    rows.map((r: { kind: string }) => r.kind),
    (await kindHarnesses()).map((h) => h.kind),
  );
  for (const row of rows) {
    for (const key of ["router_events_per_s", "floor_events_per_s", "router_vs_floor"]) {
      assert.ok(Number.isFinite(row[key]) && row[key] > 0, `${row.kind}: ${key} is ${row[key]}`);
    }
  }
  await Deno.remove(out, { recursive: true });
});
