/**
 * The `nats-jetstream` kind against a real nats-server: the subject template, `NATS_URL`,
 * the sink's headers, acks and dedup, its fate for invalid subjects and a down server,
 * the start-up stream check and the backlog.
 */
import assert from "node:assert/strict";
import { startFakeVk } from "../../../../tests/support/fake_vk.ts";
import { harnessUrl } from "../../../../tests/support/kind_harness.ts";
import { spawnService } from "../../../../tests/support/service_process.ts";
import { waitFor } from "../../../../tests/support/wait.ts";
import { ConfigError } from "../../../errors.ts";
import type { Delivery } from "../../types.ts";
import { configureNats, describeNats, natsSecrets, openNats } from "./connection.ts";
import { createNatsSink } from "./sink.ts";
import { missingStreamProblem, streamBacklog, streamCapturing } from "./stream.ts";
import {
  expandSubject,
  parseSubjectTemplate,
  subjectCovers,
  subjectPattern,
  subjectProblem,
} from "./subject.ts";
import { harness, NATS_SERVER_MISSING, startNatsServer } from "./testing.ts";
import { runExample } from "../../../../tests/support/example_process.ts";

const url = harnessUrl(harness);

function template(source: string) {
  const problems: string[] = [];
  const t = parseSubjectTemplate(source, problems);
  assert.deepEqual(problems, []);
  return t;
}

function events(from: number, count: number, type = "message_new", group = 7): Delivery[] {
  return Array.from({ length: count }, (_, i) => {
    const event = { event_type: type, event_id: `ev${from + i}`, group_id: group, n: from + i };
    return { eventId: event.event_id, eventType: type, body: JSON.stringify(event) };
  });
}

Deno.test("subject templates: placeholders, start-up refusals, patterns", async (t) => {
  await t.step("placeholders expand per event", () => {
    const tpl = template("vk.{group_id}.{event_type}");
    assert.equal(
      expandSubject(tpl, { group_id: "77", event_type: "wall_post_new" }),
      "vk.77.wall_post_new",
    );
    assert.equal(subjectPattern(tpl), "vk.*.*");
    assert.equal(subjectPattern(template("vk.g{group_id}.all")), "vk.*.all");
    assert.equal(subjectPattern(template("events")), "events");
  });
  await t.step("what can never be valid is refused at start", () => {
    for (
      const [source, problem] of [
        ["vk.{group}.x", /unknown placeholder \{group\}/],
        ["vk..{event_type}", /empty token/],
        ["vk.{event_type}.", /empty token/],
        ["vk.*.{event_type}", /wildcard/],
        ["vk.>", /wildcard/],
        ["vk {event_type}", /whitespace/],
        ["vk.{event_type", /unbalanced/],
        ["", /empty/],
      ] as const
    ) {
      const problems: string[] = [];
      parseSubjectTemplate(source, problems);
      assert.ok(problems.some((p) => problem.test(p)), `${source}: ${problems}`);
    }
  });
  await t.step("subjects and stream filters", () => {
    assert.equal(subjectProblem("vk.1.message_new"), null);
    assert.match(subjectProblem("vk.1.a b")!, /whitespace/);
    assert.match(subjectProblem("vk.1.a.")!, /empty token/);
    assert.ok(subjectCovers("vk.>", "vk.*.*"));
    assert.ok(subjectCovers("vk.*.*", "vk.*.*"));
    assert.ok(subjectCovers(">", "vk.*"));
    assert.ok(!subjectCovers("vk.*", "vk.*.*"), "too short");
    assert.ok(!subjectCovers("vk.1.*", "vk.*.*"), "one group only");
    assert.ok(!subjectCovers("vk.*.*.*", "vk.*.*"), "too long");
    assert.ok(!subjectCovers("vk", "vk.*"));
  });
});

Deno.test("NATS_URL: servers, credentials as secrets, problems without values", () => {
  const problems: string[] = [];
  assert.equal(configureNats({}, problems), null, "not configured");
  const config = configureNats(
    { NATS_URL: "nats://router:s3cret-pass@a.example:4223, nats://router:s3cret-pass@b.example" },
    problems,
  )!;
  assert.deepEqual(problems, []);
  assert.deepEqual(config.servers, ["a.example:4223", "b.example:4222"]);
  assert.equal(config.user, "router");
  assert.deepEqual(natsSecrets(config), ["s3cret-pass"]);
  assert.equal(describeNats(config), "nats://a.example:4223,nats://b.example:4222");
  const token = configureNats({ NATS_URL: "nats://tok-value@h:1", NATS_TOKEN: "" }, problems)!;
  assert.deepEqual(natsSecrets(token), ["tok-value"], "nats://token@host is a token");
  assert.deepEqual(
    natsSecrets(configureNats({ NATS_URL: "h:1", NATS_TOKEN: "t0ken" }, problems)!),
    ["t0ken"],
  );
  for (
    const bad of [
      "http://user:hunter22@h:1",
      "nats://user:hunter22@h:1/path",
      "nats://a:hunter22@h:1,nats://b:hunter33@h:2",
    ]
  ) {
    const found: string[] = [];
    configureNats({ NATS_URL: bad }, found);
    assert.equal(found.length, 1, bad);
    assert.match(found[0]!, /^NATS_URL: /);
    assert.ok(!/hunter/.test(found[0]!), `no secret in ${found[0]}`);
  }
});

Deno.test("the sink publishes with Nats-Msg-Id and Event-Type, acked, each event once", async () => {
  await using target = await harness.provision(url, `sink-${crypto.randomUUID().slice(0, 8)}`);
  const conn = await openNats(configureNats({ NATS_URL: url }, [])!);
  try {
    assert.ok(await conn.connected(5_000));
    const sink = createNatsSink({
      name: "nats",
      subject: template(String(target.destination.subject)),
      conn,
    });
    const batch = events(0, 100);
    const outcomes = await sink.deliver(batch);
    assert.deepEqual(outcomes, Array(100).fill({ status: "delivered" }));
    // A retry and a replay: the stream's duplicate window drops them.
    const again = await sink.deliver([...events(50, 50), ...events(100, 10)]);
    assert.deepEqual(again.slice(0, 50), Array(50).fill({ status: "delivered", duplicate: true }));
    assert.deepEqual(again.slice(50), Array(10).fill({ status: "delivered" }));
    const arrived = await target.read();
    assert.equal(arrived.length, 110);
    assert.deepEqual(arrived.map((a) => a.eventId), events(0, 110).map((e) => e.eventId));
    assert.deepEqual(arrived.map((a) => a.body), events(0, 110).map((e) => e.body));
    assert.ok(arrived.every((a) => a.eventType === "message_new"));
  } finally {
    await conn.close();
  }
});

Deno.test("an event whose subject is invalid is dead at once; its neighbours are delivered", async () => {
  await using target = await harness.provision(url, `bad-${crypto.randomUUID().slice(0, 8)}`);
  const conn = await openNats(configureNats({ NATS_URL: url }, [])!);
  try {
    await conn.connected(5_000);
    const sink = createNatsSink({
      name: "nats",
      subject: template(String(target.destination.subject)),
      conn,
    });
    // Parked deliveries carry no event type: it is read from the body.
    const [first] = events(0, 1);
    const outcomes = await sink.deliver([
      { eventId: first!.eventId, body: first!.body },
      ...events(1, 1, "odd.type"),
      ...events(2, 1, "has space"),
      { eventId: "raw", body: "not json" },
      // A dead letter: its type is dead_letter, its community that of the event it holds.
      {
        eventId: "letter",
        eventType: "dead_letter",
        body: JSON.stringify({ reason: "failed", event: { group_id: 9 } }),
      },
    ]);
    assert.deepEqual(outcomes.map((o) => o.status), [
      "delivered",
      "dead",
      "dead",
      "dead",
      "delivered",
    ]);
    assert.match(
      (outcomes[1] as { error: string }).error,
      /^The event's event_type "odd\.type" cannot be a NATS subject token: it contains a dot$/,
    );
    assert.match((outcomes[3] as { error: string }).error, /no event_type/);
    assert.deepEqual((await target.read()).map((a) => [a.eventId, a.eventType]), [
      ["ev0", "message_new"],
      ["letter", "dead_letter"],
    ]);
  } finally {
    await conn.close();
  }
});

Deno.test("a down server: open does not fail, deliveries retry, then go through once it is up", async () => {
  await using server = await harness.startServer();
  await using target = await harness.provision(server.url, "down");
  await server.stop();
  const conn = await openNats(configureNats({ NATS_URL: server.url }, [])!);
  try {
    await waitFor(
      () => /^cannot connect to nats:\/\/127\.0\.0\.1:\d+/.test(conn.state()!),
      "a refusal",
    );
    const sink = createNatsSink({
      name: "nats",
      subject: template(String(target.destination.subject)),
      conn,
      ackTimeoutMs: 1_000,
    });
    const down = await sink.deliver(events(0, 5));
    assert.ok(down.every((o) => o.status === "retry"), JSON.stringify(down));
    await server.start();
    assert.ok(await conn.connected(10_000), "connects once the server is up");
    assert.deepEqual(
      (await sink.deliver(events(0, 5))).map((o) => o.status),
      Array(5).fill("delivered"),
    );
    // Mid-run: the server dies and comes back; the client reconnects by itself.
    await server.stop();
    await waitFor(() => conn.state() !== null, "the disconnect to be seen");
    const during = await sink.deliver(events(5, 5));
    assert.ok(during.every((o) => o.status === "retry"), JSON.stringify(during));
    await server.start();
    await waitFor(() => conn.state() === null, "the reconnect", 10_000);
    assert.deepEqual(
      (await sink.deliver(events(0, 10))).map((o) => o.status),
      Array(10).fill("delivered"),
    );
    const ids = (await target.read()).map((a) => a.eventId);
    assert.deepEqual(ids, events(0, 10).map((e) => e.eventId), "each once, in order");
  } finally {
    await conn.close();
  }
});

Deno.test("start-up check and backlog: the capturing stream and its consumers' num_pending", async () => {
  const id = `verify-${crypto.randomUUID().slice(0, 8)}`;
  await using target = await harness.provision(url, id);
  const conn = await openNats(configureNats({ NATS_URL: url }, [])!);
  try {
    await conn.connected(5_000);
    const jsm = await conn.manager();
    const pattern = subjectPattern(template(String(target.destination.subject)));
    const stream = await streamCapturing(jsm, pattern);
    assert.equal(stream?.config.name, `T_${id}`);
    assert.equal(await streamCapturing(jsm, `nowhere-${id}.*`), null);
    assert.match(
      missingStreamProblem("vk events", `nowhere.*.*`),
      /^ROUTES_FILE: destination "vk events": no JetStream stream captures subject "nowhere\.\*\.\*": create one, e\.g\. nats stream add VK_EVENTS --subjects 'nowhere\.\*\.\*' /,
    );
    assert.deepEqual(await streamBacklog(jsm, stream!.config.name), { depth: 0, oldestAgeS: null });
    await jsm.consumers.add(stream!.config.name, {
      durable_name: "reader",
      ack_policy: "explicit",
    });
    const sink = createNatsSink({
      name: "nats",
      subject: template(String(target.destination.subject)),
      conn,
    });
    await sink.deliver(events(0, 7));
    const backlog = await streamBacklog(jsm, stream!.config.name);
    assert.equal(backlog.depth, 7);
    assert.ok(backlog.oldestAgeS !== null && backlog.oldestAgeS < 60);
  } finally {
    await conn.close();
  }
});

Deno.test("the consumer example prints each event once as a JSON line, acks it, and resumes", async () => {
  const id = `example-${crypto.randomUUID().slice(0, 8)}`;
  await using target = await harness.provision(url, id);
  const conn = await openNats(configureNats({ NATS_URL: url }, [])!);
  const env = { NATS_URL: url, NATS_STREAM: `T_${id}`, NATS_CONSUMER: "printer" };
  const run = () => runExample("nats_jetstream_consumer.ts", env);
  try {
    await conn.connected(5_000);
    const sink = createNatsSink({
      name: "nats",
      subject: template(String(target.destination.subject)),
      conn,
    });
    await sink.deliver(events(0, 20));
    const first = run();
    await waitFor(() => first.lines().length >= 20, "20 lines", 20_000);
    const jsm = await conn.manager();
    await waitFor(
      async () => (await jsm.consumers.info(`T_${id}`, "printer")).num_ack_pending === 0,
      "every event acked",
    );
    const stopped = await first.stop();
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.deepEqual(
      first.lines().map((l) => JSON.parse(l)),
      events(0, 20).map((e) => JSON.parse(e.body)),
    );
    // The durable consumer resumes after what was acked: only the new events come.
    await sink.deliver(events(20, 5));
    const second = run();
    await waitFor(() => second.lines().length >= 5, "5 more lines", 20_000);
    await new Promise((r) => setTimeout(r, 300)); // a repeat, if any, would print now
    assert.equal((await second.stop()).code, 0);
    assert.deepEqual(
      second.lines().map((l) => JSON.parse(l).event_id),
      events(20, 5).map((e) => e.eventId),
    );
  } finally {
    await conn.close();
  }
});

Deno.test("deno task start: exit 2 for a subject no stream captures or a bad NATS_URL, without secrets", async (t) => {
  await using vk = await startFakeVk();
  const dir = await Deno.makeTempDir({ prefix: "vk-router-nats-start-" });
  const start = async (subject: string, env: Record<string, string>) => {
    await Deno.writeTextFile(
      `${dir}/routes.json`,
      JSON.stringify({
        destinations: { events: { kind: "nats-jetstream", subject } },
        rules: [{ to: ["events"] }],
      }),
    );
    const service = await spawnService({
      VK_TOKEN: "test-token",
      VK_GROUP_ID: "1",
      VK_API_URL: vk.apiUrl,
      ROUTES_FILE: "routes.json",
      DATA_DIR: "data",
      PORT: "0",
      ...env,
    }, dir);
    return service;
  };
  try {
    await t.step("no stream captures the subject", async () => {
      await using service = await start("nowhere.{group_id}.{event_type}", { NATS_URL: url });
      assert.equal(await service.exited, 2);
      assert.match(
        service.output(),
        /^error: ROUTES_FILE: destination "events": no JetStream stream captures subject "nowhere\.\*\.\*": create one, e\.g\. nats stream add EVENTS --subjects 'nowhere\.\*\.\*'/m,
      );
    });
    await t.step("a subject that can never be valid", async () => {
      await using service = await start("vk..{event_type}", { NATS_URL: url });
      assert.equal(await service.exited, 2);
      assert.match(
        service.output(),
        /\$\.destinations\.events\.subject: no event can give a valid subject/,
      );
    });
    await t.step("a NATS_URL that is not one, its password never shown", async () => {
      await using service = await start("vk.{event_type}", { NATS_URL: "http://u:pa55word-x@h:1" });
      assert.equal(await service.exited, 2);
      assert.match(service.output(), /NATS_URL: expected the nats:\/\/ or tls:\/\/ scheme/);
      assert.doesNotMatch(service.output(), /pa55word-x/);
    });
    await t.step("a server without JetStream", async () => {
      await using plain = await startNatsServer([], { jetstream: false });
      await using service = await start("vk.{event_type}", { NATS_URL: plain.url });
      assert.equal(await service.exited, 2);
      assert.match(
        service.output(),
        /^error: NATS_URL: destination "events": the server has JetStream disabled: start nats-server with -js/m,
      );
    });
    await t.step("an unreachable server: a warning, and the service runs", async () => {
      const port = (() => {
        const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
        l.close();
        return (l.addr as Deno.NetAddr).port;
      })();
      await using service = await start("vk.{event_type}", {
        NATS_URL: `nats://router:pa55word-y@127.0.0.1:${port}`,
      });
      await waitFor(
        () => /Cannot check destination \\"events\\"/.test(service.output()),
        "the warning",
        20_000,
      );
      assert.match(service.output(), new RegExp(`nats://127\\.0\\.0\\.1:${port}`));
      assert.doesNotMatch(service.output(), /pa55word-y/);
      await service.url(); // up and serving: it handles SIGTERM from here on
      assert.equal(await service.stop("SIGTERM"), 0);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("credentials reach the server: user and password, a token; a wrong one is a readiness reason", async (t) => {
  const publishOne = async (env: Record<string, string>, waitMs = 3_000) => {
    const conn = await openNats(configureNats(env, [])!);
    try {
      if (!await conn.connected(waitMs)) return conn.state();
      const jsm = await conn.manager();
      await jsm.streams.add({ name: "AUTH", subjects: ["auth.>"] });
      const sink = createNatsSink({ name: "auth", subject: template("auth.{event_type}"), conn });
      return (await sink.deliver(events(0, 1)))[0]!.status;
    } finally {
      await conn.close();
    }
  };
  await t.step("user and password in NATS_URL", async () => {
    await using server = await startNatsServer(["--user", "router", "--pass", "s3cret-pw"]);
    const port = new URL(server.url).port;
    assert.equal(
      await publishOne({ NATS_URL: `nats://router:s3cret-pw@127.0.0.1:${port}` }),
      "delivered",
    );
    const refused = await publishOne({ NATS_URL: `nats://router:wrong-pw@127.0.0.1:${port}` }, 500);
    assert.match(String(refused), /authorization/i);
    assert.doesNotMatch(String(refused), /wrong-pw/);
  });
  await t.step("NATS_TOKEN", async () => {
    await using server = await startNatsServer(["--auth", "t0ken-value"]);
    assert.equal(
      await publishOne({ NATS_URL: server.url, NATS_TOKEN: "t0ken-value" }),
      "delivered",
    );
    assert.match(String(await publishOne({ NATS_URL: server.url }, 500)), /authorization/i);
  });
});

Deno.test("an unreadable NATS_CREDS file is a configuration error naming the variable", async () => {
  const config = configureNats({ NATS_URL: url, NATS_CREDS: "/nonexistent/router.creds" }, [])!;
  await assert.rejects(
    () => openNats(config),
    (error: Error) =>
      error instanceof ConfigError &&
      /^NATS_CREDS: cannot read "\/nonexistent\/router\.creds": /.test(error.issues[0]!),
  );
});

Deno.test("the harness names the install line when nats-server is missing", async () => {
  const path = Deno.env.get("PATH")!;
  Deno.env.set("PATH", "/nonexistent");
  try {
    assert.equal(await harness.missing(), NATS_SERVER_MISSING);
    assert.match(NATS_SERVER_MISSING, /apt-get install nats-server/);
  } finally {
    Deno.env.set("PATH", path);
  }
});
