// deno-lint-ignore-file no-console -- the benchmark prints its table
/**
 * What the bounded server (`src/http/server.ts`: own accept loop, connection caps, idle
 * timeout, a loopback relay to `Deno.serve`) costs on the callback path, against
 * `Deno.serve` alone (before): the same router (Callback API, Redis state store, one
 * Redis list), served both ways in this process, rounds alternating, `POST /callback`
 * from keep-alive clients. Prints the throughput and p99 ratios (after / before, median of
 * the rounds), and writes them to bench/callback_http.json.
 *
 * The callback path's floor runs in the same rounds: a bare `Deno.serve` that parses the
 * body, checks the secret and pushes the event to a Redis list with one `LPUSH`, nothing
 * else; the router (bounded server) is given as a ratio to it, round by round.
 *
 * Usage: deno run -A bench/callback_http.ts [--smoke] [--out FILE]
 * Starts its own private redis-server (without persistence), so it touches no one's data.
 * @module
 */
import { parseArgs } from "node:util";
import { loadConfig } from "../src/config/config.ts";
import { parseRoutes } from "../src/config/routes.ts";
import { serveBounded } from "../src/http/server.ts";
import { RespConnection } from "../src/redis/resp_connection.ts";
import { buildRouter } from "../src/router.ts";
import { startRedisServer } from "../tests/support/redis_server.ts";
import { requireOut } from "./bench_env.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { smoke: { type: "boolean", default: false }, out: { type: "string" } },
});
const OUT = requireOut(values.out);
const ROUNDS = values.smoke ? 1 : 9;
const REQUESTS = values.smoke ? 200 : 5_000;
const CLIENTS = 8;
const SECRET = "callback-http-bench-secret";
const PREFIX = "bench-callback-http:";

const redis = await startRedisServer({ durable: false });
const dir = await Deno.makeTempDir({ prefix: "vk-router-callback-bench-" });
const router = await buildRouter({
  config: loadConfig({
    VK_GROUP_ID: "42",
    VK_LONGPOLL: "off",
    VK_CALLBACK_CONFIRMATION: "confirm",
    VK_CALLBACK_SECRET: SECRET,
    REDIS_URL: redis.url,
    REDIS_PREFIX: PREFIX,
    DATA_DIR: dir,
  }),
  routes: parseRoutes({
    destinations: { events: { kind: "redis-list", key: `${PREFIX}events` } },
    rules: [{ to: ["events"] }],
  }),
});

let sent = 0;
const body = () =>
  JSON.stringify({
    type: "message_new",
    event_id: `bench-${sent++}`,
    group_id: 42,
    secret: SECRET,
    object: {
      message: { from_id: 7, peer_id: 7, text: `hello ${sent}`, date: 1709107923 },
    },
  });

/** What one round measured. */
interface Round {
  rps: number;
  p99: number;
}

/**
 * One round: `REQUESTS` callbacks (or, with `bare`, `GET /healthz`: the relay's own cost,
 * with no work behind it) from `CLIENTS` keep-alive clients; req/s and p99 ms.
 */
async function round(url: string, bare = false): Promise<Round> {
  const latencies: number[] = [];
  let left = REQUESTS;
  const clients = Array.from({ length: CLIENTS }, () => Deno.createHttpClient({}));
  const started = performance.now();
  await Promise.all(clients.map(async (client) => {
    while (left-- > 0) {
      const t = performance.now();
      const res = bare
        ? await fetch(`${url}/healthz`, { client })
        : await fetch(`${url}/callback`, { method: "POST", body: body(), client });
      if ((await res.text()) !== "ok") throw new Error(`${url} answered ${res.status}`);
      latencies.push(performance.now() - t);
    }
  }));
  const elapsed = performance.now() - started;
  for (const client of clients) client.close();
  latencies.sort((a, b) => a - b);
  return {
    rps: (latencies.length / elapsed) * 1000,
    p99: latencies[Math.floor(latencies.length * 0.99)]!,
  };
}

type Variant = "floor" | "before" | "after";
const serve: Record<Variant, () => { url: string; stop(): Promise<void> }> = {
  floor: () => {
    const push = new RespConnection({ url: redis.url, connectTimeoutMs: 5000 });
    const s = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
      const update = await request.json();
      if (update?.secret !== SECRET) return new Response("forbidden", { status: 403 });
      await push.send([["LPUSH", `${PREFIX}floor`, JSON.stringify(update)]]);
      return new Response("ok");
    });
    return {
      url: `http://127.0.0.1:${s.addr.port}`,
      stop: async () => {
        await s.shutdown();
        push.close();
      },
    };
  },
  before: () => {
    const s = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, router.app.fetch);
    return { url: `http://127.0.0.1:${s.addr.port}`, stop: () => s.shutdown() };
  },
  after: () => {
    const s = serveBounded({ hostname: "127.0.0.1", port: 0 }, router.app.fetch);
    return { url: `http://127.0.0.1:${s.addr.port}`, stop: () => s.shutdown() };
  },
};

const VARIANTS: readonly Variant[] = ["floor", "before", "after"];
const results: Record<Variant, Round[]> = { floor: [], before: [], after: [] };
const bare: Record<"before" | "after", Round[]> = { before: [], after: [] };
for (const variant of VARIANTS) { // warm-up of every path
  const s = serve[variant]();
  await round(s.url);
  await s.stop();
}
for (let r = 0; r < ROUNDS; r++) {
  // Each variant goes first, second and last in turn.
  const order = VARIANTS.map((_, i) => VARIANTS[(i + r) % VARIANTS.length]!);
  for (const variant of order) {
    const s = serve[variant]();
    results[variant].push(await round(s.url));
    if (variant !== "floor") bare[variant].push(await round(s.url, true));
    await s.stop();
  }
}
const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const summary = {
  requests_per_round: REQUESTS,
  clients: CLIENTS,
  rounds: ROUNDS,
  before: {
    rps: median(results.before.map((x) => x.rps)),
    p99_ms: median(results.before.map((x) => x.p99)),
  },
  after: {
    rps: median(results.after.map((x) => x.rps)),
    p99_ms: median(results.after.map((x) => x.p99)),
  },
  floor: {
    rps: median(results.floor.map((x) => x.rps)),
    p99_ms: median(results.floor.map((x) => x.p99)),
  },
  /** The router (bounded server) against the floor of the same round, median of the rounds. */
  router_vs_floor: median(results.after.map((x, i) => x.rps / results.floor[i]!.rps)),
  p99_router_vs_floor: median(results.after.map((x, i) => x.p99 / results.floor[i]!.p99)),
  throughput_after_vs_before: 0,
  p99_after_vs_before: 0,
  healthz_throughput_after_vs_before: median(bare.after.map((x) => x.rps)) /
    median(bare.before.map((x) => x.rps)),
  healthz_p99_after_vs_before: median(bare.after.map((x) => x.p99)) /
    median(bare.before.map((x) => x.p99)),
};
summary.throughput_after_vs_before = summary.after.rps / summary.before.rps;
summary.p99_after_vs_before = summary.after.p99_ms / summary.before.p99_ms;

await router.close();
await redis.stop("SIGTERM");
await Deno.remove(dir, { recursive: true });
await Deno.writeTextFile(OUT, JSON.stringify(summary, null, 2) + "\n");
console.log(
  `| POST /callback, ${CLIENTS} clients | before (Deno.serve) | after (bounded) | after / before |
| --- | --- | --- | --- |
| requests/s | ${summary.before.rps.toFixed(0)} | ${summary.after.rps.toFixed(0)} | ${
    summary.throughput_after_vs_before.toFixed(3)
  } |
| p99 ms | ${summary.before.p99_ms.toFixed(2)} | ${summary.after.p99_ms.toFixed(2)} | ${
    summary.p99_after_vs_before.toFixed(3)
  } |
| GET /healthz requests/s | | | ${summary.healthz_throughput_after_vs_before.toFixed(3)} |
| GET /healthz p99 | | | ${summary.healthz_p99_after_vs_before.toFixed(3)} |

| POST /callback, ${CLIENTS} clients | floor (Deno.serve, secret, LPUSH) | router (bounded) | router / floor |
| --- | --- | --- | --- |
| requests/s | ${summary.floor.rps.toFixed(0)} | ${summary.after.rps.toFixed(0)} | ${
    summary.router_vs_floor.toFixed(3)
  } |
| p99 ms | ${summary.floor.p99_ms.toFixed(2)} | ${summary.after.p99_ms.toFixed(2)} | ${
    summary.p99_router_vs_floor.toFixed(3)
  } |`,
);
