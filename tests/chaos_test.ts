/**
 * The reliability suite: the real service against the fake VK, a private Redis and a
 * webhook receiver, with crashes and every dependency failing in turn. The promise it
 * checks: no event VK delivered is lost or pushed twice, and the service keeps running.
 *
 * Bounded by default (part of `deno task test`); `CHAOS=full` (`deno task test:chaos`)
 * runs the full version: 50 kills over 10,000 events, a 30 s Redis outage, a webhook down
 * for two minutes.
 */
import { redisKeys } from "../src/redis/keys.ts";
import assert from "node:assert/strict";
import { signWebhook } from "../src/deliver/signing.ts";
import { startFakeVk } from "./support/fake_vk.ts";
import { startRedisServer } from "./support/redis_server.ts";
import { type ServiceProcess, spawnService } from "./support/service_process.ts";
import { startUpstashGateway } from "../dev/upstash_gateway.ts";
import { waitFor } from "./support/wait.ts";
import { RespConnection } from "../src/redis/resp_connection.ts";

const FULL = Deno.env.get("CHAOS") === "full";
const HOOK_SECRET = "whsec_Y2hhb3Mtd2ViaG9vay1zZWNyZXQtb2YtMzItYnl0ZXM=";
const report = (line: string) =>
  Deno.stderr.writeSync(new TextEncoder().encode(`chaos: ${line}\n`));

/** A webhook receiver that records every request and can be switched to 503. */
function webhookReceiver() {
  const received = new Map<string, number>();
  const bad: string[] = [];
  let down = false;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const body = await req.text();
    if (down) return new Response("down", { status: 503 });
    const id = req.headers.get("webhook-id") ?? "";
    const event = JSON.parse(body);
    if (id !== event.event_id) bad.push(`webhook-id ${id} for event ${event.event_id}`);
    const expected = await signWebhook(
      HOOK_SECRET,
      id,
      Number(req.headers.get("webhook-timestamp")),
      body,
    );
    if (req.headers.get("webhook-signature") !== expected) bad.push(`bad signature for ${id}`);
    received.set(id, (received.get(id) ?? 0) + 1);
    return new Response("ok");
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/hook`,
    received,
    bad,
    setDown: (d: boolean) => down = d,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

async function chaosSetup(routesDir: string, listKey: string, hookUrl: string) {
  await Deno.writeTextFile(
    `${routesDir}/routes.json`,
    JSON.stringify({
      destinations: {
        list: { kind: "redis-list", key: listKey, push: "rpush" },
        hook: { kind: "webhook", url: hookUrl, secret_env: "HOOK_SECRET", timeout_ms: 1000 },
      },
      rules: [{ to: ["list", "hook"] }],
      retry: { attempts: 1000, max_age_s: 86400 },
    }),
  );
}

const message = (id: string) => ({
  type: "message_new",
  event_id: id,
  group_id: 42,
  object: {
    message: {
      from_id: 1 + (id.length % 7),
      peer_id: 2000000001,
      text: `chaos ${id}`,
      conversation_message_id: 1,
    },
  },
});

async function listIds(redisUrl: string, key: string): Promise<string[]> {
  const conn = new RespConnection({ url: redisUrl, connectTimeoutMs: 2000 });
  try {
    const [items] = await conn.send([["LRANGE", key, "0", "-1"]]);
    return (items as string[]).map((s) => JSON.parse(s).event_id);
  } finally {
    conn.close();
  }
}

Deno.test({
  name: `chaos: ${FULL ? 50 : 8} SIGKILLs while ${
    FULL ? "10,000" : "1,000"
  } events flow by long poll and Callback API`,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const KILLS = FULL ? 50 : 8;
    const EVENTS = FULL ? 10_000 : 1_000;
    await using redis = await startRedisServer();
    await using vk = await startFakeVk({ tokens: { 42: "chaos-token" } });
    await using hook = webhookReceiver();
    const dir = await Deno.makeTempDir({ prefix: "vk-router-chaos-" });
    await chaosSetup(dir, "chaos:list", hook.url);
    const env = {
      VK_TOKEN: "chaos-token",
      VK_GROUP_ID: "42",
      VK_API_URL: vk.apiUrl,
      VK_LONGPOLL_WAIT: "1",
      VK_CALLBACK_CONFIRMATION: "conf",
      VK_CALLBACK_SECRET: "cb-secret-0123456789",
      ROUTES_FILE: "routes.json",
      HOOK_SECRET,
      REDIS_URL: redis.url,
      RETRY_SCHEDULE_S: "0.2",
      ENRICH_DEADLINE_MS: "100",
      HOST: "127.0.0.1",
      PORT: "0",
      // Each restart is the same replica: it takes its lease back at once (no TTL wait).
      INSTANCE_ID: "chaos",
    };
    const seed = new RespConnection({ url: redis.url, connectTimeoutMs: 2000 });
    await seed.send([["SET", redisKeys("vk-router:").checkpoint(42), "0"]]);
    seed.close();

    let current: ServiceProcess | null = null;
    let currentUrl: string | null = null;
    const pendingCallbacks: string[] = [];
    let produced = 0;
    const producing = (async () => {
      const perTick = Math.ceil(EVENTS / (KILLS * 20));
      while (produced < EVENTS) {
        const batch: unknown[] = [];
        for (let i = 0; i < perTick && produced < EVENTS; i++, produced++) {
          const id = `c${produced}`;
          if (produced % 10 === 0) pendingCallbacks.push(id);
          else batch.push(message(id));
        }
        if (batch.length > 0) vk.push(batch, 42);
        await new Promise((r) => setTimeout(r, 40));
      }
    })();
    // VK redelivers a callback until it gets "ok": so does this loop, at whichever instance is up.
    let stopCallbacks = false;
    const calling = (async () => {
      while (!stopCallbacks || pendingCallbacks.length > 0) {
        const id = pendingCallbacks[0];
        const url = currentUrl;
        if (id === undefined || url === null) {
          await new Promise((r) => setTimeout(r, 20));
          continue;
        }
        const ok = await fetch(`${url}/callback`, {
          method: "POST",
          body: JSON.stringify({ ...message(id), secret: "cb-secret-0123456789" }),
          signal: AbortSignal.timeout(3000),
        }).then(async (r) => r.status === 200 && await r.text() === "ok", () => false);
        if (ok) pendingCallbacks.shift();
        else await new Promise((r) => setTimeout(r, 50));
      }
    })();

    for (let kill = 0; kill < KILLS; kill++) {
      current = await spawnService(env, dir);
      currentUrl = await current.url().catch(() => null);
      await new Promise((r) => setTimeout(r, 200 + Math.random() * 900));
      currentUrl = null;
      current.child.kill("SIGKILL");
      await current.exited;
    }
    await producing;
    current = await spawnService(env, dir);
    currentUrl = await current.url();
    stopCallbacks = true;
    await calling;
    await waitFor(
      async () => (await listIds(redis.url, "chaos:list")).length >= EVENTS,
      `${EVENTS} events in the list`,
      120_000,
    );
    await waitFor(() => hook.received.size >= EVENTS, `${EVENTS} webhooks`, 120_000);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await current.stop(), 0);

    const ids = await listIds(redis.url, "chaos:list");
    const duplicates = ids.length - new Set(ids).size;
    const lost = [...Array(EVENTS).keys()].filter((n) => !ids.includes(`c${n}`)).length;
    const redelivered = [...hook.received.values()].filter((n) => n > 1).length;
    report(
      `${KILLS} kills survived; ${EVENTS} events (${
        EVENTS / 10
      } by callback); lost ${lost}, duplicates ${duplicates}; webhooks: ${hook.received.size} ids, ${redelivered} received more than once`,
    );
    assert.equal(lost, 0, "events lost");
    assert.equal(duplicates, 0, "events pushed twice");
    assert.deepEqual(hook.bad, [], "every webhook carried its event id and a valid signature");
    for (let n = 0; n < EVENTS; n++) assert.ok(hook.received.has(`c${n}`), `webhook for c${n}`);
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name:
    "chaos: Redis, Upstash, the webhook and VK fail in turn; nothing is lost, the service keeps running",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const REDIS_OUTAGE_MS = FULL ? 30_000 : 3_000;
    const HOOK_DOWN_MS = FULL ? 120_000 : 4_000;
    const GATEWAY_500_MS = FULL ? 10_000 : 2_000;
    await using redis = await startRedisServer();
    await using gateway = startUpstashGateway(redis.url);
    await using vk = await startFakeVk({ tokens: { 42: "chaos-token" } });
    vk.users.set(1, { id: 1, first_name: "A", last_name: "B", domain: "ab" });
    await using hook = webhookReceiver();
    const dir = await Deno.makeTempDir({ prefix: "vk-router-faults-" });
    await chaosSetup(dir, "faults:list", hook.url);
    const seed = new RespConnection({ url: redis.url, connectTimeoutMs: 2000 });
    await seed.send([["SET", redisKeys("vk-router:").checkpoint(42), "0"]]);
    seed.close();
    await using service = await spawnService({
      VK_TOKEN: "chaos-token",
      VK_GROUP_ID: "42",
      VK_API_URL: vk.apiUrl,
      VK_LONGPOLL_WAIT: "1",
      VK_LONGPOLL_GRACE_MS: "500",
      ROUTES_FILE: "routes.json",
      HOOK_SECRET,
      UPSTASH_REDIS_REST_URL: gateway.url,
      UPSTASH_REDIS_REST_TOKEN: gateway.token,
      REDIS_TIMEOUT_MS: "1000",
      RETRY_SCHEDULE_S: "0.5",
      ENRICH_DEADLINE_MS: "200",
      STATUS_TOKEN: "status-token-0123456789",
      HOST: "127.0.0.1",
      PORT: "0",
    }, dir);
    const url = await service.url();
    let produced = 0;
    const produce = (n: number) => {
      vk.push(Array.from({ length: n }, (_, i) => message(`f${produced + i}`)), 42);
      produced += n;
    };
    const caughtUp = () =>
      waitFor(
        async () => (await listIds(redis.url, "faults:list").catch(() => [])).length >= produced,
        "the router to catch up",
        60_000,
      );
    const faults: string[] = [];

    produce(50);
    await caughtUp();
    // failed: 1 only while nothing is pending: VK's answer skips to its newest ts.
    vk.pollFault([{ failed: 1 }]);
    faults.push("failed: 1");
    await waitFor(
      () => vk.pollRequests.length > 0 && vk.calls.get("a_check")! > 3,
      "a poll after failed: 1",
    );
    const script = [
      { failed: 2 },
      { failed: 3 },
      { status: 500 },
      { status: 403 },
      "hang",
      "reset",
      "garbage",
      "no_ts",
    ] as const;
    vk.pollFault([...script]);
    faults.push(...script.map((f) => typeof f === "string" ? f : JSON.stringify(f)));
    vk.apiFault("users.get", [{ error_code: 6 }, { error_code: 10 }]);
    faults.push("API error 6", "API error 10");

    const flow = setInterval(() => produce(5), 100);
    try {
      hook.setDown(true);
      faults.push(`webhook 503 for ${HOOK_DOWN_MS / 1000} s`);
      await new Promise((r) => setTimeout(r, 500));
      gateway.setFailing(true);
      faults.push(`Upstash 500 for ${GATEWAY_500_MS / 1000} s`);
      await new Promise((r) => setTimeout(r, GATEWAY_500_MS));
      gateway.setFailing(false);
      await redis.stop();
      faults.push(`Redis down for ${REDIS_OUTAGE_MS / 1000} s`);
      await new Promise((r) => setTimeout(r, REDIS_OUTAGE_MS));
      await redis.start();
      const rest = HOOK_DOWN_MS - GATEWAY_500_MS - REDIS_OUTAGE_MS - 500;
      if (rest > 0) await new Promise((r) => setTimeout(r, rest));
      hook.setDown(false);
    } finally {
      clearInterval(flow);
    }
    await caughtUp();
    await waitFor(() => hook.received.size >= produced - 0, `${produced} webhooks`, 120_000);

    const health = await fetch(`${url}/healthz`);
    assert.equal(health.status, 200, "the service is still running");
    await health.body?.cancel();
    const status = await (await fetch(`${url}/api/status`, {
      headers: { authorization: "Bearer status-token-0123456789" },
    }))
      .json();
    const ids = await listIds(redis.url, "faults:list");
    const list = status.destinations.find((d: { name: string }) => d.name === "list");
    const webhook = status.destinations.find((d: { name: string }) => d.name === "hook");
    report(
      `faults injected: ${faults.length} (${faults.join(", ")}); ${produced} events; lost ${
        produced - new Set(ids).size
      }, duplicates ${ids.length - new Set(ids).size}`,
    );
    assert.equal(new Set(ids).size, produced, "nothing lost");
    assert.equal(ids.length, produced, "nothing pushed twice");
    for (let n = 0; n < produced; n++) assert.ok(hook.received.has(`f${n}`), `webhook for f${n}`);
    assert.deepEqual(hook.bad, []);
    assert.equal(list.delivered, produced, "each event pushed once");
    // Redis down for longer than the lease's TTL: the service cannot renew its lease and, as
    // it must, stops polling; after the outage it takes the lease again and polls the batch
    // it was handling again. That batch reaches Redis once (dedup markers) but is received
    // again and posted again (receivers dedupe by webhook-id). Without a lost lease, exact.
    const metrics = await (await fetch(`${url}/metrics`, {
      headers: { authorization: "Bearer status-token-0123456789" },
    })).text();
    const leasesLost = [...metrics.matchAll(/^vk_router_lease_lost_total\{[^}]*\} (\d+)$/gm)]
      .reduce((n, m) => n + Number(m[1]), 0);
    const again = leasesLost * 100 * 8; // at most the batches in flight (depth 8 of <= 100)
    report(`leases lost: ${leasesLost}; received ${status.events_received_total} for ${produced}`);
    assert.ok(
      status.events_received_total >= produced && status.events_received_total <= produced + again,
      `each event received once, but for the batch in flight at a lost lease: ${status.events_received_total} for ${produced}, ${leasesLost} leases lost`,
    );
    assert.ok(
      webhook.delivered >= produced && webhook.delivered <= produced + again,
      `each webhook delivered once, but for the batch in flight at a lost lease: ${webhook.delivered}`,
    );
    assert.ok(
      webhook.parked > 0 && webhook.retried > 0,
      "the webhook outage parked and retried events",
    );
    assert.equal(status.communities[0].history_lost, 1, "the failed: 1 is on the status page");
    assert.equal(status.communities[0].state, "polling");
    assert.equal(await service.stop(), 0);
    await Deno.remove(dir, { recursive: true });
  },
});
