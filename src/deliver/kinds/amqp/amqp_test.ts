/**
 * The `amqp` kind against a real RabbitMQ: `TEST_AMQP_URL` when the runner gives one, else
 * a private node started here. Tests that stop the broker start a private node of their own.
 * @module
 */
import assert from "node:assert/strict";
import amqplib from "amqplib";
import type { Delivery, Outcome } from "../../types.ts";
import { openAmqpConnection, parseAmqpUrl } from "./connection.ts";
import { createAmqpSink, routingKeyOf, unknownPlaceholders } from "./sink.ts";
import { harness, startRabbitServer, type TestServer } from "./testing.ts";

let shared: TestServer | null = null;

/** The broker most tests share. */
async function brokerUrl(): Promise<string> {
  const given = Deno.env.get(harness.testUrlVariable);
  if (given) return given;
  shared ??= await startRabbitServer();
  return shared.url;
}

let counter = 0;
function uniqueId(): string {
  return `${Date.now().toString(36)}-${counter++}`;
}

function event(i: number, type = "message_new", group = 218730916): Delivery {
  const id = `evt-${i}-${crypto.randomUUID().slice(0, 8)}`;
  const body = JSON.stringify({ event_type: type, event_id: id, group_id: group, n: i });
  return { eventId: id, eventType: type, body };
}

function configOf(url: string) {
  const config = parseAmqpUrl(url, []);
  assert.ok(config, `unusable test URL`);
  return config;
}

const BROKER = { sanitizeOps: false, sanitizeResources: false };

Deno.test("AMQP_URL: amqp and amqps, default ports and vhost, shown without credentials", () => {
  const problems: string[] = [];
  const plain = parseAmqpUrl("amqp://router:s3cr%2Ft@mq.internal/prod", problems);
  assert.deepEqual(plain?.shown, "amqp://mq.internal:5672/prod");
  assert.deepEqual(plain?.passwords, ["s3cr/t", "s3cr%2Ft"]);
  assert.deepEqual(parseAmqpUrl("amqps://u:p@mq:5999", problems)?.shown, "amqps://mq:5999/%2F");
  assert.deepEqual(parseAmqpUrl("amqps://u:p@mq/", problems)?.shown, "amqps://mq:5671/%2F");
  assert.deepEqual(parseAmqpUrl("amqp://mq/%2Fother", problems)?.shown, "amqp://mq:5672/%2Fother");
  assert.deepEqual(parseAmqpUrl("amqp://mq", problems)?.passwords, []);
  assert.deepEqual(parseAmqpUrl(undefined, problems), null);
  assert.deepEqual(problems, []);
});

Deno.test("AMQP_URL: a problem line names the variable and never the value", () => {
  for (const bad of ["http://u:hunter2@mq:5672/", "amqp://u:hunter2@", "not a url hunter2"]) {
    const problems: string[] = [];
    assert.deepEqual(parseAmqpUrl(bad, problems), null);
    assert.deepEqual(problems.length, 1);
    assert.match(problems[0]!, /^AMQP_URL: /);
    assert.doesNotMatch(problems[0]!, /hunter2/);
  }
});

Deno.test("routing key: placeholders from the delivery, else the event; unknown ones listed", () => {
  const item = event(1, "wall_post_new", 42);
  assert.deepEqual(routingKeyOf("vk.{group_id}.{event_type}", item), "vk.42.wall_post_new");
  assert.deepEqual(
    routingKeyOf("{event_type}", { ...item, eventType: undefined }),
    "wall_post_new",
  );
  assert.deepEqual(routingKeyOf("fixed", item), "fixed");
  assert.deepEqual(routingKeyOf("{group_id}", { eventId: "x", body: "{}" }), {
    error: "routing key needs {group_id}, the event has none",
  });
  assert.deepEqual(routingKeyOf("x".repeat(256), item), {
    error: "routing key longer than 255 bytes",
  });
  assert.deepEqual(unknownPlaceholders("{event_type}.{peer_id}.{}"), ["peer_id", ""]);
});

/** Everything in `queue`, consumed. */
async function drain(url: string, queue: string) {
  const connection = await amqplib.connect(url);
  try {
    const channel = await connection.createChannel();
    const got = [];
    for (;;) {
      const message = await channel.get(queue, { noAck: true });
      if (message === false) return got;
      got.push(message);
    }
  } finally {
    await connection.close();
  }
}

Deno.test({
  name: "amqp sink: persistent JSON messages with message_id, type and timestamp, in order",
  ...BROKER,
  async fn() {
    const url = await brokerUrl();
    const target = await harness.provision(url, uniqueId());
    const connection = openAmqpConnection(configOf(url));
    try {
      const sink = createAmqpSink({
        name: "events",
        connection,
        exchange: target.exchange,
        routingKey: "vk.{group_id}.{event_type}",
        timeoutMs: 10_000,
        now: () => 1709107923,
      });
      const items = Array.from({ length: 250 }, (_, i) => event(i, i % 2 ? "a" : "b"));
      const outcomes = await sink.deliver(items);
      assert.deepEqual(outcomes, items.map(() => ({ status: "delivered" })));
      const got = await drain(url, target.queue);
      assert.deepEqual(got.map((m) => m.properties.messageId), items.map((i) => i.eventId));
      assert.deepEqual(got.map((m) => m.content.toString()), items.map((i) => i.body));
      const first = got[0]!;
      assert.deepEqual(first.fields.routingKey, "vk.218730916.b");
      assert.deepEqual(first.fields.exchange, target.exchange);
      assert.deepEqual(first.properties.type, "b");
      assert.deepEqual(first.properties.contentType, "application/json");
      assert.deepEqual(first.properties.deliveryMode, 2);
      assert.deepEqual(first.properties.timestamp, 1709107923);
    } finally {
      await connection.close();
      await target.cleanup();
    }
  },
});

Deno.test({
  name: "amqp sink: an unroutable message is a retry, the rest of its batch is delivered",
  ...BROKER,
  async fn() {
    const url = await brokerUrl();
    const target = await harness.provision(url, uniqueId());
    const connection = openAmqpConnection(configOf(url));
    try {
      // Bound with "#" on a topic exchange, so route by a key only some events match.
      const ch = await (await connection.connection()).createChannel();
      await ch.unbindQueue(target.queue, target.exchange, "#");
      await ch.bindQueue(target.queue, target.exchange, "routed");
      await ch.close();
      const sink = createAmqpSink({
        name: "events",
        connection,
        exchange: target.exchange,
        routingKey: "{event_type}",
        timeoutMs: 10_000,
      });
      const items = [event(0, "routed"), event(1, "nowhere"), event(2, "routed")];
      const outcomes = await sink.deliver(items);
      assert.deepEqual(outcomes[0], { status: "delivered" });
      assert.deepEqual(outcomes[2], { status: "delivered" });
      assert.deepEqual(outcomes[1], {
        status: "retry",
        error: `unroutable: exchange ${
          JSON.stringify(target.exchange)
        } has no queue for routing key "nowhere" (NO_ROUTE)`,
      });
      // The default exchange routes by queue name: a missing queue is unroutable too.
      const direct = createAmqpSink({
        name: "direct",
        connection,
        exchange: "",
        routingKey: `no-such-queue-${uniqueId()}`,
        timeoutMs: 10_000,
      });
      const [missing] = await direct.deliver([event(3)]);
      assert.deepEqual(missing?.status, "retry");
      assert.match((missing as { error: string }).error, /^unroutable: the default exchange/);
      const queued = createAmqpSink({ ...directOptions(connection), routingKey: target.queue });
      assert.deepEqual(await queued.deliver([event(4)]), [{ status: "delivered" }]);
      assert.deepEqual((await drain(url, target.queue)).length, 3);
    } finally {
      await connection.close();
      await target.cleanup();
    }
  },
});

function directOptions(connection: ReturnType<typeof openAmqpConnection>) {
  return { name: "direct", connection, exchange: "", routingKey: "", timeoutMs: 10_000 };
}

Deno.test({
  name: "amqp sink: a deleted exchange closes only the sink's channel; retries, then recovers",
  ...BROKER,
  async fn() {
    const url = await brokerUrl();
    const target = await harness.provision(url, uniqueId());
    const connection = openAmqpConnection(configOf(url));
    try {
      const sink = createAmqpSink({
        name: "events",
        connection,
        exchange: target.exchange,
        routingKey: "{event_type}",
        timeoutMs: 10_000,
      });
      assert.deepEqual(await sink.deliver([event(0)]), [{ status: "delivered" }]);
      const admin = await (await connection.connection()).createChannel();
      await admin.deleteExchange(target.exchange);
      const [lost] = await sink.deliver([event(1)]);
      assert.deepEqual(lost?.status, "retry");
      assert.match((lost as { error: string }).error, /NOT_FOUND - no exchange/);
      await admin.assertExchange(target.exchange, "topic", { durable: true });
      await admin.bindQueue(target.queue, target.exchange, "#");
      // The shared connection survived: the admin channel still works.
      await admin.close();
      assert.deepEqual(await sink.deliver([event(2)]), [{ status: "delivered" }]);
    } finally {
      await connection.close();
      await target.cleanup();
    }
  },
});

/** Delivers `items` until every one is delivered, as the deliverer's retries would. */
async function deliverAll(
  deliver: (items: readonly Delivery[]) => Promise<Outcome[]>,
  items: readonly Delivery[],
  timeoutMs = 60_000,
): Promise<number> {
  let pending = [...items];
  let attempts = 0;
  const until = Date.now() + timeoutMs;
  while (pending.length > 0) {
    assert.ok(Date.now() < until, `still ${pending.length} undelivered`);
    attempts++;
    const outcomes = await deliver(pending);
    pending = pending.filter((_, i) => outcomes[i]!.status !== "delivered");
    if (pending.length > 0) await new Promise((r) => setTimeout(r, 200));
  }
  return attempts;
}

Deno.test({
  name: "amqp: a broker down at start and killed mid-run gives retries, then deliveries",
  ...BROKER,
  async fn() {
    await using server = await startRabbitServer();
    const target = await harness.provision(server.url, uniqueId());
    await server.stop();
    const connection = openAmqpConnection(configOf(server.url), { reconnectGapMs: 100 });
    try {
      assert.match(String(await connection.ready()), /^AMQP: amqp:\/\/127\.0\.0\.1:\d+\/%2F: /);
      const sink = createAmqpSink({
        name: "events",
        connection,
        exchange: target.exchange,
        routingKey: "{event_type}",
        timeoutMs: 10_000,
      });
      const [down] = await sink.deliver([event(0)]);
      assert.deepEqual(down?.status, "retry");
      assert.match((down as { error: string }).error, /^AMQP: amqp:\/\/127\.0\.0\.1:\d+\/%2F: /);
      assert.doesNotMatch((down as { error: string }).error, /guest/);

      await server.start();
      const first = [event(1), event(2)];
      await deliverAll((items) => sink.deliver(items), first);
      assert.deepEqual(await connection.ready(), null);

      await server.stop();
      const [killed] = await sink.deliver([event(3)]);
      assert.deepEqual(killed?.status, "retry");
      await server.start();
      const after = [event(4), event(5)];
      await deliverAll((items) => sink.deliver(items), after);
      const got = (await target.read()).map((m) => m.eventId);
      assert.deepEqual(got, [...first, ...after].map((i) => i.eventId));
    } finally {
      await connection.close();
      await target.cleanup().catch(() => {});
    }
  },
});

Deno.test({
  name: "amqp: a restart mid-stream loses nothing; duplicates stay within what was in flight",
  ...BROKER,
  async fn() {
    await using server = await startRabbitServer();
    const target = await harness.provision(server.url, uniqueId());
    const connection = openAmqpConnection(configOf(server.url), { reconnectGapMs: 100 });
    try {
      const sink = createAmqpSink({
        name: "events",
        connection,
        exchange: target.exchange,
        routingKey: "{event_type}",
        timeoutMs: 10_000,
      });
      const items = Array.from({ length: 3000 }, (_, i) => event(i));
      const batches = Array.from({ length: 30 }, (_, b) => items.slice(b * 100, b * 100 + 100));
      let retried = 0;
      const stream = (async () => {
        for (const batch of batches) {
          let pending = batch;
          while (pending.length > 0) {
            const outcomes = await sink.deliver(pending);
            const failed = pending.filter((_, i) => outcomes[i]!.status !== "delivered");
            retried += failed.length;
            pending = failed;
            if (pending.length > 0) await new Promise((r) => setTimeout(r, 100));
          }
        }
      })();
      await new Promise((r) => setTimeout(r, 150));
      await server.stop();
      await server.start();
      await stream;
      const got = (await target.read()).map((m) => m.eventId);
      const unique = new Set(got);
      assert.deepEqual(unique.size, items.length, "every event arrived");
      assert.ok(retried > 0, "the restart hit deliveries in flight");
      // A message can only arrive twice when its confirm was lost, so it was retried.
      assert.ok(got.length - unique.size <= retried, `${got.length - unique.size} > ${retried}`);
    } finally {
      await connection.close();
      await target.cleanup().catch(() => {});
    }
  },
});

globalThis.addEventListener("unload", () => {
  // The shared node outlives the tests that use it; it goes with the process.
  shared?.stop("SIGTERM");
});
