// deno-lint-ignore-file no-console -- the runner talks to the person at the terminal
/**
 * `deno task test`: the test suite on a machine where nothing was started beforehand.
 *
 * - Checks once for what it cannot install itself (a `redis-server` binary; Chromium when
 *   the browser test is in the run) and prints one line each that says what to install.
 * - Unless `TEST_REDIS_URL` names a Redis to use, starts one private redis-server on a free
 *   port for the whole run. It never picks up a Redis that someone else started, not even
 *   one on 6379: the run is the same on every machine and touches nobody's data.
 * - For each destination kind with a server of its own (a `testing.ts` harness in its
 *   folder under `src/deliver/kinds/`), likewise: unless its `TEST_*_URL` variable is set,
 *   starts one private server on free ports (never the machine's own on the usual port),
 *   or prints the line that says what to install.
 * - Runs `deno test --allow-all` with the given arguments (`tests/` and the kinds' own
 *   tests when they name no file or folder) and the `TEST_*_URL` variables set, stops the
 *   servers whatever the outcome (Ctrl-C included), and exits with deno test's code.
 *   Deno's summary stays the last line.
 *
 * Usage: `deno run -A tests/run.ts [deno test flags] [files or folders]`
 * @module
 */
import { resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { kindHarnesses } from "./support/kind_harness.ts";
import { missingChromium, missingRedisServer } from "./support/prerequisites.ts";
import { startRedisServer } from "./support/redis_server.ts";

const TESTS_DIR = resolve(fileURLToPath(new URL(".", import.meta.url)));
/** The destination kinds' folders keep their own tests beside their modules. */
const KINDS_DIR = resolve(fileURLToPath(new URL("../src/deliver/kinds/", import.meta.url)));
const BROWSER_TEST = fileURLToPath(new URL("status_page_browser_test.ts", import.meta.url));

/** The arguments that name existing files or folders; the rest are deno test's flags. */
function namedPaths(args: readonly string[]): string[] {
  return args.filter((arg) => {
    if (arg.startsWith("-")) return false;
    try {
      Deno.statSync(arg);
      return true;
    } catch {
      return false;
    }
  }).map((arg) => resolve(arg));
}

/** Whether running `paths` runs the browser test. */
function runsBrowserTest(paths: readonly string[]): boolean {
  return paths.some((path) => path === BROWSER_TEST || BROWSER_TEST.startsWith(path + sep));
}

/** `null` when something accepts TCP connections at the URL's host and port, else why not. */
async function unreachable(url: string): Promise<string | null> {
  // Only the host and port are ever printed: the URL may hold a password.
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return "Cannot use TEST_REDIS_URL: expected redis://host:port";
  }
  const port = Number(target.port || 6379);
  try {
    (await Deno.connect({ hostname: target.hostname.replace(/^\[(.*)\]$/, "$1"), port }))
      .close();
    return null;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return `Cannot reach the test Redis at ${target.hostname}:${port} (TEST_REDIS_URL): ` +
      `${reason}; start it, or unset TEST_REDIS_URL to let the run start its own`;
  }
}

const SIGNALS = { SIGINT: 2, SIGTERM: 15 } as const;
type Signal = keyof typeof SIGNALS;

/** Catches SIGINT and SIGTERM while the run lasts, so that clean-up always happens. */
interface SignalRelay extends Disposable {
  /** The process the signals are passed on to, once there is one. */
  child: Deno.ChildProcess | null;
  /** The shell's exit code for the first signal caught, or `null` while none came. */
  readonly exitCode: number | null;
}

/**
 * A terminal's Ctrl-C reaches deno test by itself (same process group); a signal sent to
 * this process alone is passed on to it.
 */
function relaySignals(): SignalRelay {
  let caught: Signal | null = null;
  const relay: SignalRelay = {
    child: null,
    get exitCode() {
      return caught && 128 + SIGNALS[caught];
    },
    [Symbol.dispose]() {
      for (const [signal, listener] of listeners) Deno.removeSignalListener(signal, listener);
    },
  };
  const listeners = (Object.keys(SIGNALS) as Signal[]).map((signal) => {
    const listener = () => {
      caught ??= signal;
      try {
        relay.child?.kill(signal);
      } catch { /* already gone */ }
    };
    Deno.addSignalListener(signal, listener);
    return [signal, listener] as const;
  });
  return relay;
}

/** Checks the machine, provides a Redis, runs deno test; returns the exit code. */
async function main(args: readonly string[]): Promise<number> {
  const paths = namedPaths(args);
  const explicitUrl = Deno.env.get("TEST_REDIS_URL");

  const noRedisServer = await missingRedisServer();
  const noChromium = runsBrowserTest(paths.length > 0 ? paths : [TESTS_DIR])
    ? await missingChromium()
    : null;
  const noRedis = explicitUrl === undefined ? noRedisServer : await unreachable(explicitUrl);
  for (const line of new Set([noRedisServer, noChromium, noRedis])) if (line) console.error(line);
  // Without a Redis nearly every test would fail with a connection error: stop here instead.
  if (noRedis) return 1;

  using signals = relaySignals();
  await using server = explicitUrl === undefined
    ? await startRedisServer({ durable: false })
    : null;
  if (server) console.error(`Started a private redis-server for this run: ${server.url}`);
  await using kindServers = new AsyncDisposableStack();
  const env: Record<string, string> = server ? { TEST_REDIS_URL: server.url } : {};
  // All at once: a RabbitMQ node takes seconds to boot, the others should not wait for it.
  const started = await Promise.allSettled((await kindHarnesses()).map(async (harness) => {
    if (Deno.env.get(harness.testUrlVariable) !== undefined) return;
    const missing = await harness.missing();
    if (missing) {
      // Its tests fail with this line too: a kind is never skipped unseen.
      console.error(missing);
      return;
    }
    const kindServer = kindServers.use(await harness.startServer());
    env[harness.testUrlVariable] = kindServer.url;
    console.error(`Started a private ${harness.kind} server for this run: ${kindServer.url}`);
  }));
  for (const result of started) {
    if (result.status === "rejected") {
      console.error(result.reason instanceof Error ? result.reason.message : result.reason);
      return 1;
    }
  }
  if (signals.exitCode !== null) return signals.exitCode;
  signals.child = new Deno.Command(Deno.execPath(), {
    args: ["test", "--allow-all", ...args, ...(paths.length > 0 ? [] : [TESTS_DIR, KINDS_DIR])],
    // Variables already set (TEST_REDIS_URL, TEST_NATS_URL, ...) are inherited.
    env,
  }).spawn();
  return (await signals.child.status).code;
}

// Deno.exit skips pending clean-up, so it comes only once main() has stopped the server.
Deno.exit(await main(Deno.args));
