// deno-lint-ignore-file no-console -- the benchmark prints its table
/**
 * What an event costs on Upstash: REST requests and Redis commands per event, counted by
 * the Upstash-compatible gateway (`dev/upstash_gateway.ts`, which counts every
 * command of a pipeline or transaction; a script call is one command), for the serverless
 * worker and for the long-running service; the worker's callback latency when every
 * Upstash request takes 20 ms more; its cold start under `deno serve`; its module graph;
 * and the monthly Upstash bill for a million events.
 *
 * Usage: deno run -A bench/cost.ts [--smoke] [--out FILE]
 * Writes FILE (`--out bench/cost.json` refreshes the committed one) and prints a Markdown table.
 * @module
 */
import { parseArgs } from "node:util";
import { connectRedis } from "../src/redis/connection.ts";
import { moduleGraph } from "./module_graph.ts";
import { RespConnection } from "../src/redis/resp_connection.ts";
import { createWorker } from "../src/worker/worker.ts";
import { startFakeVk } from "../tests/support/fake_vk.ts";
import { deleteKeys } from "../tests/support/delete_keys.ts";
import { startTaskFlags } from "../tests/support/service_process.ts";
import { type GatewayCounts, startUpstashGateway } from "../dev/upstash_gateway.ts";
import { taskCommand } from "../tests/support/tasks.ts";
import { benchPrefix, benchRedisUrl, requireOut } from "./bench_env.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { smoke: { type: "boolean", default: false }, out: { type: "string" } },
});
const ROOT = new URL("../", import.meta.url);
const ROOT_PATH = decodeURIComponent(ROOT.pathname);
const OUT = requireOut(values.out);
const REDIS_URL = benchRedisUrl();
const SMOKE = values.smoke;

/** Upstash pay-as-you-go, per command (docs "Pricing & Billing", upstash.com/pricing/redis). */
const USD_PER_100K_COMMANDS = 0.2;
/** Added by the gateway to every request in the latency runs. */
const LATENCY_MS = 20;
const GROUP_ID = 42;
const SECRET = "cost-bench-callback-secret";
const HOURS_PER_MONTH = 730;
const MONTHLY_EVENTS = 1_000_000;

/** One measured scenario. */
interface Row {
  path: "worker" | "service";
  scenario: string;
  events: number;
  requests_per_event: number;
  commands_per_event: number;
  /** Commands by name per event, most first. */
  commands: Record<string, number>;
  p50_ms: number | null;
  p99_ms: number | null;
  /** Commands per hour with no events (the service's background work). */
  idle_commands_per_hour: number;
  usd_per_month_at_1m_events: number;
}

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

function perEvent(counts: GatewayCounts, events: number) {
  return {
    requests_per_event: counts.requests / events,
    commands_per_event: counts.commands / events,
    commands: Object.fromEntries(
      [...counts.byCommand].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, v / events]),
    ),
  };
}

function monthlyUsd(commandsPerEvent: number, idlePerHour: number): number {
  const commands = commandsPerEvent * MONTHLY_EVENTS + idlePerHour * HOURS_PER_MONTH;
  return commands / 100_000 * USD_PER_100K_COMMANDS;
}

async function deletePrefix(prefix: string): Promise<void> {
  await using handle = connectRedis({ kind: "native", url: REDIS_URL });
  await deleteKeys(handle, prefix);
}

/** A worker's environment over the gateway, its keys under `prefix`. */
function workerEnv(
  gateway: { url: string; token: string },
  prefix: string,
  routesFile: string,
): Record<string, string> {
  return {
    VK_GROUP_ID: String(GROUP_ID),
    VK_CALLBACK_CONFIRMATION: "cost",
    VK_CALLBACK_SECRET: SECRET,
    UPSTASH_REDIS_REST_URL: gateway.url,
    UPSTASH_REDIS_REST_TOKEN: gateway.token,
    REDIS_PREFIX: `${prefix}router:`,
    ROUTES_FILE: routesFile,
  };
}

const message = (id: string, n: number) => ({
  type: "message_new",
  event_id: id,
  group_id: GROUP_ID,
  object: {
    message: {
      from_id: 1 + (n % 20),
      peer_id: 1 + (n % 20),
      text: `hello ${n}`,
      date: 1_709_107_923,
      conversation_message_id: n,
    },
  },
});

/** The worker in this process, callbacks one after another, as VK sends them. */
async function workerScenario(
  scenario: string,
  options: { events: number; hook: "none" | "up" | "down" },
): Promise<Row> {
  await using gateway = startUpstashGateway(REDIS_URL, { latencyMs: LATENCY_MS });
  const hook = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (req) => {
      await req.body?.cancel();
      return new Response(options.hook === "up" ? "ok" : "down", {
        status: options.hook === "up" ? 200 : 503,
      });
    },
  );
  const prefix = benchPrefix("cost");
  const dir = await Deno.makeTempDir({ prefix: "vk-router-cost-" });
  const destinations: Record<string, unknown> = {
    q: { kind: "redis-list", key: `${prefix}q` },
  };
  if (options.hook !== "none") {
    destinations.hook = { kind: "webhook", url: `http://127.0.0.1:${hook.addr.port}/` };
  }
  await Deno.writeTextFile(
    `${dir}/routes.json`,
    JSON.stringify({ destinations, rules: [{ to: Object.keys(destinations) }] }),
  );
  const worker = await createWorker({
    ...workerEnv(gateway, prefix, `${dir}/routes.json`),
    // Parked deliveries fall due by the next callback: the worst case for retries.
    RETRY_SCHEDULE_S: "0.01",
  });
  const callback = async (id: string, n: number) => {
    const started = performance.now();
    const response = await worker.handle(
      new Request("http://worker/callback", {
        method: "POST",
        body: JSON.stringify({ ...message(id, n), secret: SECRET }),
      }),
    );
    const text = await response.text();
    if (text !== "ok") throw new Error(`${scenario}: callback answered ${response.status} ${text}`);
    return performance.now() - started;
  };
  await callback("warm-up", 0); // loads the scripts into Redis, as any earlier callback has
  gateway.resetCounts();
  const latencies: number[] = [];
  for (let n = 1; n <= options.events; n++) latencies.push(await callback(`e${n}`, n));
  const row: Row = {
    path: "worker",
    scenario,
    events: options.events,
    ...perEvent(gateway.counts, options.events),
    p50_ms: percentile(latencies, 0.5),
    p99_ms: percentile(latencies, 0.99),
    idle_commands_per_hour: 0,
    usd_per_month_at_1m_events: 0,
  };
  row.usd_per_month_at_1m_events = monthlyUsd(row.commands_per_event, 0);
  await hook.shutdown();
  await deletePrefix(prefix);
  await Deno.remove(dir, { recursive: true });
  return row;
}

/** The real service process over Upstash, taking events from a fake VK by long poll. */
async function serviceScenario(
  scenario: string,
  options: { events: number; batch: number; paceMs: number; idleMs: number },
): Promise<Row> {
  await using gateway = startUpstashGateway(REDIS_URL);
  await using vk = await startFakeVk({
    tokens: { [GROUP_ID]: "cost-token" },
    maxBatch: options.batch,
  });
  for (let id = 1; id <= 20; id++) {
    vk.users.set(id, { id, first_name: "U", last_name: String(id), domain: `u${id}` });
  }
  const prefix = benchPrefix("cost");
  const list = `${prefix}q`;
  const dir = await Deno.makeTempDir({ prefix: "vk-router-cost-" });
  await Deno.writeTextFile(
    `${dir}/routes.json`,
    JSON.stringify({
      destinations: { q: { kind: "redis-list", key: list } },
      rules: [{ to: ["q"] }],
    }),
  );
  const control = new RespConnection({ url: REDIS_URL, connectTimeoutMs: 5000 });
  // From the start of the fake's history, as a service that has run before does.
  await control.send([["SET", `${prefix}router:checkpoint:${GROUP_ID}`, "0"]]);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...await startTaskFlags({ ROUTES_FILE: "routes.json" }, dir),
      "--config",
      `${ROOT_PATH}deno.json`,
      `${ROOT_PATH}src/main.ts`,
    ],
    cwd: dir,
    env: {
      VK_TOKEN: "cost-token",
      VK_GROUP_ID: String(GROUP_ID),
      VK_API_URL: vk.apiUrl,
      ROUTES_FILE: "routes.json",
      UPSTASH_REDIS_REST_URL: gateway.url,
      UPSTASH_REDIS_REST_TOKEN: gateway.token,
      REDIS_PREFIX: `${prefix}router:`,
      LOG_LEVEL: Deno.env.get("COST_LOG_LEVEL") ?? "warning",
      LOG_FORMAT: "json",
      PORT: "0",
      HOST: "127.0.0.1",
    },
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const length = async () => Number((await control.send([["LLEN", list]]))[0]);
  try {
    // Started, polling and idle, and every user's name cached (as in a service that has
    // run a while: VK calls, each a reservation of the shared rate limit, are not per
    // event then): one event per user through, then counting starts.
    vk.push(Array.from({ length: 20 }, (_, n) => message(`warm-up-${n}`, n)), GROUP_ID);
    const deadline = Date.now() + 60_000;
    while (await length() < 20) {
      if (Date.now() > deadline) throw new Error(`${scenario}: the service took no event`);
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 500));
    gateway.resetCounts();
    const events = Array.from({ length: options.events }, (_, i) => message(`e${i + 1}`, i + 1));
    if (options.paceMs === 0) vk.push(events, GROUP_ID);
    else {
      for (const event of events) {
        vk.push([event], GROUP_ID);
        await new Promise((r) => setTimeout(r, options.paceMs));
      }
    }
    while (await length() < options.events + 1) {
      if (Date.now() > deadline + 120_000) throw new Error(`${scenario}: events did not arrive`);
      await new Promise((r) => setTimeout(r, 10));
    }
    await new Promise((r) => setTimeout(r, 300)); // the checkpoint of the last batch
    const busy = perEvent(gateway.counts, options.events);
    gateway.resetCounts();
    await new Promise((r) => setTimeout(r, options.idleMs));
    const idlePerHour = gateway.counts.commands / (options.idleMs / 3_600_000);
    return {
      path: "service",
      scenario,
      events: options.events,
      ...busy,
      p50_ms: null,
      p99_ms: null,
      idle_commands_per_hour: idlePerHour,
      usd_per_month_at_1m_events: monthlyUsd(busy.commands_per_event, idlePerHour),
    };
  } finally {
    try {
      child.kill("SIGTERM");
    } catch { /* exited */ }
    await child.status;
    control.close();
    await deletePrefix(prefix);
    await Deno.remove(dir, { recursive: true });
  }
}

/** `deno serve` with the `serve` task's flags: spawn to listening, and to the first callback answered. */
async function coldStart(runs: number) {
  await using gateway = startUpstashGateway(REDIS_URL);
  const prefix = benchPrefix("cost");
  const dir = await Deno.makeTempDir({ prefix: "vk-router-cost-" });
  await Deno.writeTextFile(
    `${dir}/routes.json`,
    JSON.stringify({
      destinations: { q: { kind: "redis-list", key: `${prefix}q` } },
      rules: [{ to: ["q"] }],
    }),
  );
  const task = await taskCommand("serve");
  const flags = task.split(/\s+/).slice(2, -1).map((w, i, all) =>
    all[i - 1] === "--port" ? "0" : w
  );
  const listening: number[] = [];
  const answered: number[] = [];
  for (let run = 0; run < runs; run++) {
    const started = performance.now();
    const child = new Deno.Command(Deno.execPath(), {
      args: ["serve", ...flags, "--config", `${ROOT_PATH}deno.json`, `${ROOT_PATH}src/worker.ts`],
      cwd: dir,
      env: { ...workerEnv(gateway, prefix, "routes.json"), NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let output = "";
    const decoder = new TextDecoder();
    let onOutput = () => {};
    const drained = Promise.all([child.stdout, child.stderr].map(async (stream) => {
      for await (const chunk of stream) {
        output += decoder.decode(chunk, { stream: true });
        onOutput();
      }
    }));
    const url = await new Promise<string>((resolve, reject) => {
      const check = () => {
        const match = /Listening on (http:\/\/[^\s/]+)/.exec(output);
        if (match) resolve(match[1]!);
        else if (/error/i.test(output)) reject(new Error(`deno serve failed:\n${output}`));
      };
      onOutput = check;
      check();
    });
    listening.push(performance.now() - started);
    const response = await fetch(`${url}/callback`, {
      method: "POST",
      body: JSON.stringify({ ...message(`cold-${run}`, run), secret: SECRET }),
    });
    const text = await response.text();
    answered.push(performance.now() - started);
    if (text !== "ok") throw new Error(`cold start: the first callback answered ${text}`);
    child.kill("SIGTERM");
    await child.status;
    await drained;
  }
  await deletePrefix(prefix);
  await Deno.remove(dir, { recursive: true });
  return {
    runs,
    median_ms_to_listening: percentile(listening, 0.5),
    median_ms_to_first_callback: percentile(answered, 0.5),
    min_ms_to_first_callback: Math.min(...answered),
    max_ms_to_first_callback: Math.max(...answered),
  };
}

const rows: Row[] = [];
const events = SMOKE ? 10 : 100;
for (
  const [scenario, hook] of [
    ["one redis-list route", "none"],
    ["redis-list + webhook (up)", "up"],
    ["redis-list + webhook (down: parks, retries when due)", "down"],
  ] as const
) {
  rows.push(await workerScenario(scenario, { events, hook }));
  console.error(`worker: ${scenario}: done`);
}
for (
  const [scenario, events, batch, paceMs] of [
    ["batches of 100", SMOKE ? 200 : 2_000, 100, 0],
    ["one event at a time (every 50 ms)", SMOKE ? 10 : 100, 1, 50],
  ] as const
) {
  rows.push(
    await serviceScenario(scenario, { events, batch, paceMs, idleMs: SMOKE ? 2_000 : 30_000 }),
  );
  console.error(`service: ${scenario}: done`);
}
const cold = await coldStart(SMOKE ? 2 : 9);
const graph = await moduleGraph("src/worker.ts");

const results = {
  generated_at: new Date().toISOString(),
  smoke: SMOKE,
  usd_per_100k_commands: USD_PER_100K_COMMANDS,
  gateway_latency_ms: LATENCY_MS,
  table: rows,
  cold_start: cold,
  module_graph: graph,
};
await Deno.writeTextFile(OUT, JSON.stringify(results, null, 2) + "\n");

const fmt = (n: number | null, digits = 1) => n === null ? "—" : n.toFixed(digits);
const top = (r: Row) =>
  Object.entries(r.commands).slice(0, 6).map(([k, v]) => `${k} ${fmt(v, 2)}`).join(", ");
console.log([
  `| path | scenario | REST requests/event | commands/event | commands | p50 ms | p99 ms | idle commands/h | $/month at 1M events |`,
  `|---|---|---:|---:|---|---:|---:|---:|---:|`,
  ...rows.map((r) =>
    `| ${r.path} | ${r.scenario} | ${fmt(r.requests_per_event, 2)} | ${
      fmt(r.commands_per_event, 2)
    } | ${top(r)} | ${fmt(r.p50_ms)} | ${fmt(r.p99_ms)} | ${fmt(r.idle_commands_per_hour, 0)} | ${
      fmt(r.usd_per_month_at_1m_events, 2)
    } |`
  ),
  "",
  `Cold start (deno serve, ${cold.runs} runs): median ${
    fmt(cold.median_ms_to_listening, 0)
  } ms to listening, ${
    fmt(cold.median_ms_to_first_callback, 0)
  } ms to the first callback answered (min ${fmt(cold.min_ms_to_first_callback, 0)}, max ${
    fmt(cold.max_ms_to_first_callback, 0)
  })`,
  `Module graph of src/worker.ts: ${graph.dependencies} dependencies, ${graph.size}; ${graph.local_modules} local modules (${
    fmt(graph.local_bytes / 1024, 0)
  } KB); npm packages reached: ${graph.npm_packages.join(", ")}`,
  `Price: $${USD_PER_100K_COMMANDS} per 100K commands (Upstash pay-as-you-go). Wrote ${OUT}`,
].join("\n"));
