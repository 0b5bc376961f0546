/**
 * `deno task start` grants exactly the configured paths: a routes file, data and log
 * directories anywhere (as a Docker user mounts them), and nothing else outside the
 * working directory.
 */
import assert from "node:assert/strict";
import { pathPermissionFlags } from "../src/start_permissions.ts";
import { startFakeVk } from "./support/fake_vk.ts";
import { spawnService, startTaskFlags } from "./support/service_process.ts";
import { waitFor } from "./support/wait.ts";

const ROUTES = JSON.stringify({
  destinations: { outside: { kind: "log" } },
  rules: [{ to: ["outside"] }],
});

/** A working directory and, apart from it, a config directory with a routes file and a stranger. */
async function layout() {
  const cwd = await Deno.makeTempDir({ prefix: "vk-router-cwd-" });
  const etc = await Deno.makeTempDir({ prefix: "vk-router-etc-" });
  await Deno.writeTextFile(`${etc}/routes.json`, ROUTES);
  await Deno.writeTextFile(`${etc}/other.json`, "{}");
  return {
    cwd,
    etc,
    async [Symbol.asyncDispose]() {
      await Deno.remove(cwd, { recursive: true });
      await Deno.remove(etc, { recursive: true });
    },
  };
}

Deno.test("pathPermissionFlags() grants the configured paths and refuses what a flag cannot name", () => {
  assert.deepEqual(pathPermissionFlags({}), { flags: [], problems: [] });
  assert.deepEqual(
    pathPermissionFlags({
      ROUTES_FILE: " /etc/vk-router/routes.json ",
      DATA_DIR: "/var/lib/vk-router",
      LOG_DIR: "./logs",
    }).flags,
    [
      "--allow-read=/etc/vk-router/routes.json,/var/lib/vk-router,./logs",
      "--allow-write=/var/lib/vk-router,./logs",
    ],
  );
  const { flags, problems } = pathPermissionFlags({ ROUTES_FILE: "/etc/my routes.json" });
  assert.deepEqual(flags, []);
  assert.match(
    problems[0]!,
    /^error: ROUTES_FILE: cannot grant access to "\/etc\/my routes\.json"/,
  );
});

Deno.test("the service uses an absolute ROUTES_FILE, DATA_DIR and LOG_DIR outside its working directory", async () => {
  await using dirs = await layout();
  await using vk = await startFakeVk({ tokens: { 42: "far-token" } });
  await using service = await spawnService({
    VK_TOKEN: "far-token",
    VK_GROUP_ID: "42",
    VK_API_URL: vk.apiUrl,
    VK_LONGPOLL_WAIT: "1",
    ROUTES_FILE: `${dirs.etc}/routes.json`,
    DATA_DIR: `${dirs.etc}/data`,
    LOG_DIR: `${dirs.etc}/logs`,
    HOST: "127.0.0.1",
    PORT: "0",
  }, dirs.cwd);
  const url = await service.url();
  assert.match(service.output(), /"message":"Status page at http:\/\/127\.0\.0\.1:\d+\/"/);
  await waitFor(() => (vk.calls.get("a_check") ?? 0) > 0, "the first poll");
  vk.push([{
    type: "message_new",
    event_id: "far-1",
    group_id: 42,
    object: { message: { from_id: 7, peer_id: 7, text: "hi", conversation_message_id: 1 } },
  }], 42);
  await waitFor(() => service.output().includes("Event message_new far-1 to outside"), "the event");
  const status = await (await fetch(`${url}/api/status`)).json();
  assert.deepEqual(status.destinations.map((d: { name: string }) => d.name), ["outside"]);
  assert.equal(await service.stop(), 0);
  await Deno.stat(`${dirs.etc}/data/state.kv`);
  assert.match(await Deno.readTextFile(`${dirs.etc}/logs/vk-event-router.log`), /far-1/);
});

Deno.test("a ROUTES_FILE set in .env is granted too", async () => {
  await using dirs = await layout();
  await Deno.writeTextFile(`${dirs.cwd}/.env`, `ROUTES_FILE=${dirs.etc}/routes.json\n`);
  await using service = await spawnService({
    VK_LONGPOLL: "off",
    VK_GROUP_ID: "42",
    VK_CALLBACK_CONFIRMATION: "confirm-me",
    VK_CALLBACK_SECRET: "callback-secret-0123456789",
    HOST: "127.0.0.1",
    PORT: "0",
  }, dirs.cwd);
  const status = await (await fetch(`${await service.url()}/api/status`)).json();
  assert.deepEqual(status.destinations.map((d: { name: string }) => d.name), ["outside"]);
});

Deno.test("the start task's permissions stay narrow: nothing else outside the working directory", async () => {
  await using dirs = await layout();
  const env = { ROUTES_FILE: `${dirs.etc}/routes.json`, DATA_DIR: `${dirs.etc}/data` };
  const flags = await startTaskFlags(env, dirs.cwd);
  // A probe with exactly the service's flags tries each access for real.
  const probe = `${dirs.cwd}/probe.ts`;
  await Deno.writeTextFile(
    probe,
    `const tries = {
      routes: () => Deno.readTextFileSync(${JSON.stringify(env.ROUTES_FILE)}),
      cwd: () => Deno.readTextFileSync("probe.ts"),
      writeData: () => Deno.mkdirSync(${JSON.stringify(env.DATA_DIR)}, { recursive: true }),
      sibling: () => Deno.readTextFileSync(${JSON.stringify(`${dirs.etc}/other.json`)}),
      etcDir: () => [...Deno.readDirSync(${JSON.stringify(dirs.etc)})],
      passwd: () => Deno.readTextFileSync("/etc/passwd"),
      writeRoutes: () => Deno.writeTextFileSync(${JSON.stringify(env.ROUTES_FILE)}, "{}"),
    };
    const result = {};
    for (const [name, attempt] of Object.entries(tries)) {
      try { attempt(); result[name] = "allowed"; } catch (e) { result[name] = e.name; }
    }
    console.log(JSON.stringify(result));`,
  );
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", ...flags.filter((f) => !f.startsWith("--v8-flags")), probe],
    cwd: dirs.cwd,
    stdout: "piped",
  }).output();
  assert.deepEqual(JSON.parse(new TextDecoder().decode(output.stdout)), {
    routes: "allowed",
    cwd: "allowed",
    writeData: "allowed",
    sibling: "NotCapable",
    etcDir: "NotCapable",
    passwd: "NotCapable",
    writeRoutes: "NotCapable",
  });
});
