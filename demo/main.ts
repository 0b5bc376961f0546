// deno-lint-ignore-file no-console -- the demo talks to the person who started it
/**
 * `deno task demo`: the router against a simulated VK community, no VK token needed.
 * Events flow to the log and, when a Redis answers (REDIS_URL or 127.0.0.1:6379), to the
 * default routes' Redis lists under `demo:` (`DEMO_PREFIX`); without one, to the log only.
 * The router keeps its own state in the embedded store. Every mistake (a bad flag, a
 * taken port, a second demo) ends in `error:` lines and exit code 2, never a stack.
 * @module
 */
import { parseArgs } from "node:util";
import { loadConfig } from "../src/config/config.ts";
import { parseRoutes } from "../src/config/routes.ts";
import { redisAddress, redisUnreachable } from "../src/config/startup_checks.ts";
import { ConfigError, errorMessage } from "../src/errors.ts";
import { configureLogging } from "../src/logging.ts";
import { collectSecrets } from "../src/router.ts";
import { startService } from "../src/service.ts";
import { REFUSED } from "../src/start_failure.ts";
import { openKvStore } from "../src/store/kv_store.ts";
import { startVkSimulator } from "../tests/support/vk_simulator.ts";

const USAGE = `Usage: deno task demo [--duration=SECONDS] [--rate=EVENTS_PER_S]

  --duration=SECONDS   stop by itself after that many seconds (default: run until Ctrl-C)
  --rate=N             simulated events per second, 0.1 to 1000 (default: 5)
  --help               show this text

Variables: PORT (status page, default 8080; 0 picks a free one), STATUS_TOKEN (the status
page's login; a one-time token is printed when unset), REDIS_URL (default
redis://127.0.0.1:6379; without an answer events go to the log only), DEMO_PREFIX (prefix of
the Redis keys, default demo:), DATA_DIR (default ./data/demo), LOG_LEVEL, LOG_FORMAT.`;

/** The demo's flags, checked; a mistake is a {@linkcode ConfigError} naming the flag. */
export function parseDemoArgs(args: readonly string[]): {
  help: boolean;
  duration: number | null;
  rate: number;
} {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        duration: { type: "string" },
        rate: { type: "string", default: "5" },
        help: { type: "boolean", default: false },
      },
    }));
  } catch (error) {
    throw new ConfigError([errorMessage(error)]);
  }
  const problems: string[] = [];
  const number = (flag: string, text: string, min: number, max: number) => {
    const n = Number(text);
    if (text.trim() === "" || !Number.isFinite(n) || n < min || n > max) {
      problems.push(`--${flag}: expected a number from ${min} to ${max}, got ${text}`);
    }
    return n;
  };
  const duration = values.duration === undefined
    ? null
    : number("duration", values.duration, 1, 86_400);
  const rate = number("rate", values.rate, 0.1, 1000);
  if (problems.length > 0) throw new ConfigError(problems);
  return { help: values.help, duration, rate };
}

/** Prints the problems (and the usage, for a flag's) the way every refused start does. */
function refuse(error: unknown, usage: boolean): number {
  if (!(error instanceof ConfigError)) throw error;
  for (const issue of error.issues) console.error(`error: ${issue}`);
  if (usage) console.error(`\n${USAGE}`);
  return REFUSED;
}

/** A one-time status token, so the full page, replay and the workbench can be tried. */
function oneTimeToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `demo-${[...bytes].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

async function main(): Promise<number> {
  let flags;
  try {
    flags = parseDemoArgs(Deno.args);
  } catch (error) {
    return refuse(error, true);
  }
  if (flags.help) {
    // Usage and exit 2, as for a bad flag: asking for help is not a run of the demo.
    console.log(USAGE);
    return REFUSED;
  }
  const { duration, rate } = flags;

  const redisUrl = Deno.env.get("REDIS_URL") ?? "redis://127.0.0.1:6379";
  /** Prefix of every Redis key the demo writes. */
  const prefix = Deno.env.get("DEMO_PREFIX") ?? "demo:";
  const givenToken = Deno.env.get("STATUS_TOKEN");
  const statusToken = givenToken || oneTimeToken();
  const withRedis = await redisUnreachable({ kind: "native", url: redisUrl }, 500)
    .then((problem) => problem === null, () => false);
  const lists = ["command_call", "message_new", "button_pressed", "reaction"];

  const simulator = await startVkSimulator({ rate });
  let service;
  try {
    const routes = parseRoutes({
      destinations: {
        console: { kind: "log" },
        ...(withRedis
          ? Object.fromEntries(
            lists.map((type) => [type, { kind: "redis-list", key: `${prefix}${type}` }]),
          )
          : {}),
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
      STATUS_TOKEN: statusToken,
      LOG_LEVEL: Deno.env.get("LOG_LEVEL") ?? "info",
      ...(Deno.env.get("LOG_FORMAT") ? { LOG_FORMAT: Deno.env.get("LOG_FORMAT") } : {}),
      ...(withRedis ? { REDIS_URL: redisUrl, REDIS_PREFIX: `${prefix}vk-router:` } : {}),
    });
    await configureLogging(config.log, collectSecrets(config, routes));
    // The simulated community is new in each run and its history starts at ts 0: a previous
    // run's checkpoint lies beyond it, and resuming there would look like lost history.
    try {
      await using store = await openKvStore(config.dataDir);
      await store.setCheckpoint(simulator.groupId, "0");
    } catch (error) {
      if (!(error instanceof Deno.errors.NotCapable)) throw error;
      throw new ConfigError([
        `DATA_DIR: the demo writes only under ./data (deno task demo's permissions), not ${config.dataDir}`,
      ]);
    }
    service = await startService({ config, routes, embeddedStore: true });
  } catch (error) {
    await simulator.close();
    // A second demo meets the first one's DATA_DIR or PORT: say which, in its own words.
    return refuse(error, false);
  }

  console.log(`
  vk-event-router demo
  Status page:  ${service.url}/
  Log in with:  ${
    givenToken ? "your STATUS_TOKEN" : `${statusToken} (a one-time token for this run)`
  }
  VK simulator: ${simulator.vk.apiUrl} (community ${simulator.groupId}, ${rate} events/s)
  Destinations: the log${
    withRedis ? `, and Redis lists ${lists.map((l) => prefix + l).join(", ")}` : ""
  }
  Stop with Ctrl-C${duration ? `, or it stops by itself after ${duration} s` : ""}.
`);
  if (!withRedis) {
    console.log(
      `No Redis answered at ${redisAddress(redisUrl)}: events go to the log only ` +
        "(start a redis-server, or set REDIS_URL, to see them in Redis lists too).",
    );
  }

  await new Promise<void>((resolve) => {
    Deno.addSignalListener("SIGINT", resolve);
    Deno.addSignalListener("SIGTERM", resolve);
    if (duration) setTimeout(resolve, duration * 1000);
  });
  await service.stop();
  await simulator.close();
  console.log(
    `Demo finished: ${simulator.generated} events generated, ${
      service.router.metrics.sum("vk_router_events_received_total")
    } routed.`,
  );
  return 0;
}

if (import.meta.main) Deno.exit(await main());
