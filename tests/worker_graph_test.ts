/** The worker loads only what it runs: no test or development dependency in its graph. */
import assert from "node:assert/strict";
import { moduleGraph } from "../bench/module_graph.ts";

Deno.test("src/worker.ts reaches no test-only or dev-only npm package", async () => {
  const graph = await moduleGraph("src/worker.ts");
  const names = graph.npm_packages.map((p) => p.replace(/@[^@]+$/, ""));
  assert.ok(names.includes("@upstash/redis"), `the graph was read: ${names}`);
  for (const dev of ["playwright-core", "@sparticuz/chromium", "ajv", "fast-check", "pure-rand"]) {
    assert.ok(!names.includes(dev), `${dev} is in the worker's graph`);
  }
});
