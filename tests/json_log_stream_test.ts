/**
 * With `LOG_FORMAT=json` the service's output is a stream of JSON lines that a log shipper
 * parses line by line (a container's stdout and stderr end up in one stream): nothing
 * the runtime prints may land there, on any normal path.
 */
import assert from "node:assert/strict";
import { startFakeVk } from "./support/fake_vk.ts";
import { spawnService } from "./support/service_process.ts";
import { waitFor } from "./support/wait.ts";

const SECRET = "json-stream-callback-secret";
const STATUS_TOKEN = "json-stream-status-token";

Deno.test("LOG_FORMAT=json: every line it prints is JSON, from start through callbacks, logins and the page to stop", async () => {
  await using service = await spawnService({
    VK_GROUP_ID: "42",
    VK_LONGPOLL: "off",
    VK_CALLBACK_CONFIRMATION: "conf-json",
    VK_CALLBACK_SECRET: SECRET,
    STATUS_TOKEN,
    PORT: "0",
    LOG_FORMAT: "json",
  });
  const url = await service.url();
  const post = async (path: string, body: BodyInit, headers: Record<string, string> = {}) => {
    const res = await fetch(`${url}${path}`, { method: "POST", body, headers, redirect: "manual" });
    await res.body?.cancel();
    return res.status;
  };
  const event = (i: number) =>
    JSON.stringify({
      type: "message_new",
      event_id: `json-stream-${i}`,
      group_id: 42,
      secret: SECRET,
      object: { message: { from_id: 7, peer_id: 7, text: `hello ${i}`, date: 1709107923 } },
    });
  for (let i = 0; i < 3; i++) assert.equal(await post("/callback", event(i)), 200);
  assert.equal(await post("/callback", "not json"), 400);
  assert.equal(await post("/login", new URLSearchParams({ token: "wrong-token" })), 401);
  assert.equal(await post("/login", new URLSearchParams({ token: STATUS_TOKEN })), 303);
  for (const path of ["/healthz", "/readyz", "/api/status", "/metrics", "/"]) {
    const res = await fetch(`${url}${path}`, {
      headers: { authorization: `Bearer ${STATUS_TOKEN}` },
    });
    await res.body?.cancel();
    assert.equal(res.status, 200, path);
  }
  assert.equal(await service.stop("SIGTERM"), 0);
  const lines = service.output().split("\n").filter((l) => l !== "");
  assert.ok(lines.length > 5, "the service logged");
  for (const line of lines) {
    assert.doesNotThrow(() => JSON.parse(line), `not a JSON line: ${line}`);
  }
});

Deno.test("LOG_FORMAT=json: every line it prints is JSON on the long-poll path too", async () => {
  await using vk = await startFakeVk({ tokens: { 42: "json-stream-vk-token" } });
  await using service = await spawnService({
    VK_TOKEN: "json-stream-vk-token",
    VK_GROUP_ID: "42",
    VK_API_URL: vk.apiUrl,
    VK_LONGPOLL_WAIT: "1",
    PORT: "0",
    LOG_FORMAT: "json",
  });
  const url = await service.url();
  await waitFor(() => (vk.calls.get("a_check") ?? 0) > 0, "the first poll");
  vk.push(
    Array.from({ length: 3 }, (_, i) => ({
      type: "message_new",
      event_id: `json-poll-${i}`,
      group_id: 42,
      object: { message: { from_id: 7, peer_id: 7, text: `hi ${i}`, conversation_message_id: i } },
    })),
    42,
  );
  await waitFor(async () => {
    const status = await (await fetch(`${url}/api/status`)).json();
    return status.events_received_total === 3;
  }, "three events handled");
  assert.equal(await service.stop("SIGTERM"), 0);
  for (const line of service.output().split("\n").filter((l) => l !== "")) {
    assert.doesNotThrow(() => JSON.parse(line), `not a JSON line: ${line}`);
  }
});
