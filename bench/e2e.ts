// deno-lint-ignore-file no-console -- the benchmark prints its table
/**
 * End-to-end benchmark: floor, router and naive, one after another in one run, against
 * the same fake VK (real HTTP on 127.0.0.1, 20 ms API latency) and the same real Redis.
 * Each contender is its own process. A consumer in this process takes events off the
 * list with BLMPOP and measures, per event, the time from the poll answer that carried it
 * to its arrival in the list ("added latency").
 *
 * Usage: deno run -A bench/e2e.ts [--smoke] [--out DIR]
 * Writes DIR/results.json, DIR/results.md and DIR/throughput.svg (`--out bench` refreshes
 * the committed ones).
 * @module
 */
import { parseArgs } from "node:util";
import { RespConnection, RespError } from "../src/redis/resp_connection.ts";
import { startFakeVk } from "../tests/support/fake_vk.ts";
import { startTaskFlags } from "../tests/support/service_process.ts";
import { CHATS, directory, GROUP_ID, USERS, workload } from "./workload.ts";
import { benchPrefix, benchRedisUrl, requireOut } from "./bench_env.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { smoke: { type: "boolean", default: false }, out: { type: "string" } },
});
const ROOT = new URL("../", import.meta.url);
const OUT = requireOut(values.out);
const REDIS_URL = benchRedisUrl();
const API_LATENCY_MS = Number(Deno.env.get("BENCH_API_LATENCY_MS") ?? 20);
const TOKEN = "bench-token";

type Contender = "floor" | "router" | "naive";
const BATCHES = [100, 10, 1] as const;
/** Events per run: the full 100,000 where it fits in minutes, fewer where a run would take hours (rates are comparable). */
const EVENTS: Record<Contender, Record<number, number>> = values.smoke
  ? {
    floor: { 100: 2_000, 10: 500, 1: 100 },
    router: { 100: 2_000, 10: 500, 1: 100 },
    naive: { 100: 50, 10: 50, 1: 30 },
  }
  : {
    floor: { 100: 100_000, 10: 20_000, 1: 3_000 },
    router: { 100: 100_000, 10: 20_000, 1: 3_000 },
    naive: { 100: 500, 10: 500, 1: 300 },
  };

interface Row {
  contender: Contender;
  batch: number;
  events: number;
  events_per_s: number;
  p50_added_latency_ms: number;
  p99_added_latency_ms: number;
  p99_warm_added_latency_ms: number;
  api_calls_per_event: number;
  api_calls_per_event_warm: number;
  max_api_calls_per_s: number;
  peak_rss_mb: number;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

function maxPerSecond(times: number[]): number {
  let max = 0;
  for (let i = 0, j = 0; i < times.length; i++) {
    while (times[i]! - times[j]! >= 1000) j++;
    max = Math.max(max, i - j + 1);
  }
  return max;
}

async function peakRssMb(pid: number): Promise<number> {
  try {
    const status = await Deno.readTextFile(`/proc/${pid}/status`);
    return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
  } catch {
    return NaN;
  }
}

async function run(contender: Contender, batch: number, count: number): Promise<Row> {
  const tag = benchPrefix("e2e");
  const list = `${tag}events`;
  // The router first sees one message from every user in every chat, so that the measured
  // events meet a warm cache, as they would in a service that has been running for a while.
  const warmup = contender === "router" ? warmupEvents() : [];
  const events = [...warmup, ...workload(count)];
  const offset = warmup.length;
  const servedAt = new Float64Array(events.length);
  let firstServe = 0;
  const vk = await startFakeVk({
    tokens: { [GROUP_ID]: TOKEN },
    apiLatencyMs: API_LATENCY_MS,
    maxBatch: batch,
    onServe: (_g, from, n) => {
      const now = performance.now();
      if (firstServe === 0 && from + n > offset) firstServe = now;
      servedAt.fill(now, from, from + n);
    },
  });
  const { users, chats } = directory();
  for (const u of users) vk.users.set(u.id, u);
  for (const [id, title] of chats) vk.chats.set(id, title);
  vk.push(events, GROUP_ID);

  const dir = await Deno.makeTempDir({ prefix: "vk-router-bench-" });
  const control = new RespConnection({ url: REDIS_URL, connectTimeoutMs: 5000 });
  let child: Deno.ChildProcess;
  if (contender === "router") {
    await Deno.writeTextFile(
      `${dir}/routes.json`,
      JSON.stringify({
        destinations: { all: { kind: "redis-list", key: list } },
        rules: [{ to: ["all"] }],
      }),
    );
    await control.send([["SET", `${tag}router:checkpoint:${GROUP_ID}`, "0"]]);
    child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...await startTaskFlags({ ROUTES_FILE: "routes.json" }, dir),
        "--config",
        decodeURIComponent(new URL("deno.json", ROOT).pathname),
        decodeURIComponent(new URL("src/main.ts", ROOT).pathname),
      ],
      cwd: dir,
      env: {
        VK_TOKEN: TOKEN,
        VK_GROUP_ID: String(GROUP_ID),
        VK_API_URL: vk.apiUrl,
        VK_LONGPOLL_WAIT: "1",
        ROUTES_FILE: "routes.json",
        REDIS_URL,
        REDIS_PREFIX: `${tag}router:`,
        LOG_LEVEL: "warning",
        LOG_FORMAT: "json",
        PORT: "0",
        HOST: "127.0.0.1",
      },
      stdout: "null",
      stderr: "inherit",
    }).spawn();
  } else {
    child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net",
        "--allow-env",
        decodeURIComponent(new URL("bench/contenders.ts", ROOT).pathname),
        contender,
      ],
      env: {
        VK_API_URL: vk.apiUrl,
        VK_TOKEN: TOKEN,
        VK_GROUP_ID: String(GROUP_ID),
        REDIS_URL,
        LIST: list,
        COUNT: String(count),
      },
      stdout: "null",
      stderr: "inherit",
    }).spawn();
  }

  const consumer = new RespConnection({ url: REDIS_URL, connectTimeoutMs: 5000 });
  const latencies = new Float64Array(count);
  let received = 0;
  let lastArrival = 0;
  const deadline = Date.now() + 240_000;
  while (received < count) {
    if (Date.now() > deadline) {
      throw new Error(
        `${contender} at batch ${batch}: only ${received} of ${count} events after 4 minutes`,
      );
    }
    const [reply] = await consumer.send([["BLMPOP", "1", "1", list, "RIGHT", "COUNT", "1000"]]);
    if (reply === null || reply instanceof RespError) continue;
    const now = performance.now();
    const items = (reply as [string, string[]])[1];
    for (const item of items) {
      const match = /"event_id":"b(\d+)"/.exec(item);
      if (!match) continue; // a warm-up event
      latencies[received++] = now - servedAt[offset + Number(match[1])]!;
    }
    lastArrival = now;
  }
  const rss = await peakRssMb(child.pid);
  try {
    child.kill("SIGTERM");
  } catch { /* already done */ }
  await child.status;
  consumer.close();
  await control.send([[
    "EVAL",
    "for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) end return 1",
    "0",
    `${tag}*`,
  ]]);
  control.close();
  const apiCalls = ["users.get", "groups.getById", "messages.getConversationsById"].reduce(
    (n, m) => n + (vk.calls.get(m) ?? 0),
    0,
  );
  const apiTimes = [...vk.apiCallTimes];
  const measuredFrom = Date.now() - (performance.now() - firstServe);
  const measuredCalls = apiTimes.filter((t) => t >= measuredFrom).length;
  await vk.close();
  await Deno.remove(dir, { recursive: true });

  const sorted = latencies.slice().sort();
  const warm = latencies.slice(Math.floor(count * 0.2)).sort();
  return {
    contender,
    batch,
    events: count,
    events_per_s: count / ((lastArrival - firstServe) / 1000),
    p50_added_latency_ms: percentile(sorted, 0.5),
    p99_added_latency_ms: percentile(sorted, 0.99),
    p99_warm_added_latency_ms: percentile(warm, 0.99),
    api_calls_per_event: apiCalls / (count + offset),
    api_calls_per_event_warm: measuredCalls / count,
    max_api_calls_per_s: maxPerSecond(apiTimes),
    peak_rss_mb: rss,
  };
}

/** One message from each user, spread over the chats: what a running router has seen. */
function warmupEvents(): unknown[] {
  return Array.from({ length: USERS }, (_, i) => ({
    type: "message_new",
    event_id: `w${i}`,
    group_id: GROUP_ID,
    object: {
      message: {
        from_id: i + 1,
        peer_id: 2_000_000_001 + (i % CHATS),
        text: "warm-up",
        conversation_message_id: i,
      },
    },
  }));
}

const rows: Row[] = [];
for (const batch of BATCHES) {
  for (const contender of ["floor", "router", "naive"] as const) {
    const row = await run(contender, batch, EVENTS[contender][batch]!);
    rows.push(row);
    console.error(
      `${contender.padEnd(6)} batch ${String(batch).padStart(3)}: ${
        row.events_per_s.toFixed(0)
      } events/s, p99 ${row.p99_added_latency_ms.toFixed(1)} ms`,
    );
  }
}

const at = (c: Contender, b: number) => rows.find((r) => r.contender === c && r.batch === b)!;
const results = {
  generated_at: new Date().toISOString(),
  smoke: values.smoke,
  api_latency_ms: API_LATENCY_MS,
  router_vs_floor: at("router", 100).events_per_s / at("floor", 100).events_per_s,
  router_vs_naive: at("router", 100).events_per_s / at("naive", 100).events_per_s,
  api_calls_per_event: at("router", 100).api_calls_per_event_warm,
  api_calls_per_event_with_warmup: at("router", 100).api_calls_per_event,
  max_api_calls_per_s: at("router", 100).max_api_calls_per_s,
  p99_added_latency_ms: at("router", 100).p99_warm_added_latency_ms,
  peak_rss_mb: at("router", 100).peak_rss_mb,
  table: rows,
};

const fmt = (n: number, digits = 1) => Number.isFinite(n) ? n.toFixed(digits) : "—";
const table = [
  "| contender | batch | events | events/s | p50 added ms | p99 added ms | p99 last 80 % ms | VK calls/event (all) | VK calls/event (measured) | max VK calls/s | peak RSS MB |",
  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ...rows.map((r) =>
    `| ${r.contender} | ${r.batch} | ${r.events} | ${fmt(r.events_per_s, 0)} | ${
      fmt(r.p50_added_latency_ms)
    } | ${fmt(r.p99_added_latency_ms)} | ${fmt(r.p99_warm_added_latency_ms)} | ${
      fmt(r.api_calls_per_event, 4)
    } | ${fmt(r.api_calls_per_event_warm, 4)} | ${r.max_api_calls_per_s} | ${
      fmt(r.peak_rss_mb, 0)
    } |`
  ),
].join("\n");
const summary = [
  `router / floor throughput at batch 100: **${
    fmt(results.router_vs_floor * 100, 0)
  } %** (target ≥ 50 %)`,
  `router / naive throughput at batch 100, ${API_LATENCY_MS} ms API latency: **${
    fmt(results.router_vs_naive, 0)
  }×** (target ≥ 20×)`,
  `VK API calls per event: **${
    fmt(results.api_calls_per_event, 4)
  }** (target ≤ 0.05), at most **${results.max_api_calls_per_s}** calls in any second (limit 20)`,
  `p99 added latency with a warm cache: **${
    fmt(results.p99_added_latency_ms)
  } ms** (target < 10 ms); router peak RSS **${fmt(results.peak_rss_mb, 0)} MB** (target < 150 MB)`,
].map((l) => `- ${l}`).join("\n");

await Deno.mkdir(OUT, { recursive: true });
await Deno.writeTextFile(`${OUT}/results.json`, JSON.stringify(results, null, 2) + "\n");
await Deno.writeTextFile(`${OUT}/results.md`, `${summary}\n\n${table}\n`);
await Deno.writeTextFile(`${OUT}/throughput.svg`, chart(rows));
console.log(`\n${table}\n\n${summary}\n\nWrote ${OUT}/results.json, results.md, throughput.svg`);

/** A grouped bar chart of events/s (log scale) per batch size and contender. */
function chart(rows: Row[]): string {
  const colors: Record<Contender, string> = {
    floor: "#8a94a6",
    router: "#2f6fde",
    naive: "#d9822b",
  };
  const w = 640, h = 320, left = 70, bottom = 40, top = 40;
  const max = Math.max(...rows.map((r) => r.events_per_s));
  const y = (v: number) =>
    top + (h - top - bottom) * (1 - Math.log10(Math.max(v, 1)) / Math.log10(max * 1.2));
  const group = (w - left - 20) / BATCHES.length;
  const bar = group / 4;
  const parts: string[] = [];
  BATCHES.forEach((b, g) => {
    (["floor", "router", "naive"] as const).forEach((c, i) => {
      const r = rows.find((x) => x.contender === c && x.batch === b);
      if (!r) return;
      const x = left + g * group + (i + 0.5) * bar;
      parts.push(
        `<rect x="${x.toFixed(1)}" y="${y(r.events_per_s).toFixed(1)}" width="${
          (bar - 4).toFixed(1)
        }" height="${(h - bottom - y(r.events_per_s)).toFixed(1)}" fill="${
          colors[c]
        }"><title>${c}, batch ${b}: ${r.events_per_s.toFixed(0)} events/s</title></rect>`,
      );
      parts.push(
        `<text x="${(x + bar / 2 - 2).toFixed(1)}" y="${
          (y(r.events_per_s) - 4).toFixed(1)
        }" font-size="10" text-anchor="middle">${
          r.events_per_s >= 1000
            ? `${(r.events_per_s / 1000).toFixed(1)}k`
            : r.events_per_s.toFixed(0)
        }</text>`,
      );
    });
    parts.push(
      `<text x="${(left + g * group + group / 2).toFixed(1)}" y="${
        h - bottom + 18
      }" font-size="12" text-anchor="middle">batch ${b}</text>`,
    );
  });
  const ticks = [1, 10, 100, 1000, 10000, 100000].filter((t) => t <= max * 1.2).map((t) =>
    `<line x1="${left}" x2="${w - 20}" y1="${y(t).toFixed(1)}" y2="${
      y(t).toFixed(1)
    }" stroke="#e3e6ea"/><text x="${left - 6}" y="${
      (y(t) + 4).toFixed(1)
    }" font-size="10" text-anchor="end">${t}</text>`
  );
  const legend = (["floor", "router", "naive"] as const).map((c, i) =>
    `<rect x="${left + i * 90}" y="12" width="12" height="12" fill="${colors[c]}"/><text x="${
      left + i * 90 + 16
    }" y="22" font-size="12">${c}</text>`
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif">
<rect width="${w}" height="${h}" fill="#fff"/>
${ticks.join("\n")}
${parts.join("\n")}
${legend.join("\n")}
<text x="14" y="${(h / 2).toFixed(0)}" font-size="12" transform="rotate(-90 14 ${
    (h / 2).toFixed(0)
  })" text-anchor="middle">events/s (log scale)</text>
</svg>
`;
}
