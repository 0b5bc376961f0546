import assert from "node:assert/strict";
import { startFakeVk } from "./support/fake_vk.ts";
import { spawnService } from "./support/service_process.ts";
import { waitFor } from "./support/wait.ts";

Deno.test("deno task start exits 2 naming the JSON path of a typo in the routes file", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(
    `${dir}/routes.json`,
    JSON.stringify({
      destinations: { console: { kind: "log" } },
      rules: [{ when: { evnt_type: ["message_new"] }, to: ["console"] }],
    }),
  );
  await using service = await spawnService({
    VK_TOKEN: "t",
    VK_GROUP_ID: "1",
    ROUTES_FILE: "routes.json",
  }, dir);
  assert.equal(await service.exited, 2);
  assert.match(
    service.output(),
    /^error: routes\.json: \$\.rules\[0\]\.when\.evnt_type: unknown key$/m,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("deno task start logs events from the long poll and stops cleanly on SIGTERM", async () => {
  await using vk = await startFakeVk({ tokens: { 42: "tok-42" } });
  await using service = await spawnService({
    VK_TOKEN: "tok-42",
    VK_GROUP_ID: "42",
    VK_API_URL: vk.apiUrl,
    VK_LONGPOLL_WAIT: "1",
    PORT: "0",
  });
  await waitFor(() => (vk.calls.get("a_check") ?? 0) > 0, "the first poll");
  vk.push([{
    type: "message_new",
    event_id: "evt-1",
    group_id: 42,
    object: { message: { text: "hi" } },
  }], 42);
  await waitFor(() => service.output().includes("evt-1"), "the event in the log");
  assert.equal(await service.stop("SIGTERM"), 0);
  assert.match(service.output(), /"message":"Stopped"/);
  assert.doesNotMatch(service.output(), /tok-42/);
});

Deno.test("deno task start stops with a clear line on a rejected token", async () => {
  await using vk = await startFakeVk({ tokens: { 42: "the-right-token" } });
  await using service = await spawnService({
    VK_TOKEN: "a-wrong-token",
    VK_GROUP_ID: "42",
    VK_API_URL: vk.apiUrl,
    PORT: "0",
  });
  assert.equal(await service.exited, 1);
  assert.match(
    service.output(),
    /Long poll of community 42 stopped: VK error 5 .*token is invalid/,
  );
  assert.doesNotMatch(service.output(), /a-wrong-token|the-right-token/);
});
