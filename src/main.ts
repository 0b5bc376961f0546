// deno-lint-ignore-file no-console -- `--check` prints its verdict on the console, without logging
/**
 * The entry point of `deno task start`: the only module that reads the environment and
 * configures logging (a refused start is told by `start_failure.ts`). With `--check`
 * (`deno task check-config`) it validates the environment and the routes file, prints the
 * summary line and exits 0, or names every problem and exits 2, connecting to nothing: for CI.
 * @module
 */
import { dispose, getLogger } from "@logtape/logtape";
import { loadConfig } from "./config/config.ts";
import { mergeEnv, parseDotEnv } from "./config/env_file.ts";
import { BUILT_IN_ROUTES, loadRoutesFile, parseRoutes, type Routes } from "./config/routes.ts";
import { checkRoutesAgainstConfig, redisUnreachable } from "./config/startup_checks.ts";
import { configSummary } from "./config/summary.ts";
import { ConfigError, errorMessage } from "./errors.ts";
import { configureLogging } from "./logging.ts";
import { collectSecrets } from "./router.ts";
import { startService } from "./service.ts";
import { refuseToStart as refuse } from "./start_failure.ts";

async function readDotEnv(): Promise<Record<string, string>> {
  try {
    return parseDotEnv(await Deno.readTextFile(".env"));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return {};
    throw new ConfigError([`.env: cannot read it: ${errorMessage(error)}`], { cause: error });
  }
}

async function main(): Promise<number> {
  const checkOnly = Deno.args.includes("--check");
  let config;
  let routes: Routes;
  try {
    const env = mergeEnv(Deno.env.toObject(), await readDotEnv());
    config = loadConfig(env);
    routes = config.routesFile
      ? await loadRoutesFile(config.routesFile, env)
      : parseRoutes(BUILT_IN_ROUTES);
    checkRoutesAgainstConfig(routes, config);
    if (checkOnly) {
      console.log(`Configuration is valid. ${configSummary(config, routes)}`);
      return 0;
    }
    const redisDown = config.redis && await redisUnreachable(config.redis, config.redisTimeoutMs);
    if (redisDown) throw new ConfigError([redisDown]);
    await configureLogging(config.log, collectSecrets(config, routes));
  } catch (error) {
    return checkOnly
      ? refuse(
        error,
        "",
        "The configuration is invalid: fix the problems above (see README.md, Configuration).",
      )
      : refuse(error);
  }

  // Listening before the start: a SIGTERM while it starts (the status page may already
  // answer while the destinations' live checks wait) stops the service once it is up,
  // instead of killing the process mid-start.
  const signalled = new Promise<void>((resolve) => {
    Deno.addSignalListener("SIGINT", resolve);
    Deno.addSignalListener("SIGTERM", resolve);
  });
  let service;
  try {
    service = await startService({ config, routes });
  } catch (error) {
    await dispose();
    return refuse(error); // e.g. DATA_DIR in use by another process, PORT in use
  }
  // With the Callback API the service serves on even when every long poll stopped for good.
  const allPollsEnded = config.callback.confirmation ? new Promise<void>(() => {}) : service.done;
  const reason = await Promise.race([
    signalled.then(() => "signal" as const),
    allPollsEnded.then(() => "fatal" as const),
  ]);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stopped = await Promise.race([
    service.stop().then(() => true),
    new Promise<false>((resolve) =>
      timer = setTimeout(() => resolve(false), config.shutdownTimeoutMs)
    ),
  ]);
  clearTimeout(timer);
  if (!stopped) {
    getLogger(["vk-event-router"]).fatal(
      "Could not stop within {ms} ms (SHUTDOWN_TIMEOUT_MS): the batch in flight was not checkpointed and will be polled again on the next start",
      { ms: config.shutdownTimeoutMs },
    );
  }
  await dispose();
  // A requested stop that finished in time is a success; every long poll failing for good is not.
  return !stopped || reason === "fatal" ? 1 : 0;
}

Deno.exit(await main());
