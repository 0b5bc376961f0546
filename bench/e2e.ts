// deno-lint-ignore-file no-console -- the benchmark prints its table
/**
 * End-to-end benchmark: floor, router and naive against the same fake VK (real HTTP on
 * 127.0.0.1, 20 ms API latency) and the same real Redis. Each contender is its own
 * process. A consumer in this process takes events off the list with BLMPOP and measures,
 * per event, the time from the poll answer that carried it to its arrival in the list
 * ("added latency"). Floor and router run in interleaved rounds (floor, router, router,
 * floor, ...): a busy machine slows both of a pair alike, so the ratio of a round is what
 * counts, and the median over the rounds is reported.
 *
 * Usage: deno run -A bench/e2e.ts [--smoke] [--out DIR] [--rounds N] [--batches 100,10,1]
 *   [--contenders floor,router,naive] [--baseline TREE]
 * `--baseline TREE` adds the router of another checkout (its own `start` flags) as the
 * contender `baseline`, interleaved with the others: a before/after in one process.
 * Writes DIR/results.json, DIR/results.md and DIR/throughput.svg after a run of every
 * contender at every batch size (`--out bench` refreshes the committed ones).
 * @module
 */
import { parseArgs } from "node:util";
import { RespConnection, RespError } from "../src/redis/resp_connection.ts";
import { startFakeVk } from "../tests/support/fake_vk.ts";
import { CHATS, directory, GROUP_ID, USERS, workload } from "./workload.ts";
import { benchPrefix, benchRedisUrl } from "./bench_env.ts";

const ROOT_PATH = decodeURIComponent(new URL("../", import.meta.url).pathname);
const API_LATENCY_MS = Number(Deno.env.get("BENCH_API_LATENCY_MS") ?? 20);
const TOKEN = "bench-token";
/** How long a started contender sits idle before its idle RSS is read. */
const IDLE_SETTLE_MS = 2_000;

/** `baseline` is the router of another checkout (`--baseline`). */
export type Contender = "floor" | "router" | "naive" | "baseline";
const CONTENDERS: readonly Contender[] = ["floor", "router", "naive", "baseline"];
const BATCHES = [100, 10, 1] as const;

/** Events per run: the full 100,000 where it fits in minutes, fewer where a run would take hours (rates are comparable). */
export function eventsFor(contender: Contender, batch: number, smoke: boolean): number {
  const naive = contender === "naive";
  if (smoke) return naive ? (batch === 1 ? 30 : 50) : ({ 100: 2_000, 10: 500, 1: 100 })[batch]!;
  if (naive) return batch === 1 ? 300 : 500;
  return ({ 100: 100_000, 10: 20_000, 1: 3_000 })[batch] ?? 20_000;
}

/** What one run of one contender measured. */
export interface Row {
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
  /** `VmRSS` after start, polling an empty stream for {@linkcode IDLE_SETTLE_MS}. */
  idle_rss_mb: number;
  peak_rss_mb: number;
}

/** Ways into a router's run, for the profiler (`bench/profile.ts`). */
export interface RunHooks {
  /** More `deno run` flags for the router process, before its entry point. */
  flags?: string[];
  /** The process was spawned (and may be waiting for a debugger). */
  spawned?: (child: Deno.ChildProcess) => Promise<void>;
  /** The idle RSS was read; the events are about to be served. */
  loading?: () => Promise<void>;
  /** Every measured event arrived; the process still runs. */
  loaded?: () => Promise<void>;
}

/** Options of {@linkcode run}. */
export interface RunOptions {
  redisUrl: string;
  /** The checkout whose router runs as `baseline`. */
  baseline?: string;
  hooks?: RunHooks;
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

/** `VmHWM` (peak) or `VmRSS` (now) of a process, in MB. */
async function rssMb(pid: number, field: "VmHWM" | "VmRSS"): Promise<number> {
  try {
    const status = await Deno.readTextFile(`/proc/${pid}/status`);
    return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) / 1024;
  } catch {
    return NaN;
  }
}

/** The `deno run` arguments of a checkout's router, with its own `start` task's flags. */
async function routerArgs(tree: string, dir: string, flags: readonly string[]): Promise<string[]> {
  const support = new URL("tests/support/service_process.ts", `file://${tree}/`);
  const { startTaskFlags } = await import(support.href) as {
    startTaskFlags(env: Record<string, string>, cwd: string): Promise<string[]>;
  };
  return [
    "run",
    ...await startTaskFlags({ ROUTES_FILE: "routes.json" }, dir),
    ...flags,
    "--config",
    `${tree}/deno.json`,
    `${tree}/src/main.ts`,
  ];
}

/** One run of one contender: `count` measured events served `batch` per poll answer. */
export async function run(
  contender: Contender,
  batch: number,
  count: number,
  options: RunOptions,
): Promise<Row> {
  const { redisUrl, hooks = {} } = options;
  const isRouter = contender === "router" || contender === "baseline";
  const tag = benchPrefix("e2e");
  const list = `${tag}events`;
  // The router first sees one message from every user in every chat, so that the measured
  // events meet a warm cache, as they would in a service that has been running for a while.
  const warmup = isRouter ? warmupEvents() : [];
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

  const dir = await Deno.makeTempDir({ prefix: "vk-router-bench-" });
  const control = new RespConnection({ url: redisUrl, connectTimeoutMs: 5000 });
  let child: Deno.ChildProcess;
  if (isRouter) {
    const tree = contender === "baseline" ? options.baseline! : ROOT_PATH.replace(/\/$/, "");
    await Deno.writeTextFile(
      `${dir}/routes.json`,
      JSON.stringify({
        destinations: { all: { kind: "redis-list", key: list } },
        rules: [{ to: ["all"] }],
      }),
    );
    await control.send([["SET", `${tag}router:checkpoint:${GROUP_ID}`, "0"]]);
    child = new Deno.Command(Deno.execPath(), {
      args: await routerArgs(tree, dir, hooks.flags ?? []),
      cwd: dir,
      env: {
        VK_TOKEN: TOKEN,
        VK_GROUP_ID: String(GROUP_ID),
        VK_API_URL: vk.apiUrl,
        VK_LONGPOLL_WAIT: "1",
        ROUTES_FILE: "routes.json",
        REDIS_URL: redisUrl,
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
        `${ROOT_PATH}bench/contenders.ts`,
        contender,
      ],
      env: {
        VK_API_URL: vk.apiUrl,
        VK_TOKEN: TOKEN,
        VK_GROUP_ID: String(GROUP_ID),
        REDIS_URL: redisUrl,
        LIST: list,
        COUNT: String(count),
      },
      stdout: "null",
      stderr: "inherit",
    }).spawn();
  }
  await hooks.spawned?.(child);
  // Idle: started, polling an empty stream.
  for (let i = 0; vk.pollRequests.length === 0; i++) {
    if (i > 3000) throw new Error(`${contender} did not poll within a minute`);
    await new Promise((r) => setTimeout(r, 20));
  }
  await new Promise((r) => setTimeout(r, IDLE_SETTLE_MS));
  const idleRss = await rssMb(child.pid, "VmRSS");
  await hooks.loading?.();
  vk.push(events, GROUP_ID);

  const consumer = new RespConnection({ url: redisUrl, connectTimeoutMs: 5000 });
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
  await hooks.loaded?.();
  const rss = await rssMb(child.pid, "VmHWM");
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
    idle_rss_mb: idleRss,
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

const median = (xs: readonly number[]): number => {
  const sorted = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** Field by field, the median of a contender's rounds at one batch size. */
function medianRow(runs: readonly Row[]): Row {
  const first = runs[0]!;
  const row = { ...first };
  for (const key of Object.keys(first) as (keyof Row)[]) {
    if (key === "contender" || key === "batch" || key === "events") continue;
    (row[key] as number) = median(runs.map((r) => r[key] as number));
  }
  if (runs.length > 1) {
    row.max_api_calls_per_s = Math.max(...runs.map((r) => r.max_api_calls_per_s));
  }
  return row;
}

if (import.meta.main) await main();

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      smoke: { type: "boolean", default: false },
      out: { type: "string" },
      rounds: { type: "string" },
      batches: { type: "string" },
      contenders: { type: "string" },
      baseline: { type: "string" },
    },
  });
  const smoke = values.smoke;
  const rounds = Number(values.rounds ?? (smoke ? 1 : 3));
  const batches = values.batches ? values.batches.split(",").map(Number) : [...BATCHES];
  const contenders = (values.contenders?.split(",") ??
    ["floor", "router", "naive", ...(values.baseline ? ["baseline"] : [])]) as Contender[];
  for (const c of contenders) {
    if (!CONTENDERS.includes(c)) throw new Error(`Unknown contender ${c}`);
  }
  if (contenders.includes("baseline") && !values.baseline) {
    throw new Error("The baseline contender needs --baseline TREE");
  }
  const baseline = values.baseline?.replace(/\/$/, "");
  const complete = batches.length === BATCHES.length &&
    ["floor", "router", "naive"].every((c) => contenders.includes(c as Contender));
  // Results only where asked, and only of a complete run: `--out bench` refreshes the
  // committed ones, a deliberate step.
  const out = values.out !== undefined && complete ? values.out : null;
  const redisUrl = benchRedisUrl();

  const runs: Row[] = [];
  /** Per batch size, each round's ratio of every contender to the floor of the same round. */
  const ratios = new Map<string, number[]>();
  for (const batch of batches) {
    for (let round = 0; round < rounds; round++) {
      // The naive contender is the same whatever the load: once is enough.
      const paired = contenders.filter((c) => c !== "naive");
      const order = round % 2 === 0 ? paired : [...paired].reverse();
      const these = new Map<Contender, Row>();
      for (
        const contender of [
          ...order,
          ...(round === 0 && contenders.includes("naive") ? ["naive" as const] : []),
        ]
      ) {
        const row = await run(contender, batch, eventsFor(contender, batch, smoke), {
          redisUrl,
          ...(baseline ? { baseline } : {}),
        });
        runs.push(row);
        these.set(contender, row);
        console.error(
          `round ${round + 1}/${rounds} ${contender.padEnd(8)} batch ${
            String(batch).padStart(3)
          }: ${row.events_per_s.toFixed(0)} events/s, p99 ${
            row.p99_added_latency_ms.toFixed(1)
          } ms (warm ${row.p99_warm_added_latency_ms.toFixed(1)}), RSS idle ${
            row.idle_rss_mb.toFixed(0)
          } / peak ${row.peak_rss_mb.toFixed(0)} MB`,
        );
      }
      const floor = these.get("floor");
      for (const [c, row] of these) {
        if (c === "floor" || !floor) continue;
        const key = `${c}/floor@${batch}`;
        ratios.set(key, [...(ratios.get(key) ?? []), row.events_per_s / floor.events_per_s]);
      }
      const router = these.get("router"), before = these.get("baseline");
      if (router && before) {
        const key = `router/baseline@${batch}`;
        ratios.set(key, [...(ratios.get(key) ?? []), router.events_per_s / before.events_per_s]);
      }
    }
  }

  const rows = batches.flatMap((b) =>
    contenders.flatMap((c) => {
      const these = runs.filter((r) => r.contender === c && r.batch === b);
      return these.length > 0 ? [medianRow(these)] : [];
    })
  );
  const at = (c: Contender, b: number) => rows.find((r) => r.contender === c && r.batch === b);
  const ratio = (key: string) => median(ratios.get(key) ?? []);
  const router100 = at("router", 100);
  const results = {
    generated_at: new Date().toISOString(),
    smoke,
    rounds,
    api_latency_ms: API_LATENCY_MS,
    router_vs_floor: ratio("router/floor@100"),
    router_vs_floor_by_batch: Object.fromEntries(
      batches.map((b) => [b, ratio(`router/floor@${b}`)]),
    ),
    router_vs_naive: (router100?.events_per_s ?? NaN) / (at("naive", 100)?.events_per_s ?? NaN),
    api_calls_per_event: router100?.api_calls_per_event_warm ?? NaN,
    api_calls_per_event_with_warmup: router100?.api_calls_per_event ?? NaN,
    max_api_calls_per_s: router100?.max_api_calls_per_s ?? NaN,
    p99_added_latency_ms: router100?.p99_warm_added_latency_ms ?? NaN,
    peak_rss_mb: router100?.peak_rss_mb ?? NaN,
    idle_rss_mb: router100?.idle_rss_mb ?? NaN,
    ratios: Object.fromEntries(ratios),
    table: rows,
    runs,
  };

  const fmt = (n: number, digits = 1) => Number.isFinite(n) ? n.toFixed(digits) : "—";
  const table = [
    "| contender | batch | events | events/s | p50 added ms | p99 added ms | p99 last 80 % ms | VK calls/event (all) | VK calls/event (measured) | max VK calls/s | idle RSS MB | peak RSS MB |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...rows.map((r) =>
      `| ${r.contender} | ${r.batch} | ${r.events} | ${fmt(r.events_per_s, 0)} | ${
        fmt(r.p50_added_latency_ms)
      } | ${fmt(r.p99_added_latency_ms)} | ${fmt(r.p99_warm_added_latency_ms)} | ${
        fmt(r.api_calls_per_event, 4)
      } | ${fmt(r.api_calls_per_event_warm, 4)} | ${r.max_api_calls_per_s} | ${
        fmt(r.idle_rss_mb, 0)
      } | ${fmt(r.peak_rss_mb, 0)} |`
    ),
  ].join("\n");
  const byBatch = batches.map((b) =>
    `${fmt(ratio(`router/floor@${b}`), 2)} at batch ${b} (target ≥ ${b === 100 ? "0.8" : "0.9"})`
  ).join(", ");
  const summary = [
    `router / floor throughput (median of ${rounds} interleaved rounds): **${byBatch}**`,
    ...(contenders.includes("baseline")
      ? [
        `router / baseline throughput: ${
          batches.map((b) => `${fmt(ratio(`router/baseline@${b}`), 2)} at batch ${b}`).join(", ")
        }`,
      ]
      : []),
    `router / naive throughput at batch 100, ${API_LATENCY_MS} ms API latency: **${
      fmt(results.router_vs_naive, 0)
    }×** (target ≥ 20×)`,
    `VK API calls per event: **${
      fmt(results.api_calls_per_event, 4)
    }** (target ≤ 0.05), at most **${results.max_api_calls_per_s}** calls in any second (limit 20)`,
    `p99 added latency with a warm cache at batch 100: **${
      fmt(results.p99_added_latency_ms)
    } ms** (target < 5 ms)`,
    `router RSS: idle **${fmt(results.idle_rss_mb, 0)} MB** (target ≤ 55 MB), peak **${
      fmt(results.peak_rss_mb, 0)
    } MB** at batch 100 (target ≤ 100 MB)`,
  ].map((l) => `- ${l}`).join("\n");

  console.log(`\n${table}\n\n${summary}`);
  if (out === null) return;
  await Deno.mkdir(out, { recursive: true });
  await Deno.writeTextFile(`${out}/results.json`, JSON.stringify(results, null, 2) + "\n");
  await Deno.writeTextFile(`${out}/results.md`, `${summary}\n\n${table}\n`);
  await Deno.writeTextFile(`${out}/throughput.svg`, chart(rows, batches));
  console.log(`\nWrote ${out}/results.json, results.md, throughput.svg`);
}

/** A grouped bar chart of events/s (log scale) per batch size and contender. */
function chart(rows: Row[], batches: readonly number[]): string {
  const colors: Record<Contender, string> = {
    floor: "#8a94a6",
    router: "#2f6fde",
    naive: "#d9822b",
    baseline: "#9b59b6",
  };
  const shown = CONTENDERS.filter((c) => rows.some((r) => r.contender === c));
  const w = 640, h = 320, left = 70, bottom = 40, top = 40;
  const max = Math.max(...rows.map((r) => r.events_per_s));
  const y = (v: number) =>
    top + (h - top - bottom) * (1 - Math.log10(Math.max(v, 1)) / Math.log10(max * 1.2));
  const group = (w - left - 20) / batches.length;
  const bar = group / (shown.length + 1);
  const parts: string[] = [];
  batches.forEach((b, g) => {
    shown.forEach((c, i) => {
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
  const legend = shown.map((c, i) =>
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
