/**
 * Every operator mistake at start, for each of `start`, `serve` and `demo` run as a real
 * process: `error:` lines that name the variable (or flag), exit code 2, no stack trace,
 * and no value that may be a secret.
 */
import assert from "node:assert/strict";
import { serveWorker } from "./support/serve_process.ts";
import { spawnService } from "./support/service_process.ts";

/** What every refused start must not print. */
const STACK = /Uncaught|\n\s+at |ConfigError|error: (?:Error|TypeError)\b/;
const SECRET = "secret-token-123";
/** Nothing listens here. */
const NO_SERVER = "127.0.0.1:1";

type Tool = "start" | "serve" | "demo";
interface Case {
  tool: Tool;
  name: string;
  env: Record<string, string>;
  /** Every one must match an `error:` line. */
  expected: RegExp[];
  /** Lines that must not be there. */
  not?: RegExp;
  /** A file to create in the working directory first. */
  files?: Record<string, string>;
  /** Holds a port, given to the case as `{port}` in its env. */
  busyPort?: boolean;
}

const VK = { VK_TOKEN: SECRET, VK_GROUP_ID: "1" };
const WORKER = {
  UPSTASH_REDIS_REST_URL: `http://${NO_SERVER}`,
  UPSTASH_REDIS_REST_TOKEN: SECRET,
  VK_GROUP_ID: "1",
  VK_CALLBACK_CONFIRMATION: "abc123",
  VK_CALLBACK_SECRET: "a-callback-secret-1234",
};

const CASES: Case[] = [
  {
    tool: "start",
    name: "VK_TOKEN unset",
    env: { VK_GROUP_ID: "1" },
    expected: [/^VK_TOKEN: required/],
  },
  {
    tool: "start",
    name: "VK_GROUP_ID=abc",
    env: { ...VK, VK_GROUP_ID: "abc" },
    expected: [/^VK_GROUP_ID: expected a community id/],
  },
  { tool: "start", name: "PORT=99999", env: { ...VK, PORT: "99999" }, expected: [/^PORT: /] },
  {
    tool: "start",
    name: "HOST=not-a-host",
    env: { ...VK, HOST: "not-a-host.invalid" },
    expected: [/^HOST: cannot resolve not-a-host\.invalid/],
  },
  {
    tool: "start",
    name: "HOST not of this machine",
    env: { ...VK, HOST: "192.0.2.1" },
    expected: [/^HOST: 192\.0\.2\.1 is not an address of this machine/],
  },
  {
    tool: "start",
    name: "PORT in use",
    env: { ...VK, PORT: "{port}" },
    busyPort: true,
    expected: [/^PORT: \d+ is in use on 127\.0\.0\.1 by another process/],
  },
  {
    tool: "start",
    name: "a missing routes file",
    env: { ...VK, ROUTES_FILE: "nope.json" },
    expected: [/^ROUTES_FILE: cannot read nope\.json/],
  },
  {
    tool: "start",
    name: "a routes file that is not JSON",
    env: { ...VK, ROUTES_FILE: "routes.json" },
    files: { "routes.json": "{ not json" },
    expected: [/^ROUTES_FILE: routes\.json is not valid JSON/],
  },
  {
    tool: "start",
    name: "an unreachable Redis",
    env: { ...VK, REDIS_URL: `redis://user:${SECRET}@${NO_SERVER}`, REDIS_TIMEOUT_MS: "500" },
    expected: [/^REDIS_URL: cannot reach Redis at 127\.0\.0\.1:1: /],
  },
  {
    tool: "start",
    name: "an unreachable Upstash",
    env: {
      ...VK,
      UPSTASH_REDIS_REST_URL: `http://${NO_SERVER}`,
      UPSTASH_REDIS_REST_TOKEN: SECRET,
      REDIS_TIMEOUT_MS: "500",
    },
    expected: [/^UPSTASH_REDIS_REST_URL: cannot reach Redis at 127\.0\.0\.1:1: /],
  },
  {
    tool: "serve",
    name: "nothing configured",
    env: {},
    expected: [
      /^VK_GROUP_ID: required/,
      /^VK_CALLBACK_CONFIRMATION: required by the serverless worker/,
      /^UPSTASH_REDIS_REST_URL: required by the serverless worker/,
    ],
    not: /VK_LONGPOLL/,
  },
  {
    tool: "serve",
    name: "a bad variable",
    env: { ...WORKER, ENRICH_DEADLINE_MS: "soon" },
    expected: [/^ENRICH_DEADLINE_MS: /],
  },
  {
    tool: "serve",
    name: "its port in use",
    env: WORKER,
    busyPort: true,
    expected: [/^--port: the port is in use on the host by another process/],
  },
  {
    tool: "serve",
    name: "a missing routes file",
    env: { ...WORKER, ROUTES_FILE: "nope.json" },
    expected: [/^ROUTES_FILE: cannot read nope\.json/],
  },
  { tool: "demo", name: "PORT=abc", env: { PORT: "abc" }, expected: [/^PORT: /] },
  {
    tool: "demo",
    name: "a short STATUS_TOKEN",
    env: { STATUS_TOKEN: "short" },
    expected: [/^STATUS_TOKEN: /],
  },
  {
    tool: "demo",
    name: "DATA_DIR where the demo may not write",
    env: { DATA_DIR: "/var/lib/somewhere-else" },
    expected: [/^DATA_DIR: the demo writes only under \.\/data/],
  },
  {
    tool: "demo",
    name: "PORT in use",
    env: { PORT: "{port}" },
    busyPort: true,
    expected: [/^PORT: \d+ is in use/],
  },
];

const ROOT = decodeURIComponent(new URL("../", import.meta.url).pathname);

/** Runs `deno task demo` (its DATA_DIR named after `cwd`) and waits for its end. */
async function runDemo(env: Record<string, string>, cwd: string): Promise<[number, string]> {
  const dataDir = `data/${cwd.split("/").at(-1)}`;
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--config", `${ROOT}deno.json`, "demo", "--duration=5"],
    cwd: ROOT,
    env: { REDIS_URL: `redis://${NO_SERVER}`, DATA_DIR: `./${dataDir}`, NO_COLOR: "1", ...env },
    stdin: "null",
  }).output();
  await Deno.remove(`${ROOT}${dataDir}`, { recursive: true }).catch(() => {});
  const text = new TextDecoder();
  return [code, text.decode(stdout) + text.decode(stderr)];
}

/** Starts the case's tool and returns its exit code and output. */
async function run(
  c: Case,
  env: Record<string, string>,
  cwd: string,
  busyPort: string,
): Promise<[number, string]> {
  if (c.tool === "demo") return await runDemo(env, cwd);
  if (c.tool === "serve") {
    // deno serve takes its port from the task's --port, not from a variable.
    await using worker = await serveWorker(env, cwd, busyPort || "0");
    return [await worker.exited, worker.output()];
  }
  await using service = await spawnService(env, cwd);
  return [await service.exited, service.output()];
}

Deno.test("each operator mistake at start is error: lines naming the variable, exit 2, no stack", async (t) => {
  for (const c of CASES) {
    await t.step(`${c.tool}: ${c.name}`, async () => {
      const cwd = await Deno.makeTempDir({ prefix: "vk-router-start-" });
      for (const [name, text] of Object.entries(c.files ?? {})) {
        await Deno.writeTextFile(`${cwd}/${name}`, text);
      }
      using busy = c.busyPort ? Deno.listen({ hostname: "127.0.0.1", port: 0 }) : null;
      const port = busy ? String((busy.addr as Deno.NetAddr).port) : "";
      const env = Object.fromEntries(
        Object.entries(c.env).map(([k, v]) => [k, v.replace("{port}", port)]),
      );
      const [code, output] = await run(c, env, cwd, port);
      await Deno.remove(cwd, { recursive: true });
      assert.equal(code, 2, output);
      const errors = output.split("\n").filter((l) => l.startsWith("error: "))
        .map((l) => l.slice("error: ".length));
      for (const expected of c.expected) {
        assert.ok(errors.some((l) => expected.test(l)), `${expected} in:\n${output}`);
      }
      assert.doesNotMatch(output, STACK);
      assert.ok(!output.includes(SECRET), `a secret in:\n${output}`);
      if (c.not) assert.doesNotMatch(output, c.not);
    });
  }
});
