/** Operations: structured logs, secrets kept out of every output, graceful stop mid-batch. */
import { redisKeys } from "../src/redis/keys.ts";
import assert from "node:assert/strict";
import { startFakeVk } from "./support/fake_vk.ts";
import { TEST_REDIS_URL, testRedis } from "./support/redis.ts";
import { spawnService } from "./support/service_process.ts";
import { waitFor } from "./support/wait.ts";

const message = (id: string, groupId = 42) => ({
  type: "message_new",
  event_id: id,
  group_id: groupId,
  object: {
    message: { from_id: 7, peer_id: 2000000001, text: `text of ${id}`, conversation_message_id: 1 },
  },
});

Deno.test("JSON log lines parse and carry the category and the properties", async () => {
  await using vk = await startFakeVk({ tokens: { 42: "json-token" } });
  await using service = await spawnService({
    VK_TOKEN: "json-token",
    VK_GROUP_ID: "42",
    VK_API_URL: vk.apiUrl,
    VK_LONGPOLL_WAIT: "1",
    PORT: "0",
    HOST: "127.0.0.1",
  });
  await waitFor(() => (vk.calls.get("a_check") ?? 0) > 0, "the first poll");
  vk.push([message("json-1")], 42);
  await waitFor(() => service.output().includes("json-1"), "the event line");
  assert.equal(await service.stop(), 0);
  const lines = service.output().trim().split("\n").map((l) => JSON.parse(l));
  assert.ok(lines.length >= 4);
  for (const line of lines) {
    assert.match(line["@timestamp"], /^\d{4}-\d\d-\d\dT/);
    assert.ok(["DEBUG", "INFO", "WARN", "ERROR", "FATAL"].includes(line.level));
    assert.match(line.logger, /^vk-event-router\./);
    assert.equal(typeof line.message, "string");
  }
  const event = lines.find((l) => l.logger === "vk-event-router.events");
  assert.equal(event.message, "Event message_new json-1 to console");
  assert.equal(event.destination, "console");
  assert.equal(event.event.text, "text of json-1");
  const connected = lines.find((l) =>
    l.logger === "vk-event-router.poll" && /connected/.test(l.message)
  );
  assert.equal(connected.groupId, 42);
});

Deno.test("no token or secret reaches stdout, stderr, log files, the status page or /api/status", async () => {
  const secrets = {
    VK_TOKEN: "vk1.a.SECRETvktoken0123456789abcdef",
    VK_CALLBACK_SECRET: "callback-secret-0a1b2c3d",
    STATUS_TOKEN: "status-token-9z8y7x6w",
    HOOK_SECRET: "whsec_c2VjcmV0LXdlYmhvb2sta2V5LTEyMzQ1Ng==",
  };
  await using vk = await startFakeVk({ tokens: { 42: "not-the-configured-token" } }); // a VK auth failure
  const hook = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("down", { status: 500 }),
  );
  const dir = await Deno.makeTempDir({ prefix: "vk-router-secrets-" });
  await Deno.writeTextFile(
    `${dir}/routes.json`,
    JSON.stringify({
      destinations: {
        hook: {
          kind: "webhook",
          url: `http://127.0.0.1:${hook.addr.port}/h`,
          secret_env: "HOOK_SECRET",
          timeout_ms: 1000,
        },
      },
      rules: [{ to: ["hook"] }],
    }),
  );
  await using service = await spawnService({
    ...secrets,
    VK_GROUP_ID: "42",
    VK_API_URL: vk.apiUrl,
    VK_CALLBACK_CONFIRMATION: "confirm-me",
    ROUTES_FILE: "routes.json",
    LOG_DIR: "./logs",
    LOG_LEVEL: "debug",
    RETRY_SCHEDULE_S: "0.2",
    HOST: "127.0.0.1",
    PORT: "0",
  }, dir);
  const url = await service.url();
  await waitFor(() => /token is invalid/.test(service.output()), "the VK auth failure");
  const res = await fetch(`${url}/callback`, {
    method: "POST",
    body: JSON.stringify({ ...message("s-1"), secret: secrets.VK_CALLBACK_SECRET }),
  });
  assert.equal(await res.text(), "ok");
  await waitFor(() => /HTTP 500/.test(service.output()), "the webhook failure");
  const auth = { authorization: `Bearer ${secrets.STATUS_TOKEN}` };
  const page = await (await fetch(`${url}/`, { headers: auth })).text();
  const status = await (await fetch(`${url}/api/status`, { headers: auth })).text();
  const metrics = await (await fetch(`${url}/metrics`, { headers: auth })).text();
  assert.equal(await service.stop(), 0);
  await hook.shutdown();
  const files = [...Deno.readDirSync(`${dir}/logs`)].map((f) =>
    Deno.readTextFileSync(`${dir}/logs/${f.name}`)
  ).join("\n");
  assert.match(files, /token is invalid/, "the log file got the lines too");
  const outputs = { output: service.output(), files, page, status, metrics };
  for (const [where, text] of Object.entries(outputs)) {
    for (const [name, value] of Object.entries(secrets)) {
      assert.ok(!text.includes(value), `${name} appears in ${where}`);
    }
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("SIGTERM during a batch: the batch is delivered and checkpointed, then exit 0", async () => {
  await using redis = testRedis();
  // Slow names make the batch take about a second, so the signal lands inside it.
  await using vk = await startFakeVk({ tokens: { 42: "term-token" }, apiLatencyMs: 800 });
  const dir = await Deno.makeTempDir({ prefix: "vk-router-term-" });
  const list = `${redis.prefix}q`;
  await Deno.writeTextFile(
    `${dir}/routes.json`,
    JSON.stringify({
      destinations: { q: { kind: "redis-list", key: list } },
      rules: [{ to: ["q"] }],
    }),
  );
  await redis.handle.redis.set(redisKeys(`${redis.prefix}router:`).checkpoint(42), "0");
  await using service = await spawnService({
    VK_TOKEN: "term-token",
    VK_GROUP_ID: "42",
    VK_API_URL: vk.apiUrl,
    VK_LONGPOLL_WAIT: "1",
    ROUTES_FILE: "routes.json",
    REDIS_URL: TEST_REDIS_URL,
    REDIS_PREFIX: `${redis.prefix}router:`,
    ENRICH_DEADLINE_MS: "3000",
    PORT: "0",
  }, dir);
  await waitFor(() => (vk.calls.get("a_check") ?? 0) > 0, "the first poll");
  vk.push(Array.from({ length: 10 }, (_, i) => message(`term-${i}`)), 42);
  await waitFor(() => (vk.calls.get("users.get") ?? 0) > 0, "enrichment of the batch to start");
  assert.equal(await redis.handle.redis.llen(list), 0, "the batch is still in flight");
  assert.equal(await service.stop("SIGTERM"), 0);
  assert.equal(await redis.handle.redis.llen(list), 10, "delivered before exit");
  assert.equal(
    await redis.handle.redis.get(redisKeys(`${redis.prefix}router:`).checkpoint(42)),
    "10",
    "and checkpointed",
  );
  assert.match(service.output(), /"message":"Stopped"/);
  await Deno.remove(dir, { recursive: true });
});
