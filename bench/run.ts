// deno-lint-ignore-file no-console -- the runner tells the person at the terminal what ran where
/**
 * `deno task bench`: every benchmark, on a machine where nothing was started beforehand.
 *
 * - Starts a private redis-server on a free port for the run (as `deno task test` does),
 *   unless `BENCH_REDIS_URL` names a Redis to use; never `REDIS_URL` or 127.0.0.1:6379.
 *   Each part gets it as `BENCH_REDIS_URL`, and a run prefix (`BENCH_PREFIX`) under which
 *   every key it writes lives; those keys are deleted at the end, whatever the outcome.
 * - Writes the results only into `--out DIR` (a new temporary folder when not given, named
 *   at the end); `--out bench` refreshes the committed results, a deliberate step.
 * - `--smoke`: every part at a few seconds' size, to show it still runs (the test suite
 *   does this: `tests/bench_run_test.ts`). `--only micro,e2e` runs those parts only.
 *
 * Usage: deno run -A bench/run.ts [--smoke] [--out DIR] [--only PART,...]
 * @module
 */
import { parseArgs } from "node:util";
import { connectRedis } from "../src/redis/connection.ts";
import { deleteKeys } from "../tests/support/delete_keys.ts";
import { missingRedisServer } from "../tests/support/prerequisites.ts";
import { startRedisServer } from "../tests/support/redis_server.ts";

const BENCH = decodeURIComponent(new URL(".", import.meta.url).pathname);

/** A part: its name and its command line, given the output folder and the smoke flag. */
interface Part {
  name: string;
  args(out: string, smoke: boolean): string[];
}

/** The parts, in the order they run. */
export const PARTS: readonly Part[] = [
  { name: "micro", args: () => ["bench", "-A", `${BENCH}micro_bench.ts`] },
  {
    name: "e2e",
    args: (out, smoke) => ["run", "-A", `${BENCH}e2e.ts`, "--out", out, ...smokeFlag(smoke)],
  },
  {
    name: "cost",
    args: (out, smoke) => [
      "run",
      "-A",
      `${BENCH}cost.ts`,
      "--out",
      `${out}/cost.json`,
      ...smokeFlag(smoke),
    ],
  },
  {
    name: "kinds",
    args: (out, smoke) => ["run", "-A", `${BENCH}kinds.ts`, "--out", out, ...smokeFlag(smoke)],
  },
  {
    name: "fleet",
    args: (out, smoke) => ["run", "-A", `${BENCH}fleet.ts`, "--out", out, ...smokeFlag(smoke)],
  },
  {
    name: "callback",
    args: (out, smoke) => [
      "run",
      "-A",
      `${BENCH}callback_http.ts`,
      "--out",
      `${out}/callback_http.json`,
      ...smokeFlag(smoke),
    ],
  },
];

function smokeFlag(smoke: boolean): string[] {
  return smoke ? ["--smoke"] : [];
}

const USAGE = "Usage: deno task bench [--smoke] [--out DIR] [--only " +
  PARTS.map((p) => p.name).join(",") + "]";

async function main(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        smoke: { type: "boolean", default: false },
        out: { type: "string" },
        only: { type: "string" },
      },
    }));
  } catch (error) {
    console.error(`error: ${error instanceof Error ? error.message : error}\n${USAGE}`);
    return 2;
  }
  const only = values.only?.split(",").map((s) => s.trim()).filter(Boolean);
  const unknown = only?.filter((name) => !PARTS.some((p) => p.name === name)) ?? [];
  if (unknown.length > 0) {
    console.error(`error: --only: no part named ${unknown.join(", ")}\n${USAGE}`);
    return 2;
  }
  const parts = PARTS.filter((p) => !only || only.includes(p.name));

  const explicit = Deno.env.get("BENCH_REDIS_URL");
  if (explicit === undefined) {
    const missing = await missingRedisServer();
    if (missing) {
      console.error(missing);
      return 1;
    }
  }
  const out = values.out ?? await Deno.makeTempDir({ prefix: "vk-router-bench-results-" });
  await Deno.mkdir(out, { recursive: true });
  await using server = explicit === undefined ? await startRedisServer({ durable: false }) : null;
  const redisUrl = explicit ?? server!.url;
  const prefix = `bench-run-${crypto.randomUUID().slice(0, 8)}:`;
  console.error(
    server
      ? `Started a private redis-server for this run: ${server.url}`
      : "Using the Redis named by BENCH_REDIS_URL",
  );

  // Nothing of the caller's Redis reaches a part: it sees the bench's variables only.
  const env = { ...Deno.env.toObject() };
  for (const name of ["REDIS_URL", "TEST_REDIS_URL", "UPSTASH_REDIS_REST_URL"]) delete env[name];
  Object.assign(env, {
    BENCH_REDIS_URL: redisUrl,
    BENCH_PREFIX: prefix,
    ...(values.smoke ? { BENCH_SMOKE: "1" } : {}),
  });
  const failed: string[] = [];
  try {
    for (const part of parts) {
      console.error(`\n== ${part.name}${values.smoke ? " (smoke)" : ""}`);
      const started = performance.now();
      const { code } = await new Deno.Command(Deno.execPath(), {
        args: part.args(out, values.smoke),
        env,
        clearEnv: true,
        stdin: "null",
        stdout: "inherit",
        stderr: "inherit",
      }).output();
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      console.error(
        `== ${part.name}: ${code === 0 ? "done" : `failed (exit ${code})`} in ${seconds} s`,
      );
      if (code !== 0) failed.push(part.name);
    }
  } finally {
    await using handle = connectRedis({ kind: "native", url: redisUrl });
    await deleteKeys(handle, prefix);
  }
  console.error(`\nResults in ${out}${failed.length ? `; failed: ${failed.join(", ")}` : ""}`);
  return failed.length > 0 ? 1 : 0;
}

// Deno.exit skips pending clean-up, so it comes only once main() has stopped the server.
if (import.meta.main) Deno.exit(await main(Deno.args));
