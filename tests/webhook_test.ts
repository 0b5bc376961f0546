import assert from "node:assert/strict";
import { createDeliverer } from "../src/deliver/deliverer.ts";
import { signWebhook } from "../src/deliver/signing.ts";
import { createWebhookSink, parseRetryAfter } from "../src/deliver/kinds/webhook.ts";
import { Metrics } from "../src/status/metrics.ts";
import { openKvStore } from "../src/store/kv_store.ts";

const SECRET = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

/** A real receiver on 127.0.0.1 that answers from a script and records every request. */
function receiver(answer: (n: number) => Response | Promise<Response>) {
  const received: { headers: Headers; body: string }[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    received.push({ headers: req.headers, body: await req.text() });
    return await answer(received.length);
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/hook`,
    received,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

Deno.test("signWebhook() matches the Standard Webhooks test vector", async () => {
  const body =
    '{"type":"contact.created","timestamp":"2022-11-03T20:26:10.344522Z","data":{"id":"1f81eb52"}}';
  assert.equal(
    await signWebhook(SECRET, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", 1674087231, body),
    "v1,Fq6cwFrOOrcl4FH7qVhQX9CG58oW88+xEPEV7L71rKk=",
  );
});

Deno.test("createWebhookSink() posts the event signed, with a stable webhook-id", async () => {
  await using hook = receiver(() => new Response("ok"));
  const sink = createWebhookSink({
    name: "w",
    url: hook.url,
    secret: SECRET,
    timeoutMs: 2000,
    now: () => 1674087231,
  });
  const body = JSON.stringify({ event_id: "e1", text: "hi" });
  assert.deepEqual(await sink.deliver([{ eventId: "e1", body }]), [{ status: "delivered" }]);
  const [req] = hook.received;
  assert.equal(req!.body, body);
  assert.equal(req!.headers.get("content-type"), "application/json");
  assert.equal(req!.headers.get("webhook-id"), "e1");
  assert.equal(req!.headers.get("webhook-timestamp"), "1674087231");
  assert.equal(
    req!.headers.get("webhook-signature"),
    await signWebhook(SECRET, "e1", 1674087231, body),
  );
});

Deno.test("createWebhookSink() classifies answers: 2xx delivered, 408/429/5xx retried, other 4xx dead", async (t) => {
  const cases: [number, string][] = [
    [200, "delivered"],
    [204, "delivered"],
    [408, "retry"],
    [429, "retry"],
    [503, "retry"],
    [400, "dead"],
    [404, "dead"],
  ];
  for (const [status, fate] of cases) {
    await t.step(`HTTP ${status}`, async () => {
      await using hook = receiver(() => new Response(null, { status }));
      const sink = createWebhookSink({ name: "w", url: hook.url, secret: null, timeoutMs: 2000 });
      const [outcome] = await sink.deliver([{ eventId: "e", body: "{}" }]);
      assert.equal(outcome!.status, fate);
    });
  }
});

Deno.test("createWebhookSink() retries a timeout and honours Retry-After", async () => {
  await using slow = receiver(() =>
    new Promise((r) => setTimeout(() => r(new Response("late")), 500))
  );
  const timeoutSink = createWebhookSink({ name: "w", url: slow.url, secret: null, timeoutMs: 100 });
  const [timedOut] = await timeoutSink.deliver([{ eventId: "e", body: "{}" }]);
  assert.deepEqual(timedOut, {
    status: "retry",
    error: `POST http://127.0.0.1:${new URL(slow.url).port}/… failed: timed out`,
  });

  await using busy = receiver(() =>
    new Response(null, { status: 429, headers: { "retry-after": "120" } })
  );
  const [outcome] = await createWebhookSink({
    name: "w",
    url: busy.url,
    secret: null,
    timeoutMs: 2000,
  })
    .deliver([{ eventId: "e", body: "{}" }]);
  assert.equal(outcome?.status === "retry" && outcome.retryAfterMs, 120_000);
  assert.equal(
    parseRetryAfter("Wed, 21 Oct 2015 07:28:10 GMT", Date.parse("Wed, 21 Oct 2015 07:28:00 GMT")),
    10_000,
  );
  assert.equal(parseRetryAfter("soon"), null);
});

Deno.test("a webhook answering 503 is parked, retried with the same webhook-id, then delivered", async () => {
  await using hook = receiver((n) =>
    new Response(null, {
      status: n <= 2 ? 503 : 200,
      headers: n === 1 ? { "retry-after": "30" } : {},
    })
  );
  const dir = await Deno.makeTempDir();
  await using store = await openKvStore(dir);
  let now = 0;
  const metrics = new Metrics();
  const deliverer = createDeliverer({
    sinks: new Map([[
      "w",
      createWebhookSink({ name: "w", url: hook.url, secret: SECRET, timeoutMs: 2000 }),
    ]]),
    store,
    deadLetterSink: null,
    metrics,
    attempts: 5,
    maxAgeS: 3600,
    scheduleS: [5, 60],
    now: () => now,
  });
  await deliverer.deliver([{ destination: "w", eventId: "evt-9", body: '{"n":9}' }]);
  const [parked] = await store.due(Infinity, 10);
  assert.equal(parked!.nextAttemptAt, 30_000, "Retry-After (30 s) beats the schedule (5 s)");
  now = 30_000;
  await deliverer.retryDue();
  assert.equal(await store.parkedCount(), 1, "the second 503 parks it again");
  now = 90_000;
  await deliverer.retryDue();
  assert.equal(await store.parkedCount(), 0);
  assert.deepEqual(hook.received.map((r) => r.headers.get("webhook-id")), [
    "evt-9",
    "evt-9",
    "evt-9",
  ]);
  assert.equal(metrics.sum("vk_router_delivered_total"), 1);
  assert.equal(metrics.sum("vk_router_retried_total"), 2);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a webhook answering 400 goes straight to the dead letter with status and error", async () => {
  await using hook = receiver(() => new Response("bad", { status: 400 }));
  const dir = await Deno.makeTempDir();
  await using store = await openKvStore(dir);
  const deliverer = createDeliverer({
    sinks: new Map([[
      "w",
      createWebhookSink({ name: "w", url: hook.url, secret: null, timeoutMs: 2000 }),
    ]]),
    store,
    deadLetterSink: null,
    metrics: new Metrics(),
    attempts: 5,
    maxAgeS: 3600,
  });
  await deliverer.deliver([{ destination: "w", eventId: "evt-1", body: '{"n":1}' }]);
  assert.equal(await store.parkedCount(), 0);
  const [letter] = await store.takeDeadLetters(10);
  assert.match(letter!.id, /^dl_[0-9a-f]{28}$/);
  assert.equal(letter!.first_failed_at, letter!.failed_at, "failed at the first attempt");
  assert.deepEqual(
    { ...letter, failed_at: 0, first_failed_at: 0, id: "" },
    {
      id: "",
      reason: "delivery_failed",
      destination: "w",
      event_id: "evt-1",
      attempts: 1,
      last_error: `HTTP 400 from http://127.0.0.1:${new URL(hook.url).port}/…: bad`,
      last_status: 400,
      failed_at: 0,
      first_failed_at: 0,
      event: { n: 1 },
    },
  );
  assert.equal(hook.received.length, 1);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a webhook's failure names the URL without its path or query, the status, the start of the answer and the cause", async () => {
  await using hook = receiver(() =>
    new Response(`{"error":"database\nis down"}${"x".repeat(5000)}`, { status: 503 })
  );
  const url = `${hook.url}/T000/B000/secret-path?token=query-secret`;
  const [outcome] = await createWebhookSink({ name: "w", url, secret: null, timeoutMs: 2000 })
    .deliver([{ eventId: "e", body: "{}" }]);
  assert.equal(outcome!.status, "retry");
  const error = (outcome as { error: string }).error;
  const host = `127.0.0.1:${new URL(hook.url).port}`;
  assert.ok(
    error.startsWith(`HTTP 503 from http://${host}/…: {"error":"database is down"}xxx`),
    error,
  );
  assert.ok(error.length < 300, "the body is cut");
  assert.doesNotMatch(error, /secret-path|query-secret/);

  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (closed.addr as Deno.NetAddr).port;
  closed.close(); // nothing listens there now
  const [refused] = await createWebhookSink({
    name: "w",
    url: `http://127.0.0.1:${port}/in?token=query-secret`,
    secret: null,
    timeoutMs: 2000,
  }).deliver([{ eventId: "e", body: "{}" }]);
  const reason = (refused as { error: string }).error;
  assert.match(
    reason,
    new RegExp(
      `^POST http://127\\.0\\.0\\.1:${port}/… failed: .*127\\.0\\.0\\.1:${port}.*[Cc]onnection refused`,
    ),
  );
  assert.doesNotMatch(reason, /query-secret/);
});
