// deno-lint-ignore-file no-console -- a benchmark reports to the person who runs it
/**
 * The fleet bench: C communities on one token over R = 3 replicas of the real service
 * (`deno run` with the start task's flags, LEASE_TTL_S=3), against the fake VK on
 * 127.0.0.1 and a private redis-server it starts. Per C it measures:
 *
 * - **fair**: from the spawn of the replicas to a fair spread (every community held,
 *   max - min <= 2), and from the moment the last of them joined;
 * - **idle Redis**: commands the replicas send while nothing happens (MONITOR: what
 *   Upstash bills; commands run inside scripts do not count), per replica and per community;
 * - **VK at start**: API calls until every community polls, by method;
 * - **feed**: 100 events/s from 5 users to random communities (nine in ten in a private
 *   dialog, one in the community's group chat, whose title is per community), first until each
 *   community's chats were looked up (at most a minute: the warm-up), then 20 s measured:
 *   the share of measured events with `user_name`, and the added latency (from the fake
 *   VK's poll answer to a consumer's `BLMPOP` of the event) p50 / p99;
 * - **RSS**: each replica's `VmRSS` after the feed, and per held community;
 * - **takeover**: one replica SIGKILLed: time until each of its communities is polled again,
 *   until the spread is fair again, and the VK calls that cost;
 * - **max VK calls in any second**, over the whole run (the limit is 20 per token).
 *
 * Usage: `deno run -A bench/fleet.ts [--smoke] [--out DIR] [C,...]` (default 50,200,500;
 * `--smoke`: 10); writes `DIR/fleet.json` and `DIR/fleet.svg` when run with the default sizes
 * (`--out bench` refreshes the committed ones).
 * @module
 */
import { startFakeVk } from "../tests/support/fake_vk.ts";
import { startRedisServer } from "../tests/support/redis_server.ts";
import { parseArgs } from "node:util";

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: { smoke: { type: "boolean", default: false }, out: { type: "string" } },
});
const SIZES = positionals[0]?.split(",").map(Number) ?? (values.smoke ? [10] : [50, 200, 500]);
const R = 3;
const TTL_S = 3;
const IDLE_MS = 10_000;
const FEED_PER_S = 100;

await using server = await startRedisServer({ durable: false });
Deno.env.set("TEST_REDIS_URL", server.url);
// These read TEST_REDIS_URL when loaded.
const { setupCluster } = await import("../tests/support/cluster.ts");
const { testRedis } = await import("../tests/support/redis.ts");
const { redisCommands } = await import("../tests/support/redis_commands.ts");
const { monitorRedis } = await import("../tests/support/redis_monitor.ts");
const { instanceOf } = await import("../src/lease/lease.ts");
const { redisKeys } = await import("../src/redis/keys.ts");
const { RespConnection, RespError } = await import("../src/redis/resp_connection.ts");

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `condition` every 100 ms; the time it took, or null after `timeoutMs`. */
async function within(condition: () => Promise<boolean> | boolean, timeoutMs: number) {
  const from = Date.now();
  while (!(await condition())) {
    if (Date.now() - from > timeoutMs) return null;
    await pause(100);
  }
  return Date.now() - from;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted.length === 0
    ? NaN
    : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

async function rssKb(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`).catch(() => "");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
}

/** One row of the table. */
interface Row {
  C: number;
  fair_after_spawn_ms: number | null;
  fair_after_join_ms: number | null;
  idle_redis_per_replica_s: number;
  idle_redis_per_community_s: number;
  vk_at_start: Record<string, number>;
  names_present: number;
  latency_p50_ms: number;
  latency_p99_ms: number;
  rss_mb: number[];
  held: number[];
  takeover_polling_again_ms: number | null;
  takeover_fair_ms: number | null;
  takeover_vk_calls: number;
  takeover_vk_methods: Record<string, number>;
  max_vk_calls_in_a_second: number;
  busiest_second_methods: Record<string, number>;
}

async function run(C: number): Promise<Row> {
  const groups = Array.from({ length: C }, (_, i) => 100_000 + i);
  await using redis = testRedis();
  using raw = redisCommands();
  const servedAt = new Map<string, number>();
  const history = new Map<number, string[]>();
  await using vk = await startFakeVk({
    tokens: Object.fromEntries(groups.map((g) => [g, "replica-token"])),
    apiLatencyMs: 20,
    onServe(groupId, from, count) {
      const now = Date.now();
      for (const id of history.get(groupId)!.slice(from, from + count)) servedAt.set(id, now);
    },
  });
  for (let id = 1; id <= 5; id++) {
    vk.users.set(id, { id, first_name: `User${id}`, last_name: "Fleet", domain: `user${id}` });
  }
  vk.chats.set(2e9 + 1, "Chat 1");
  await using cluster = await setupCluster(redis, vk, groups, {
    LEASE_TTL_S: String(TTL_S),
    VK_LONGPOLL_WAIT: "25",
    ENRICH_DEADLINE_MS: "1500",
  });
  const prefix = cluster.routerPrefix;
  const owners = async () =>
    ((await raw.send("MGET", ...groups.map((g) => redisKeys(prefix).lease(g)))) as (
      | string
      | null
    )[])
      .map((o) => o === null ? null : instanceOf(o));
  const fair = async (ids: string[]) => {
    const now = await owners();
    const counts = ids.map((id) => now.filter((o) => o === id).length);
    return now.every((o) => o !== null && ids.includes(o)) &&
      Math.max(...counts) - Math.min(...counts) <= 2;
  };
  let ids = ["replica-1", "replica-2", "replica-3"];

  // Cold start.
  const spawnedAt = Date.now();
  for (const id of ids) await cluster.start(id);
  const fairAfterSpawn = await within(() => fair(ids), 180_000);
  const joined = (await raw.send("HVALS", redisKeys(prefix).instancesJoined) as string[])
    .map(Number);
  const redisNow = Number((await raw.send("TIME") as string[])[0]) * 1000;
  const fairAt = spawnedAt + (fairAfterSpawn ?? NaN);
  // The last join, on this clock: Redis's time of it, moved by how long ago that was.
  const lastJoin = Date.now() - (redisNow - Math.max(...joined));
  await within(() => groups.every((g) => vk.pollRequests.some((p) => p.groupId === g)), 180_000);
  // The settings checks come last in the limiter's queue; the start is over when they are.
  await within(() => (vk.calls.get("groups.getLongPollSettings") ?? 0) >= C, 180_000);
  await pause(2000);
  const vkAtStart = Object.fromEntries(
    [...vk.calls].filter(([m]) => m !== "a_check"),
  );

  // Idle.
  await pause(TTL_S * 1000);
  const sent = await monitorRedis(server.url, IDLE_MS);
  const idlePerS = sent.length / (IDLE_MS / 1000);

  // Feed: warm-up, then measured.
  const list = cluster.list;
  const consumer = new RespConnection({ url: server.url, connectTimeoutMs: 5000 });
  const arrivals: { id: string; at: number; named: boolean }[] = [];
  let feeding = true;
  const consuming = (async () => {
    while (feeding || arrivals.length < servedAt.size) {
      const [reply] = await consumer.send([["BLMPOP", "1", "1", list, "RIGHT", "COUNT", "1000"]]);
      if (reply === null || reply instanceof RespError) {
        if (!feeding) break;
        continue;
      }
      const now = Date.now();
      for (const item of (reply as [string, string[]])[1]) {
        const event = JSON.parse(item);
        arrivals.push({
          id: event.event_id,
          at: now,
          named: event.user_name !== null && event.user_name !== undefined,
        });
      }
    }
  })();
  let n = 0;
  const feed = async (ms: number, tag: string) => {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      for (let i = 0; i < FEED_PER_S / 50; i++, n++) {
        const g = groups[Math.floor(Math.random() * C)]!;
        const id = `${tag}${n}`;
        const user = 1 + (n % 5);
        const h = history.get(g) ?? [];
        history.set(g, h);
        h.push(id);
        vk.push([{
          type: "message_new",
          event_id: id,
          group_id: g,
          object: {
            message: {
              from_id: user,
              // Nine in ten in a private dialog, one in the community's group chat.
              peer_id: n % 10 === 0 ? 2e9 + 1 : user,
              text: `hello ${n}`,
              conversation_message_id: n,
            },
          },
        }], g);
      }
      await pause(20);
    }
  };
  // The fake counts the history per community from the checkpoint ("0"): one slot per event.
  // Warm-up: until every community's chats were looked up once (at most a minute).
  const warmUntil = Date.now() + 60_000;
  while (
    Date.now() < warmUntil && (vk.calls.get("messages.getConversationsById") ?? 0) < C
  ) await feed(1000, "w");
  await feed(20_000, "m");
  feeding = false;
  await within(() => arrivals.length >= servedAt.size, 60_000);
  await consuming;
  consumer.close();
  const measured = arrivals.filter((a) => a.id.startsWith("m") && servedAt.has(a.id));
  const latencies = measured.map((a) => a.at - servedAt.get(a.id)!).sort((a, b) => a - b);
  const rss = await Promise.all(ids.map((id) => rssKb(cluster.replicas.get(id)!.child.pid)));
  const now = await owners();
  const held = ids.map((id) => now.filter((o) => o === id).length);

  // Takeover after a crash.
  const victim = cluster.replicas.get("replica-1")!;
  const victimHeld = groups.filter((_, i) => now[i] === "replica-1");
  const callsBefore = vk.apiCallTimes.length;
  const killedAt = Date.now();
  victim.child.kill("SIGKILL");
  await victim.exited;
  const deadAt = Date.now();
  cluster.replicas.delete("replica-1");
  ids = ids.filter((id) => id !== "replica-1");
  const [polled, takeoverFair] = await Promise.all([
    within(
      () =>
        victimHeld.every((g) =>
          vk.pollRequests.some((p) => p.groupId === g && p.startedAt >= deadAt)
        ),
      60_000,
    ),
    within(() => fair(ids), 60_000),
  ]);
  const pollingAgain = polled === null ? null : Math.max(
    ...victimHeld.map((g) =>
      vk.pollRequests.find((p) => p.groupId === g && p.startedAt >= deadAt)!.startedAt
    ),
  ) - killedAt;
  await pause(2000);
  const takeoverCalls = vk.apiCallTimes.length - callsBefore;
  const byMethod = (methods: readonly string[]) => {
    const out: Record<string, number> = {};
    for (const m of methods) out[m] = (out[m] ?? 0) + 1;
    return out;
  };
  const takeoverMethods = byMethod(vk.apiCallMethods.slice(callsBefore));

  const times = [...vk.apiCallTimes].sort((a, b) => a - b);
  let busiest = 0;
  let busiestAt = 0;
  for (let i = 0, j = 0; i < times.length; i++) {
    while (j < times.length && times[j]! < times[i]! + 1000) j++;
    if (j - i > busiest) [busiest, busiestAt] = [j - i, times[i]!];
  }
  const busiestMethods = byMethod(
    vk.apiCallMethods.filter((_, i) =>
      vk.apiCallTimes[i]! >= busiestAt && vk.apiCallTimes[i]! < busiestAt + 1000
    ),
  );
  for (const [id, replica] of [["replica-1", victim] as const, ...cluster.replicas]) {
    const fallbacks = replica.output().match(/Cannot reserve a VK request in Redis[^"]*/g) ?? [];
    if (fallbacks.length > 0) console.log(`${id}: ${fallbacks.length} x ${fallbacks[0]}`);
    await replica.stop();
  }
  return {
    C,
    fair_after_spawn_ms: fairAfterSpawn,
    fair_after_join_ms: fairAfterSpawn === null ? null : Math.max(0, fairAt - lastJoin),
    idle_redis_per_replica_s: idlePerS / R,
    idle_redis_per_community_s: idlePerS / C,
    vk_at_start: vkAtStart,
    names_present: measured.filter((a) => a.named).length / measured.length,
    latency_p50_ms: percentile(latencies, 0.5),
    latency_p99_ms: percentile(latencies, 0.99),
    rss_mb: rss.map((kb) => Math.round(kb / 102.4) / 10),
    held,
    takeover_polling_again_ms: pollingAgain,
    takeover_fair_ms: takeoverFair === null ? null : takeoverFair + deadAt - killedAt,
    takeover_vk_calls: takeoverCalls,
    takeover_vk_methods: takeoverMethods,
    max_vk_calls_in_a_second: busiest,
    busiest_second_methods: busiestMethods,
  };
}

const rows: Row[] = [];
for (const C of SIZES) {
  console.log(`C = ${C} over ${R} replicas ...`);
  const row = await run(C);
  console.log(JSON.stringify(row));
  rows.push(row);
}

const s = (ms: number | null) => ms === null ? "—" : `${(ms / 1000).toFixed(1)} s`;
const table = [
  "| C | fair after cold start (after last join) | idle Redis cmds/s per replica / per community | VK calls at start | max VK calls in a second | names after warm-up | added latency p50 / p99 | RSS per replica (held) | takeover: polling again / fair / VK calls |",
  "|---|---|---|---|---|---|---|---|---|",
  ...rows.map((r) =>
    `| ${r.C} | ${s(r.fair_after_spawn_ms)} (${s(r.fair_after_join_ms)}) | ${
      r.idle_redis_per_replica_s.toFixed(2)
    } / ${r.idle_redis_per_community_s.toFixed(4)} | ${
      Object.entries(r.vk_at_start).map(([m, k]) => `${k} ${m}`).join(", ")
    } | ${r.max_vk_calls_in_a_second} | ${(100 * r.names_present).toFixed(1)} % | ${
      Math.round(r.latency_p50_ms)
    } / ${Math.round(r.latency_p99_ms)} ms | ${
      r.rss_mb.map((mb, i) => `${mb} MB (${r.held[i]})`).join(", ")
    } | ${s(r.takeover_polling_again_ms)} / ${s(r.takeover_fair_ms)} / ${r.takeover_vk_calls} |`
  ),
].join("\n");
console.log(`\n${table}`);
if (rows.length >= 2) {
  const [a, b] = [rows[0]!, rows.at(-1)!];
  const mean = (xs: number[]) => xs.reduce((x, y) => x + y, 0) / xs.length;
  const perHeld = (mean(b.rss_mb) - mean(a.rss_mb)) * 1024 / ((b.C - a.C) / R);
  console.log(`RSS per held community (slope from C=${a.C} to C=${b.C}): ${perHeld.toFixed(0)} KB`);
}
if (values.out && positionals.length === 0 && !values.smoke) {
  const json = `${values.out}/fleet.json`, svg = `${values.out}/fleet.svg`;
  await Deno.writeTextFile(json, JSON.stringify(rows, null, 2) + "\n");
  await Deno.writeTextFile(svg, chart(rows));
  // In the repository's format, so that `deno fmt --check` stays clean after a run.
  await new Deno.Command(Deno.execPath(), { args: ["fmt", "-q", json, svg] }).output();
}

/**
 * Idle Redis commands per second per replica against C, on a log scale: before (the issue's
 * measurement, 3.6 per community over R replicas) and after (this run).
 */
function chart(rows: readonly Row[]): string {
  const [w, h, left, bottom] = [420, 220, 50, 30];
  const xs = rows.map((r) => r.C);
  const before = rows.map((r) => 3.6 * r.C / R);
  const after = rows.map((r) => r.idle_redis_per_replica_s);
  const [lo, hi] = [Math.log10(0.1), Math.log10(1000)];
  const x = (c: number) => left + (w - left - 20) * (c - xs[0]!) / (xs.at(-1)! - xs[0]! || 1);
  const y = (v: number) =>
    h - bottom - (h - bottom - 20) * (Math.log10(Math.max(v, 0.1)) - lo) / (hi - lo);
  const line = (vs: number[], color: string, label: string) =>
    `<polyline fill="none" stroke="${color}" stroke-width="2" points="${
      vs.map((v, i) => `${x(xs[i]!).toFixed(1)},${y(v).toFixed(1)}`).join(" ")
    }"/>` +
    vs.map((v, i) =>
      `<circle cx="${x(xs[i]!).toFixed(1)}" cy="${y(v).toFixed(1)}" r="3" fill="${color}"/>`
    ).join("") +
    `<text x="${x(xs.at(-1)!) - 4}" y="${
      y(vs.at(-1)!) - 8
    }" text-anchor="end" fill="${color}">${label}</text>`;
  const grid = [0.1, 1, 10, 100, 1000].map((v) =>
    `<line x1="${left}" x2="${w - 20}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>` +
    `<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${v}</text>`
  ).join("");
  const ticks = xs.map((c) =>
    `<text x="${x(c)}" y="${h - bottom + 16}" text-anchor="middle">C = ${c}</text>`
  ).join("");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif" font-size="11">
<rect width="${w}" height="${h}" fill="#fff"/>
<text x="${left}" y="12">Idle Redis commands/s per replica (R = ${R}, LEASE_TTL_S=${TTL_S}, log scale)</text>
${grid}${ticks}${line(before, "#c0392b", "before")}${line(after, "#2471a3", "after")}
</svg>
`;
}
