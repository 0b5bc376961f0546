/**
 * `deno task test` (tests/run.ts) on a bare machine: no TEST_REDIS_URL, nothing started
 * beforehand. Each case runs the real runner as a child process, on a few named test files
 * only (never `tests/`, which holds this file).
 */
import assert from "node:assert/strict";
import { kindHarnesses } from "./support/kind_harness.ts";
import { chromiumMissingLine, REDIS_SERVER_MISSING } from "./support/prerequisites.ts";

const RUNNER = new URL("run.ts", import.meta.url).pathname;
const ROOT = new URL("../", import.meta.url).pathname;
/** A part of the suite that needs Redis, run by the cases below. */
const SUBSET = ["tests/pipeline_test.ts", "tests/replay_test.ts"];

/** The environment of this process without TEST_REDIS_URL, plus `changes`. */
function bareEnv(changes: Record<string, string> = {}): Record<string, string> {
  const { TEST_REDIS_URL: _, ...env } = Deno.env.toObject();
  return { ...env, NO_COLOR: "1", ...changes };
}

/** {@linkcode bareEnv} without any kind harness's variable either. */
async function bareOfKindServers(): Promise<Record<string, string>> {
  const env = bareEnv();
  for (const harness of await kindHarnesses()) delete env[harness.testUrlVariable];
  return env;
}

async function runTests(args: string[], env: Record<string, string>) {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", RUNNER, ...args],
    cwd: ROOT,
    clearEnv: true,
    env,
    stdin: "null",
  }).output();
  const text = new TextDecoder();
  return { code, stdout: text.decode(stdout), stderr: text.decode(stderr) };
}

function lastLine(text: string): string {
  return text.trimEnd().split("\n").at(-1) ?? "";
}

async function listening(port: number): Promise<boolean> {
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.ConnectionRefused) return false;
    throw error;
  }
}

function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  listener.close();
  return (listener.addr as Deno.NetAddr).port;
}

Deno.test("without TEST_REDIS_URL the run starts one private redis-server and stops it", async () => {
  const run = await runTests(SUBSET, bareEnv());
  assert.equal(run.code, 0, run.stdout + run.stderr);

  const started = [
    ...run.stderr.matchAll(/private redis-server for this run: redis:\/\/[^:]+:(\d+)/g),
  ];
  assert.equal(started.length, 1, run.stderr);
  const port = Number(started[0]![1]);
  assert.notEqual(port, 6379, "never a Redis someone else may run");
  assert.equal(await listening(port), false, "the private redis-server is gone after the run");

  assert.match(run.stdout, /running \d+ tests? from \.\/tests\/pipeline_test\.ts/);
  assert.match(run.stdout, /running \d+ tests? from \.\/tests\/replay_test\.ts/);
  assert.match(lastLine(run.stdout), /^ok \| [1-9]\d* passed (\(\d+ steps\) )?\| 0 failed \(/);
});

Deno.test("each kind with a server of its own gets a private one for the run, never the usual port", async () => {
  const harnesses = await kindHarnesses();
  assert.ok(harnesses.length > 0, "the kinds' testing.ts harnesses are found");
  const run = await runTests([SUBSET[0]!], await bareOfKindServers());
  assert.equal(run.code, 0, run.stdout + run.stderr);
  for (const harness of harnesses) {
    const missing = await harness.missing();
    if (missing) {
      assert.ok(run.stderr.includes(missing), `${harness.kind}: ${run.stderr}`);
      continue;
    }
    const started = new RegExp(
      `private ${harness.kind} server for this run: \\w+://[^\\s]*?:(\\d+)`,
    )
      .exec(run.stderr);
    assert.ok(started, `${harness.kind}: ${run.stderr}`);
    const port = Number(started[1]);
    assert.ok(![4222, 5672].includes(port), "never a server someone else may run");
    assert.equal(await listening(port), false, `the ${harness.kind} server is gone after the run`);
  }
  assert.match(lastLine(run.stdout), /^ok \| [1-9]\d* passed .*\| 0 failed/);
});

/** Whether this machine can give a process a network namespace of its own (Linux). */
async function canIsolateNetwork(): Promise<boolean> {
  try {
    const { success } = await new Deno.Command("unshare", {
      args: ["-rn", "ip", "link", "set", "lo", "up"],
      stdout: "null",
      stderr: "null",
    }).output();
    return success;
  } catch {
    return false;
  }
}

Deno.test({
  name: "with no Redis anywhere on the network the run passes on its own redis-server",
  ignore: !await canIsolateNetwork(),
  async fn() {
    // A network namespace of its own: only a loopback, nothing listening on it, 6379
    // included. The shell checks that before it hands over to the runner.
    const bare = "ip link set lo up && " +
      `! "$0" eval 'await Deno.connect({ hostname: "127.0.0.1", port: 6379 })' 2>/dev/null && ` +
      'exec "$0" "$@"';
    const { code, stdout, stderr } = await new Deno.Command("unshare", {
      args: ["-rn", "sh", "-c", bare, Deno.execPath(), "run", "--allow-all", RUNNER, ...SUBSET],
      cwd: ROOT,
      clearEnv: true,
      env: bareEnv(),
      stdin: "null",
    }).output();
    const out = new TextDecoder().decode(stdout);
    assert.equal(code, 0, out + new TextDecoder().decode(stderr));
    assert.match(lastLine(out), /^ok \| [1-9]\d* passed (\(\d+ steps\) )?\| 0 failed \(/);
  },
});

Deno.test("without redis-server the run names what to install and runs nothing", async () => {
  const chromium = "/nonexistent/chromium";
  const run = await runTests(
    ["tests/status_page_browser_test.ts"],
    bareEnv({ PATH: "/nonexistent", CHROMIUM_PATH: chromium }),
  );
  assert.equal(run.code, 1);
  assert.deepEqual(run.stderr.trimEnd().split("\n"), [
    REDIS_SERVER_MISSING,
    chromiumMissingLine(chromium),
  ]);
  assert.equal(run.stdout, "", "deno test did not start");
});

Deno.test("a TEST_REDIS_URL that nothing answers stops the run with one line", async () => {
  const port = closedPort();
  const run = await runTests(
    ["tests/pipeline_test.ts"],
    bareEnv({ TEST_REDIS_URL: `redis://127.0.0.1:${port}` }),
  );
  assert.equal(run.code, 1);
  assert.match(
    run.stderr.trimEnd(),
    new RegExp(`^Cannot reach the test Redis at 127\\.0\\.0\\.1:${port} \\(TEST_REDIS_URL\\): .+$`),
  );
  assert.equal(run.stdout, "");
});

Deno.test("without Chromium the browser test fails with the line that says what to install", async () => {
  const chromium = "/nonexistent/chromium";
  const line = chromiumMissingLine(chromium);
  const run = await runTests(
    ["tests/status_page_browser_test.ts"],
    bareEnv({ CHROMIUM_PATH: chromium }),
  );
  assert.equal(run.code, 1);
  assert.equal(run.stderr.split("\n")[0], line, "the runner says it up front");
  assert.ok(run.stdout.includes(`error: Error: ${line}`), run.stdout);
  assert.match(lastLine(run.stdout), /^FAILED \| 0 passed \| 1 failed/);
});
