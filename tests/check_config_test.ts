/**
 * Configuration mistakes caught before anything runs: `deno task check-config` (for CI)
 * and the start itself stop with exit 2 on a rule that can never match, and a start says
 * in one line what it runs.
 */
import assert from "node:assert/strict";
import { startFakeVk } from "./support/fake_vk.ts";
import { denoEnv, spawnService } from "./support/service_process.ts";
import { waitFor } from "./support/wait.ts";

const ROOT = decodeURIComponent(new URL("../", import.meta.url).pathname);

async function routesFile(rules: unknown[]): Promise<[string, string]> {
  const dir = await Deno.makeTempDir({ prefix: "vk-router-check-" });
  const path = `${dir}/routes.json`;
  await Deno.writeTextFile(
    path,
    JSON.stringify({
      destinations: {
        hook: { kind: "webhook", url: "http://127.0.0.1:9/in" },
        queue: { kind: "redis-list", key: "events" },
      },
      rules,
    }),
  );
  return [dir, path];
}

async function checkConfig(env: Record<string, string>) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", "check-config"],
    cwd: ROOT,
    env: { ...denoEnv(), NO_COLOR: "1", ...env },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

Deno.test("deno task check-config: 0 and the summary for a valid setup, without connecting to anything", async () => {
  const [dir, path] = await routesFile([
    { name: "commands", when: { event_type: ["command_call"] }, to: ["hook"] },
    { to: ["queue"] },
  ]);
  const started = Date.now();
  const { code, stdout, stderr } = await checkConfig({
    VK_TOKEN: "check-token",
    VK_GROUP_ID: "42,43",
    ROUTES_FILE: path,
    REDIS_URL: "redis://default:s3cret-pass@127.0.0.1:1", // nothing listens: never dialled
  });
  assert.equal(code, 0, stderr);
  assert.ok(Date.now() - started < 20_000);
  assert.match(
    stdout,
    /^Configuration is valid\. Routes: .*routes\.json, 2 rules; destinations: 2 \(1 webhook, 1 redis-list\); dead letters: the state store; state store: Redis at 127\.0\.0\.1:1 \(prefix "vk-router:"\); communities: 42, 43 by long poll; instance: /,
  );
  assert.doesNotMatch(stdout + stderr, /s3cret-pass/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("deno task check-config: exit 2 naming the nearest event type for a typo, and VK's raw name", async () => {
  const [dir, path] = await routesFile([
    { when: { event_type: ["comand_call"] }, to: ["hook"] },
    { when: { event_type: ["message_event"] }, to: ["hook"] },
  ]);
  const { code, stderr } = await checkConfig({
    VK_TOKEN: "check-token",
    VK_GROUP_ID: "42",
    ROUTES_FILE: path,
    REDIS_URL: "redis://127.0.0.1:1",
  });
  assert.equal(code, 2);
  assert.match(
    stderr,
    /error: .*routes\.json: \$\.rules\[0\]\.when\.event_type\[0\]: unknown event type "comand_call": did you mean "command_call"\?/,
  );
  assert.match(
    stderr,
    /\$\.rules\[1\]\.when\.event_type\[0\]: "message_event" is VK's raw type; the router names its events "button_pressed"/,
  );
  assert.match(stderr, /The configuration is invalid/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a start with a rule that can never match stops with exit 2; a good one logs one summary line", async () => {
  await using vk = await startFakeVk({ tokens: { 42: "check-token" } });
  const [dir, path] = await routesFile([{ when: { event_type: ["comand_call"] }, to: ["hook"] }]);
  const env = {
    VK_TOKEN: "check-token",
    VK_GROUP_ID: "42",
    VK_API_URL: vk.apiUrl,
    VK_LONGPOLL_WAIT: "1",
    ROUTES_FILE: path,
    HOST: "127.0.0.1",
    PORT: "0",
  };
  const refused = await spawnService(env, dir);
  assert.equal(await refused.exited, 2);
  assert.match(refused.output(), /did you mean "command_call"/);
  await Deno.writeTextFile(
    path,
    JSON.stringify({
      destinations: { hook: { kind: "webhook", url: "http://127.0.0.1:9/in" } },
      rules: [{ when: { event_type: ["command_call"] }, to: ["hook"] }],
    }),
  );
  await using service = await spawnService(env, dir);
  await waitFor(() => /"message":"Routes: /.test(service.output()), "the summary line");
  const lines = service.output().trim().split("\n").map((l) => JSON.parse(l));
  const summary = lines.filter((l) => /^Routes: /.test(l.message));
  assert.equal(summary.length, 1);
  assert.match(
    summary[0].message,
    /^Routes: .*routes\.json, 1 rule; destinations: 1 \(1 webhook\); dead letters: the state store; state store: Deno KV in \.\/data; communities: 42 by long poll; instance: /,
  );
  await waitFor(() => (vk.calls.get("a_check") ?? 0) > 0, "the first poll");
  assert.equal(await service.stop(), 0);
  await Deno.remove(dir, { recursive: true });
});
