/**
 * The secure defaults as an operator meets them: the real service process, its JSON log
 * lines and exit codes, the fake VK behind it.
 */
import assert from "node:assert/strict";
import { startFakeVk } from "./support/fake_vk.ts";
import { spawnService } from "./support/service_process.ts";
import { waitFor } from "./support/wait.ts";

interface LogLine {
  level: string;
  logger: string;
  message: string;
}

/** The service's JSON log lines (anything else it printed is left out). */
function logLines(output: string): LogLine[] {
  return output.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
}

Deno.test("without STATUS_TOKEN: one warning at start, counts only on the page, no actions", async () => {
  await using vk = await startFakeVk({ tokens: { 42: "open-page-token" } });
  vk.users.set(7, { id: 7, first_name: "Анна", last_name: "Иванова", domain: "anna" });
  vk.chats.set(2000000001, "Private chat of the board");
  await using service = await spawnService({
    VK_TOKEN: "open-page-token",
    VK_GROUP_ID: "42",
    VK_API_URL: vk.apiUrl,
    VK_LONGPOLL_WAIT: "1",
    PORT: "0",
  });
  const url = await service.url();
  assert.match(url, /^http:\/\/127\.0\.0\.1:/, "loopback by default");
  await waitFor(() => (vk.calls.get("a_check") ?? 0) > 0, "the first poll");
  vk.push(
    Array.from({ length: 3 }, (_, i) => ({
      type: "message_new",
      event_id: `open-page-event-${i}`,
      group_id: 42,
      object: {
        message: {
          from_id: 7,
          peer_id: 2000000001,
          text: `the board's secret plan ${i}`,
          conversation_message_id: i,
        },
      },
    })),
    42,
  );
  let status: {
    view: string;
    events_received_total: number;
    recent_events: Record<string, unknown>[];
  } = { view: "", events_received_total: 0, recent_events: [] };
  await waitFor(async () => {
    status = await (await fetch(`${url}/api/status`)).json();
    return status.recent_events.length === 3;
  }, "three events handled");
  assert.ok(
    service.output().includes("Анна Иванова"),
    "the events were enriched with names (and the log destination shows them to the operator)",
  );
  const page = await (await fetch(`${url}/`)).text();
  const api = await (await fetch(`${url}/api/status`)).text();
  for (const [where, text] of Object.entries({ "/": page, "/api/status": api })) {
    for (const personal of ["Анна", "Иванова", "Private chat", "secret plan", "open-page-event"]) {
      assert.ok(!text.includes(personal), `${personal} shows on ${where}`);
    }
  }
  assert.equal(status.view, "aggregates");
  assert.equal(status.events_received_total, 3);
  assert.equal(status.recent_events[0]!.event_type, "message_new");

  for (const path of ["/dead-letters/replay", "/tasks/retry"]) {
    const res = await fetch(`${url}${path}`, { method: "POST" });
    assert.equal(res.status, path === "/tasks/retry" ? 404 : 403, path);
    await res.body?.cancel();
  }
  const replay = await fetch(`${url}/dead-letters/replay`, { method: "POST" });
  assert.match((await replay.json()).error, /needs STATUS_TOKEN/);

  assert.equal(await service.stop(), 0);
  const warnings = logLines(service.output()).filter((l) => l.level === "WARN");
  const about = warnings.filter((l) => /STATUS_TOKEN/.test(l.message));
  assert.equal(about.length, 1, "one warning line about the token");
  assert.equal(about[0]!.logger, "vk-event-router.http");
  assert.match(about[0]!.message, /^STATUS_TOKEN is not set: .* show counts only/);
});

Deno.test("the Callback API without VK_CALLBACK_SECRET stops the start, naming the variable", async () => {
  await using service = await spawnService({
    VK_GROUP_ID: "42",
    VK_LONGPOLL: "off",
    VK_CALLBACK_CONFIRMATION: "d8v2ve07",
  });
  assert.equal(await service.exited, 2);
  assert.match(
    service.output(),
    /^error: VK_CALLBACK_SECRET: required with VK_CALLBACK_CONFIRMATION, or anyone can post forged events .*Callback API → Secret key/m,
  );
});

Deno.test("VK_CALLBACK_INSECURE_NO_SECRET: unsigned callbacks accepted, with a warning at start", async () => {
  await using service = await spawnService({
    VK_GROUP_ID: "42",
    VK_LONGPOLL: "off",
    VK_CALLBACK_CONFIRMATION: "d8v2ve07",
    VK_CALLBACK_INSECURE_NO_SECRET: "1",
    STATUS_TOKEN: "status-token-0123456789",
    PORT: "0",
  });
  const url = await service.url();
  const res = await fetch(`${url}/callback`, {
    method: "POST",
    body: JSON.stringify({
      type: "message_new",
      event_id: "unsigned-1",
      group_id: 42,
      object: { message: { from_id: 1, peer_id: 1, text: "hi", conversation_message_id: 1 } },
    }),
  });
  assert.equal(await res.text(), "ok");
  assert.equal(await service.stop(), 0);
  const warnings = logLines(service.output()).filter((l) => l.level === "WARN");
  assert.deepEqual(
    warnings.map((l) => l.message.split(":")[0]),
    ["VK_CALLBACK_INSECURE_NO_SECRET is set"],
    "that warning, and none about the token, which is set",
  );
});

Deno.test("a 15-character STATUS_TOKEN stops the start without printing it", async () => {
  await using service = await spawnService({
    VK_TOKEN: "start-token-value",
    VK_GROUP_ID: "42",
    STATUS_TOKEN: "abcdefghijklmno",
  });
  assert.equal(await service.exited, 2);
  assert.match(service.output(), /^error: STATUS_TOKEN: must be at least 16 characters, got 15/m);
  assert.doesNotMatch(service.output(), /abcdefghijklmno|start-token-value/);
});
