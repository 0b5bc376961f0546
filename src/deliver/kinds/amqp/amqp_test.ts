/**
 * The `amqp` kind against a real RabbitMQ: the runner's private node (`TEST_AMQP_URL`), and
 * a node of their own for the tests that stop, restart or freeze the broker.
 * @module
 */
import assert from "node:assert/strict";
import amqplib from "amqplib";
import type { Delivery, Outcome } from "../../types.ts";
import { parseRoutes } from "../../../config/routes.ts";
import { loadConfig } from "../../../config/config.ts";
import { checkRoutesAgainstConfig } from "../../../config/startup_checks.ts";
import { ConfigError } from "../../../errors.ts";
import { buildRouter, collectSecrets } from "../../../router.ts";
import { TEST_REDIS_URL, testRedis } from "../../../../tests/support/redis.ts";
import { type AmqpConnection, openAmqpConnection, parseAmqpUrl } from "./connection.ts";
import { type AmqpDestination, amqpKind } from "./mod.ts";
import {
  type AmqpSinkOptions,
  createAmqpSink,
  ROUTING_KEY_TEMPLATE,
  routingKeyOf,
} from "./sink.ts";
import { type AmqpTarget, harness, type RabbitServer, startRabbitServer } from "./testing.ts";
import { harnessUrl } from "../../../../tests/support/kind_harness.ts";
import { waitFor } from "../../../../tests/support/wait.ts";
import { startFakeVk } from "../../../../tests/support/fake_vk.ts";
import { spawnService } from "../../../../tests/support/service_process.ts";
import { runExample } from "../../../../tests/support/example_process.ts";

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

/** What a broker test gets: its broker's URL, a fresh target there, a connection to it. */
interface BrokerContext {
  url: string;
  target: AmqpTarget;
  connection: AmqpConnection;
}

/** A test on the shared broker. */
function brokerTest(name: string, fn: (context: BrokerContext) => Promise<void>) {
  Deno.test({
    name,
    ...BROKER,
    async fn() {
      const url = harnessUrl(harness);
      await using target = await harness.provision(url, uniqueId());
      const connection = openAmqpConnection(configOf(url));
      try {
        await fn({ url, target, connection });
      } finally {
        await connection.close();
      }
    },
  });
}

/** A test on a private node of its own, which it may stop, start and freeze. */
function privateBrokerTest(
  name: string,
  fn: (context: BrokerContext & { server: RabbitServer }) => Promise<void>,
) {
  Deno.test({
    name,
    ...BROKER,
    async fn() {
      await using server = await startRabbitServer();
      await using target = await harness.provision(server.url, uniqueId());
      const connection = openAmqpConnection(configOf(server.url), { reconnectGapMs: 100 });
      try {
        await fn({ url: server.url, target, connection, server });
      } finally {
        server.resume();
        await connection.close();
      }
    },
  });
}

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

Deno.test("routing key: placeholders from the delivery, else the event; only known ones allowed", () => {
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
  assert.ok(ROUTING_KEY_TEMPLATE.test("vk.{group_id}.{event_type}.x"));
  for (const bad of ["{peer_id}", "{}", "{event_type", "a}"]) {
    assert.ok(!ROUTING_KEY_TEMPLATE.test(bad), bad);
  }
});

const ENV = { VK_TOKEN: "secret-token-value", VK_GROUP_ID: "218730916" };

function routesWith(destination: Record<string, unknown>) {
  return {
    destinations: { mq: destination },
    rules: [{ name: "all", to: ["mq"] }],
  };
}

/** The problems `parseRoutes` reports, or none. */
function routeProblems(destination: Record<string, unknown>): string[] {
  try {
    parseRoutes(routesWith(destination), {});
    return [];
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return [...error.issues];
  }
}

Deno.test("routes: an amqp entry resolves; bad names and unknown placeholders are problems", () => {
  const routes = parseRoutes(
    routesWith({ kind: "amqp", exchange: "vk.events", routing_key: "vk.{group_id}.{event_type}" }),
    {},
  );
  assert.deepEqual(routes.destinations.get("mq"), {
    kind: "amqp",
    name: "mq",
    exchange: "vk.events",
    routingKey: "vk.{group_id}.{event_type}",
    backlogQueue: null,
    timeoutMs: 10_000,
  });
  assert.deepEqual(routeProblems({ kind: "amqp", exchange: "", routing_key: "q" }), []);
  const [placeholder] = routeProblems({ kind: "amqp", exchange: "x", routing_key: "{peer_id}" });
  assert.match(placeholder!, /routing_key.*only the placeholders \{event_type\} and \{group_id\}/);
  const [name] = routeProblems({ kind: "amqp", exchange: "vk events", routing_key: "k" });
  assert.match(name!, /exchange.*expected an exchange name/);
  assert.equal(routeProblems({ kind: "amqp", exchange: "x" }).length, 1, "routing_key required");
});

Deno.test("start-up: an amqp destination needs AMQP_URL; its password is a secret", () => {
  const routes = parseRoutes(routesWith({ kind: "amqp", exchange: "x", routing_key: "k" }), {});
  assert.throws(
    () => checkRoutesAgainstConfig(routes, loadConfig(ENV)),
    (error: unknown) =>
      error instanceof ConfigError &&
      error.issues.some((line) =>
        /^AMQP_URL: required by the destinations "mq" \(amqp\).*set AMQP_URL/.test(line)
      ),
  );
  const config = loadConfig({ ...ENV, AMQP_URL: "amqp://router:p%40ss-w0rd@mq:5672/vk" });
  checkRoutesAgainstConfig(routes, config);
  const secrets = collectSecrets(config, routes);
  assert.ok(secrets.includes("p@ss-w0rd") && secrets.includes("p%40ss-w0rd"), String(secrets));
  assert.throws(
    () => loadConfig({ ...ENV, AMQP_URL: "rabbit://router:hunter22@mq" }),
    (error: unknown) =>
      error instanceof ConfigError &&
      error.issues.some((line) => line.startsWith("AMQP_URL: ")) &&
      error.issues.every((line) => !line.includes("hunter22")),
  );
  const [defaultExchange] = amqpKind.check(
    { ...destination("", ""), name: "mq" },
    { redisPrefix: "" },
  );
  assert.match(defaultExchange!, /default exchange \(""\) needs a routing_key that names a queue/);
});

function destination(exchange: string, routingKey: string, backlogQueue: string | null = null) {
  return {
    kind: "amqp",
    name: "mq",
    exchange,
    routingKey,
    backlogQueue,
    timeoutMs: 10_000,
  } satisfies AmqpDestination;
}

brokerTest(
  "verify: the exchange (or the default exchange's queue) must exist on the broker",
  async ({ target, connection }) => {
    assert.deepEqual(
      await amqpKind.verify!(destination(target.exchange, "{event_type}"), connection),
      [],
    );
    const [missing] = await amqpKind.verify!(destination("vk.nowhere", "k"), connection);
    assert.match(
      missing!,
      /^ROUTES_FILE: destination "mq": exchange "vk\.nowhere" does not exist on amqp:\/\/127\.0\.0\.1:\d+\/%2F: declare it/,
    );
    assert.deepEqual(await amqpKind.verify!(destination("", target.queue), connection), []);
    assert.deepEqual(await amqpKind.verify!(destination("", "{event_type}"), connection), []);
    const [queue] = await amqpKind.verify!(destination("", "no.such.queue"), connection);
    assert.match(queue!, /queue "no\.such\.queue" \(default exchange\) does not exist/);
    // The failed passive declares closed only their own channels.
    assert.equal(await connection.ready(), null);
  },
);

Deno.test("verify: a broker that cannot be asked rejects (the caller's warning)", async () => {
  const down = openAmqpConnection(configOf("amqp://guest:guest@127.0.0.1:1/"));
  try {
    await assert.rejects(amqpKind.verify!(destination("x", "k"), down), /ECONNREFUSED/);
  } finally {
    await down.close();
  }
});

brokerTest(
  "backlog: the backlog_queue's ready messages and consumers, on the page; none without one",
  async ({ url, target, connection }) => {
    assert.equal(await amqpKind.backlog!(destination(target.exchange, "k"), connection), null);
    const watched = destination(target.exchange, "{event_type}", target.queue);
    const sink = amqpKind.createSink(watched, { connection, prefix: "" });
    await sink.deliver([event(0), event(1), event(2)]);
    assert.deepEqual(await amqpKind.backlog!(watched, connection), {
      depth: 3,
      oldestAgeS: null,
      consumers: 0,
    });
    const channel = await (await connection.connection()).createChannel();
    await channel.prefetch(1);
    await channel.consume(target.queue, () => {}, { noAck: false });
    await waitFor(
      async () => (await amqpKind.backlog!(watched, connection))?.consumers === 1,
      "one consumer",
    );
    // One message is in the consumer's hands, unacknowledged: two are ready.
    assert.equal((await amqpKind.backlog!(watched, connection))?.depth, 2);
    await channel.close();

    // The status page, /api/status and /metrics show it.
    await using redis = testRedis();
    await using router = await buildRouter({
      config: loadConfig({
        ...ENV,
        REDIS_URL: TEST_REDIS_URL,
        REDIS_PREFIX: `${redis.prefix}router:`,
        AMQP_URL: url,
      }),
      routes: parseRoutes(routesWith({
        kind: "amqp",
        exchange: target.exchange,
        routing_key: "{event_type}",
        backlog_queue: target.queue,
      })),
    });
    await waitFor(async () => {
      const status = await (await router.app.request("/api/status")).json();
      const mq = status.destinations.find((d: { name: string }) => d.name === "mq");
      return mq.depth === 3 && mq.consumers === 0;
    }, "the queue's backlog in /api/status");
    const page = await (await router.app.request("/")).text();
    assert.match(page, /data-label="waiting">3<div class="muted warn">0 consumers</);
    const metrics = await (await router.app.request("/metrics")).text();
    assert.match(metrics, /vk_router_backlog_depth\{destination="mq"\} 3/);
    assert.match(metrics, /vk_router_backlog_consumers\{destination="mq"\} 0/);
  },
);

Deno.test({
  name: "the service exits 2 naming a missing exchange, and starts with a warning on a down broker",
  ...BROKER,
  async fn() {
    const url = harnessUrl(harness);
    await using vk = await startFakeVk({ tokens: { 42: "tok-42" } });
    const dir = await Deno.makeTempDir({ prefix: "vk-router-amqp-" });
    const exchange = `vkr.missing.${uniqueId()}`;
    await Deno.writeTextFile(
      `${dir}/routes.json`,
      JSON.stringify(routesWith({ kind: "amqp", exchange, routing_key: "{event_type}" })),
    );
    const env = {
      VK_TOKEN: "tok-42",
      VK_GROUP_ID: "42",
      VK_API_URL: vk.apiUrl,
      VK_LONGPOLL_WAIT: "1",
      ROUTES_FILE: "routes.json",
      PORT: "0",
    };
    try {
      await using missing = await spawnService({ ...env, AMQP_URL: url }, dir);
      assert.equal(await missing.exited, 2, missing.output());
      assert.match(
        missing.output(),
        new RegExp(
          `^error: ROUTES_FILE: destination "mq": exchange "${
            exchange.replaceAll(".", "\\.")
          }" does not exist on amqp://127\\.0\\.0\\.1:\\d+/%2F: declare it`,
          "m",
        ),
      );

      // The test broker's password is "guest": a distinct one shows the redaction.
      await using down = await spawnService({
        ...env,
        AMQP_URL: "amqp://router:s3cret-pass@127.0.0.1:1/",
      }, dir);
      await down.url();
      assert.match(
        down.output(),
        /Cannot check destination \\"mq\\" \(amqp\) at start: amqp:\/\/127\.0\.0\.1:1\/%2F: connect ECONNREFUSED/,
      );
      assert.doesNotMatch(down.output(), /s3cret-pass/);
      assert.equal(await down.stop("SIGTERM"), 0);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** A sink to `exchange` with the tests' defaults: routing key `{event_type}`, 10 s for confirms. */
function sinkTo(
  connection: AmqpConnection,
  exchange: string,
  options: Partial<AmqpSinkOptions> = {},
) {
  return createAmqpSink({
    name: "events",
    connection,
    exchange,
    routingKey: "{event_type}",
    timeoutMs: 10_000,
    ...options,
  });
}

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

brokerTest(
  "amqp sink: persistent JSON messages with message_id, type and timestamp, in order",
  async ({ url, target, connection }) => {
    const sink = sinkTo(connection, target.exchange, {
      routingKey: "vk.{group_id}.{event_type}",
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
  },
);

brokerTest(
  "amqp sink: an unroutable message is a retry, the rest of its batch is delivered",
  async ({ url, target, connection }) => {
    // Bound with "#" on a topic exchange, so route by a key only some events match.
    const ch = await (await connection.connection()).createChannel();
    await ch.unbindQueue(target.queue, target.exchange, "#");
    await ch.bindQueue(target.queue, target.exchange, "routed");
    await ch.close();
    const sink = sinkTo(connection, target.exchange);
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
    const direct = sinkTo(connection, "", { routingKey: `no-such-queue-${uniqueId()}` });
    const [missing] = await direct.deliver([event(3)]);
    assert.deepEqual(missing?.status, "retry");
    assert.match((missing as { error: string }).error, /^unroutable: the default exchange/);
    const queued = sinkTo(connection, "", { routingKey: target.queue });
    assert.deepEqual(await queued.deliver([event(4)]), [{ status: "delivered" }]);
    assert.deepEqual((await drain(url, target.queue)).length, 3);
  },
);

brokerTest(
  "amqp sink: a deleted exchange closes only the sink's channel; retries, then recovers",
  async ({ target, connection }) => {
    const sink = sinkTo(connection, target.exchange);
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
  },
);

/** Delivers `items` until every one is delivered, as the deliverer's retries would. */
async function deliverAll(
  deliver: (items: readonly Delivery[]) => Promise<Outcome[]>,
  items: readonly Delivery[],
  timeoutMs = 60_000,
): Promise<number> {
  let pending = [...items];
  let attempts = 0;
  let last: Outcome | undefined;
  const until = Date.now() + timeoutMs;
  while (pending.length > 0) {
    assert.ok(Date.now() < until, `still ${pending.length} undelivered: ${JSON.stringify(last)}`);
    attempts++;
    const outcomes = await deliver(pending);
    last = outcomes.find((o) => o.status !== "delivered");
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
    await using target = await harness.provision(server.url, uniqueId());
    await server.stop();
    const connection = openAmqpConnection(configOf(server.url), { reconnectGapMs: 100 });
    try {
      assert.match(String(await connection.ready()), /^AMQP: amqp:\/\/127\.0\.0\.1:\d+\/%2F: /);
      const sink = sinkTo(connection, target.exchange);
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
    }
  },
});

privateBrokerTest(
  "amqp: a broker that stops answering: retries after timeout_ms, a new channel after",
  async ({ server, target, connection }) => {
    const sink = sinkTo(connection, target.exchange, { timeoutMs: 500 });
    assert.deepEqual(await sink.deliver([event(0)]), [{ status: "delivered" }]);
    server.pause();
    const started = Date.now();
    const hung = await sink.deliver([event(1), event(2)]);
    assert.deepEqual(
      hung,
      [1, 2].map(() => ({
        status: "retry",
        error: "no confirm within 500 ms",
      })),
    );
    assert.ok(Date.now() - started < 2000, "bounded by timeout_ms");
    // A fresh channel cannot be opened while the broker is frozen either.
    const [frozen] = await sink.deliver([event(3)]);
    assert.deepEqual(frozen, { status: "retry", error: "AMQP: no channel within 500 ms" });
    server.resume();
    await deliverAll((items) => sink.deliver(items), [event(4)], 20_000);
    // What the frozen broker took in the end arrives too: at least once, never lost.
    const ids = (await target.read()).map((m) => m.eventId);
    assert.ok(ids.length >= 2, String(ids));
  },
);

privateBrokerTest(
  "amqp: a restart mid-stream loses nothing; duplicates stay within what was in flight",
  async ({ server, target, connection }) => {
    const sink = sinkTo(connection, target.exchange);
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
  },
);

brokerTest(
  "the consumer example prints each event once as a JSON line, acks it, and resumes",
  async ({ url, target, connection }) => {
    const sink = sinkTo(connection, target.exchange);
    const items = Array.from({ length: 20 }, (_, i) => event(i));
    // A publish whose confirm was lost is published again: the consumer skips the repeat.
    assert.ok((await sink.deliver([...items, items[3]!])).every((o) => o.status === "delivered"));
    const env = { AMQP_URL: url, AMQP_QUEUE: target.queue };
    const first = runExample("amqp_consumer.ts", env);
    await waitFor(() => first.lines().length >= 20, "20 lines", 20_000);
    await new Promise((r) => setTimeout(r, 300)); // a repeat would print now
    const stopped = await first.stop();
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.deepEqual(
      first.lines().map((l) => JSON.parse(l)),
      items.map((i) => JSON.parse(i.body)),
    );
    const { messageCount } = await connection.withChannel((ch) => ch.checkQueue(target.queue));
    assert.equal(messageCount, 0, "every message acked");

    const more = Array.from({ length: 5 }, (_, i) => event(20 + i));
    await sink.deliver(more);
    const second = runExample("amqp_consumer.ts", env);
    await waitFor(() => second.lines().length >= 5, "5 more lines", 20_000);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await second.stop()).code, 0);
    assert.deepEqual(
      second.lines().map((l) => JSON.parse(l)),
      more.map((i) => JSON.parse(i.body)),
    );
  },
);
