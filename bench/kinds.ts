// deno-lint-ignore-file no-console -- the benchmark prints its table
/**
 * Delivery throughput of each destination kind with a server of its own (every kind
 * harness, `src/deliver/kinds/<kind>/testing.ts`), at batch 100:
 *
 * - **router**: the real graph (`buildRouter`) handling the workload's raw updates in
 *   batches of 100: validate, transform, route, publish to the kind and await every ack or
 *   confirm, one batch after another. Callback-only configuration: no enrichment calls, so
 *   the figure is the router's own cost plus the kind's.
 * - **floor**: the harness publishing the same raw updates with the same client, 100 at a
 *   time, acks or confirms awaited as the kind does, nothing else.
 *
 * Each contender runs twice, alternating, and the faster run counts. Servers are private
 * (started here on free ports) unless the harness's `TEST_*_URL` names one.
 *
 * Usage: deno run -A bench/kinds.ts [--smoke] [--out DIR]  (writes DIR/kinds.json when given)
 * @module
 */
import { parseArgs } from "node:util";
import { loadConfig } from "../src/config/config.ts";
import { parseRoutes } from "../src/config/routes.ts";
import { buildRouter, verifyDestinations } from "../src/router.ts";
import { kindHarnesses } from "../tests/support/kind_harness.ts";
import { GROUP_ID, workload } from "./workload.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { smoke: { type: "boolean", default: false }, out: { type: "string" } },
});
const BATCH = 100;
const EVENTS = values.smoke ? 1_000 : 20_000;

interface Row {
  kind: string;
  events: number;
  router_events_per_s: number;
  floor_events_per_s: number;
  router_vs_floor: number;
}

/** Events per second of `run` over the batches. */
async function rate(batches: readonly unknown[][], run: (batch: unknown[]) => Promise<void>) {
  const start = performance.now();
  for (const batch of batches) await run(batch);
  return (batches.length * BATCH) / ((performance.now() - start) / 1000);
}

const rows: Row[] = [];
for (const harness of await kindHarnesses()) {
  const explicit = Deno.env.get(harness.testUrlVariable);
  const missing = explicit === undefined ? await harness.missing() : null;
  if (missing) {
    console.error(`${harness.kind}: skipped: ${missing}`);
    continue;
  }
  await using server = explicit === undefined ? await harness.startServer() : null;
  const url = explicit ?? server!.url;
  const dataDir = await Deno.makeTempDir({ prefix: "vk-router-bench-kinds-" });
  try {
    const updates = workload(EVENTS * 2).map((event, i) => ({
      ...(event as Record<string, unknown>),
      event_id: `bench-${i}`, // unique per event, so that no run is a duplicate of another
    }));
    const batchesOf = (from: number) =>
      Array.from(
        { length: EVENTS / BATCH },
        (_, i) => updates.slice(from + i * BATCH, from + (i + 1) * BATCH),
      );
    const best = { router: 0, floor: 0 };
    for (const round of [0, 1]) {
      await using target = await harness.provision(url, `bench-${round}-${Date.now()}`);
      await using router = await buildRouter({
        config: loadConfig({
          VK_GROUP_ID: String(GROUP_ID),
          VK_LONGPOLL: "off",
          VK_CALLBACK_CONFIRMATION: "bench",
          VK_CALLBACK_SECRET: "bench-secret-0123456789",
          DATA_DIR: `${dataDir}/${round}`,
          LOG_LEVEL: "error",
          [harness.connectionVariable]: url,
        }),
        routes: parseRoutes({
          destinations: { target: target.destination },
          rules: [{ to: ["target"] }],
        }),
      });
      // As the service starts: the live check, which also waits for the connection.
      const warnings = await verifyDestinations(router);
      if (warnings.length > 0) throw new Error(warnings.join("\n"));
      const contenders = {
        floor: () =>
          rate(
            batchesOf(round * EVENTS),
            (batch) => harness.floor(url, target, batch.map((u) => JSON.stringify(u))),
          ),
        router: () =>
          rate(
            batchesOf(round * EVENTS),
            (batch) => router.pipeline.handle({ updates: batch, receivedAt: Date.now() }),
          ),
      };
      // Alternating which goes first, so that neither always runs on a colder process.
      for (
        const name of round === 0 ? ["floor", "router"] as const : ["router", "floor"] as const
      ) {
        best[name] = Math.max(best[name], await contenders[name]());
      }
      const [failed] = await router.store.due(Number.MAX_SAFE_INTEGER, 1);
      if (failed) throw new Error(`${harness.kind}: deliveries failed: ${failed.lastError}`);
    }
    rows.push({
      kind: harness.kind,
      events: EVENTS,
      router_events_per_s: Math.round(best.router),
      floor_events_per_s: Math.round(best.floor),
      router_vs_floor: Math.round((best.router / best.floor) * 100) / 100,
    });
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
}

console.log(`| kind | events | router ev/s | floor ev/s | router / floor |`);
console.log(`| --- | --: | --: | --: | --: |`);
for (const r of rows) {
  console.log(
    `| ${r.kind} | ${r.events} | ${r.router_events_per_s} | ${r.floor_events_per_s} | ${r.router_vs_floor} |`,
  );
}
if (values.out) {
  await Deno.writeTextFile(`${values.out}/kinds.json`, JSON.stringify(rows, null, 2) + "\n");
}
