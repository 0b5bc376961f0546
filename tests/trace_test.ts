/**
 * Traceable events: at LOG_LEVEL=debug the real service logs one line per step of an
 * event's life, each with the same fields, so one event_id finds them all.
 */
import assert from "node:assert/strict";
import { startFakeVk } from "./support/fake_vk.ts";
import { spawnService } from "./support/service_process.ts";
import { waitFor } from "./support/wait.ts";

const FIELDS = [
  "event_id",
  "event_type",
  "group_id",
  "destination",
  "rule",
  "instance_id",
  "attempt",
  "duration_ms",
];

const message = (id: string, text: string) => ({
  type: "message_new",
  event_id: id,
  group_id: 42,
  object: { message: { from_id: 7, peer_id: 7, text, conversation_message_id: 1 } },
});

Deno.test("one event traced by its event_id through every step, each line with the same fields", async () => {
  const answers = new Map<string, number[]>([["flaky", [503, 200]], ["refused", [400, 200]]]);
  await using hook = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const { text } = await req.json();
    const status = answers.get(text)?.shift() ?? 200;
    return new Response(status === 200 ? "ok" : `no: ${text}`, { status });
  });
  await using vk = await startFakeVk({ tokens: { 42: "trace-token" } });
  const dir = await Deno.makeTempDir({ prefix: "vk-router-trace-" });
  await Deno.writeTextFile(
    `${dir}/routes.json`,
    JSON.stringify({
      destinations: { hook: { kind: "webhook", url: `http://127.0.0.1:${hook.addr.port}/in` } },
      rules: [{
        name: "messages to the hook",
        when: { event_type: ["message_new"] },
        to: ["hook"],
      }],
    }),
  );
  await using service = await spawnService({
    VK_TOKEN: "trace-token",
    VK_GROUP_ID: "42",
    VK_API_URL: vk.apiUrl,
    VK_LONGPOLL_WAIT: "1",
    ROUTES_FILE: "routes.json",
    RETRY_SCHEDULE_S: "1",
    LOG_LEVEL: "debug",
    INSTANCE_ID: "tracer-1",
    STATUS_TOKEN: "trace-status-token",
    HOST: "127.0.0.1",
    PORT: "0",
  }, dir);
  const url = await service.url();
  await waitFor(() => (vk.calls.get("a_check") ?? 0) > 0, "the first poll");
  vk.push([
    message("ev-flaky", "flaky"),
    message("ev-refused", "refused"),
    { type: "group_join", event_id: "ev-join", group_id: 42, object: { user_id: 9 } },
  ], 42);
  const lines = () =>
    service.output().trim().split("\n").map((l) => JSON.parse(l)) as Record<string, unknown>[];
  const of = (id: string) => lines().filter((l) => l.event_id === id);
  await waitFor(
    () => of("ev-flaky").some((l) => /delivered/.test(String(l.message))),
    "flaky delivered",
    20_000,
  );
  await waitFor(
    () => of("ev-refused").some((l) => /dead-lettered/.test(String(l.message))),
    "refused dead-lettered",
  );

  const replay = await fetch(`${url}/dead-letters/replay`, {
    method: "POST",
    headers: { authorization: "Bearer trace-status-token" },
  });
  assert.equal(replay.status, 200, await replay.text());
  await waitFor(
    () => of("ev-refused").filter((l) => /delivered/.test(String(l.message))).length > 0,
    "the replayed letter delivered",
  );

  for (const id of ["ev-flaky", "ev-refused", "ev-join"]) {
    for (const line of of(id)) {
      if (line.logger !== "vk-event-router.trace") continue;
      for (const field of FIELDS) assert.ok(field in line, `${id}: ${line.message} has ${field}`);
      assert.equal(line.instance_id, "tracer-1");
    }
  }
  const steps = (id: string) =>
    of(id).filter((l) => l.logger === "vk-event-router.trace").map((l) => [
      l.level,
      String(l.message).replace(/^Event "?[\w-]+"? /, "").replace(/ .*/, ""),
    ]);
  assert.deepEqual(steps("ev-flaky"), [
    ["DEBUG", "received"],
    ["DEBUG", "routed"],
    ["WARN", "parked"],
    ["DEBUG", "delivered"],
  ]);
  assert.deepEqual(steps("ev-refused"), [
    ["DEBUG", "received"],
    ["DEBUG", "routed"],
    ["WARN", "dead-lettered"],
    ["DEBUG", "replayed"],
    ["DEBUG", "delivered"],
  ]);
  assert.deepEqual(steps("ev-join"), [["DEBUG", "received"], ["DEBUG", "unrouted:"]]);

  const flaky = of("ev-flaky");
  const received = flaky.find((l) => /received/.test(String(l.message)))!;
  assert.deepEqual(
    [received.source, received.event_type, received.group_id],
    ["long_poll", "message_new", 42],
  );
  assert.equal(flaky.find((l) => /routed/.test(String(l.message)))!.rule, "messages to the hook");
  const parked = flaky.find((l) => /parked/.test(String(l.message)))!;
  assert.deepEqual([parked.destination, parked.attempt], ["hook", 1]);
  assert.match(String(parked.error), /^HTTP 503 from http:\/\/127\.0\.0\.1:\d+\/…: no: flaky$/);
  assert.equal(typeof parked.next_attempt_at, "number");
  const delivered = flaky.find((l) => /delivered/.test(String(l.message)))!;
  assert.deepEqual([delivered.destination, delivered.attempt], ["hook", 2]);
  assert.equal(typeof delivered.duration_ms, "number");
  const dead = of("ev-refused").find((l) => /dead-lettered/.test(String(l.message)))!;
  assert.deepEqual([dead.reason, dead.attempt, dead.http_status], ["delivery_failed", 1, 400]);
  assert.equal(await service.stop(), 0);
  await Deno.remove(dir, { recursive: true });
});
