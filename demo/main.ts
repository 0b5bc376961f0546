// deno-lint-ignore-file no-console -- the demo talks to the person who started it
/**
 * `deno task demo`: the router against a simulated VK community, no VK token needed.
 * Events flow to the log and, when a Redis answers (REDIS_URL or 127.0.0.1:6379), to the
 * default routes' Redis lists under `demo:` (`DEMO_PREFIX`). The router keeps its own state in the
 * embedded store. `--duration=SECONDS` stops it by itself; `--rate=N` sets events/s.
 * @module
 */
import { parseArgs } from "node:util";
import { loadConfig } from "../src/config/config.ts";
import { parseRoutes } from "../src/config/routes.ts";
import { configureLogging } from "../src/logging.ts";
import { collectSecrets } from "../src/router.ts";
import { startService } from "../src/service.ts";
import { openKvStore } from "../src/store/kv_store.ts";
import { startVkSimulator } from "../tests/support/vk_simulator.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { duration: { type: "string" }, rate: { type: "string", default: "5" } },
});
const duration = values.duration ? Number(values.duration) : null;

async function reachable(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  try {
    const conn = await Deno.connect(
      {
        hostname,
        port: Number(port || 6379),
        signal: AbortSignal.timeout(500),
      } as Deno.ConnectOptions,
    );
    conn.close();
    return true;
  } catch {
    return false;
  }
}

const redisUrl = Deno.env.get("REDIS_URL") ?? "redis://127.0.0.1:6379";
/** Prefix of every Redis key the demo writes. */
const prefix = Deno.env.get("DEMO_PREFIX") ?? "demo:";
const withRedis = await reachable(redisUrl);
const simulator = await startVkSimulator({ rate: Number(values.rate) });
const lists = ["command_call", "message_new", "button_pressed", "reaction"];
const routes = parseRoutes({
  destinations: {
    console: { kind: "log" },
    ...Object.fromEntries(
      lists.map((type) => [type, { kind: "redis-list", key: `${prefix}${type}` }]),
    ),
  },
  rules: [
    ...(withRedis
      ? lists.map((type) => ({ when: { event_type: [type] }, to: [type, "console"] }))
      : []),
    { name: "everything else to the log", to: ["console"] },
  ],
});
const config = loadConfig({
  VK_TOKEN: simulator.token,
  VK_GROUP_ID: String(simulator.groupId),
  VK_API_URL: simulator.vk.apiUrl,
  VK_LONGPOLL_WAIT: "5",
  DATA_DIR: Deno.env.get("DATA_DIR") ?? "./data/demo",
  HOST: "127.0.0.1",
  PORT: Deno.env.get("PORT") ?? "8080",
  LOG_LEVEL: Deno.env.get("LOG_LEVEL") ?? "info",
  ...(Deno.env.get("LOG_FORMAT") ? { LOG_FORMAT: Deno.env.get("LOG_FORMAT") } : {}),
  ...(withRedis ? { REDIS_URL: redisUrl, REDIS_PREFIX: `${prefix}vk-router:` } : {}),
});
await configureLogging(config.log, collectSecrets(config, routes));
// The simulated community is new in each run and its history starts at ts 0: a previous
// run's checkpoint lies beyond it, and resuming there would look like lost history.
{
  await using store = await openKvStore(config.dataDir);
  await store.setCheckpoint(simulator.groupId, "0");
}
const service = await startService({ config, routes, embeddedStore: true });

console.log(`
  vk-event-router demo
  Status page:  ${service.url}/
  VK simulator: ${simulator.vk.apiUrl} (community ${simulator.groupId}, ${values.rate} events/s)
  Destinations: the log${
  withRedis
    ? `, and Redis lists ${lists.map((l) => prefix + l).join(", ")} at ${redisUrl}`
    : " (no Redis answered)"
}
  Stop with Ctrl-C${duration ? `, or it stops by itself after ${duration} s` : ""}.
`);

const stop = new Promise<void>((resolve) => {
  Deno.addSignalListener("SIGINT", resolve);
  Deno.addSignalListener("SIGTERM", resolve);
  if (duration) setTimeout(resolve, duration * 1000);
});
await stop;
await service.stop();
await simulator.close();
console.log(
  `Demo finished: ${simulator.generated} events generated, ${
    service.router.metrics.sum("vk_router_events_received_total")
  } routed.`,
);
Deno.exit(0);
