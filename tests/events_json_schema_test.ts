/**
 * The committed JSON Schema of events (`schema/events.schema.json`): in sync with the
 * valibot schemas, and true of what the router delivers: every fixture's event, as it
 * arrives in a Redis list, a redis-stream entry and a webhook request (headers and body),
 * validates against it with a standard validator (Ajv, draft 2020-12); a wrong event does not.
 */
import assert from "node:assert/strict";
import { Ajv2020 } from "ajv/dist/2020.js";
import { createEnricher } from "../src/enrich/enricher.ts";
import { createRedisListSink } from "../src/deliver/kinds/redis_list.ts";
import { createRedisStreamSink } from "../src/deliver/kinds/redis_stream.ts";
import { createWebhookSink } from "../src/deliver/kinds/webhook.ts";
import { transform } from "../src/events/transform.ts";
import type { CustomEvent } from "../src/events/types.ts";
import { EVENTS_SCHEMA_PATH, eventsJsonSchema } from "../scripts/events_schema.ts";
import { fixtureDirectory } from "./support/fixture_directory.ts";
import { testRedis } from "./support/redis.ts";

const ROOT = new URL("../", import.meta.url);
const FIXTURES = new URL("fixtures/vk/", ROOT);
const OPTIONS = { receivedAt: 1709107923, timezone: "Europe/Moscow", commandPrefixes: ["/", "!"] };
const SECRET = "whsec_ZXZlbnRzLXNjaGVtYS10ZXN0LXNlY3JldC0zMi1ieXRlcw==";

const schema = JSON.parse(await Deno.readTextFile(new URL(EVENTS_SCHEMA_PATH, ROOT)));
const ajv = new Ajv2020({ strict: true, allErrors: true });
ajv.addSchema(schema, "events");
const validate = (ref: string) => {
  const check = ajv.getSchema(ref)!;
  return (value: unknown, what: string) =>
    assert.ok(check(value), `${what}: ${ajv.errorsText(check.errors)}`);
};
const isEvent = validate("events");
const isStreamFields = validate("events#/$defs/StreamFields");
const isWebhookHeaders = validate("events#/$defs/WebhookHeaders");

/** Every fixture the router turns into an event, enriched as it delivers it. */
async function fixtureEvents(): Promise<[string, CustomEvent][]> {
  const events: [string, CustomEvent][] = [];
  for (const entry of [...Deno.readDirSync(FIXTURES)].sort((a, b) => a.name < b.name ? -1 : 1)) {
    if (!entry.name.endsWith(".raw.json")) continue;
    const raw = JSON.parse(await Deno.readTextFile(new URL(entry.name, FIXTURES)));
    const result = transform(raw, OPTIONS);
    if (!result.ok) continue;
    await createEnricher({ directory: fixtureDirectory() }).enrich([result.event]);
    events.push([entry.name.replace(".raw.json", ""), result.event]);
  }
  return events;
}

Deno.test("schema/events.schema.json is what deno task schema generates, draft 2020-12", async () => {
  const committed = await Deno.readTextFile(new URL(EVENTS_SCHEMA_PATH, ROOT));
  assert.equal(
    committed,
    `${JSON.stringify(eventsJsonSchema(), null, 2)}\n`,
    "run deno task schema and commit the result",
  );
  assert.equal(schema.$schema, "https://json-schema.org/draft/2020-12/schema");
  assert.ok(ajv.validateSchema(schema), ajv.errorsText());
});

Deno.test("every fixture's event validates, as a list item, a stream entry and a webhook request", async () => {
  const events = await fixtureEvents();
  assert.ok(events.length >= 20, `only ${events.length} fixture events`);
  const types = new Set(events.map(([, e]) => e.event_type));
  for (const type of ["message_new", "command_call", "button_pressed", "reaction", "raw"]) {
    assert.ok(types.has(type as CustomEvent["event_type"]), `a fixture of ${type}`);
  }
  for (const [name] of events) {
    const expected = JSON.parse(
      await Deno.readTextFile(new URL(`${name}.expected.json`, FIXTURES)),
    );
    isEvent(expected, `${name}.expected.json`);
  }
  const deliveries = events.map(([, e]) => ({
    eventId: e.event_id,
    eventType: e.event_type,
    body: JSON.stringify(e),
  }));

  await using redis = testRedis();
  const base = { redis: redis.handle.redis, prefix: redis.prefix };
  const list = createRedisListSink({ ...base, name: "l", key: `${redis.prefix}l`, push: "rpush" });
  const stream = createRedisStreamSink({
    ...base,
    name: "s",
    key: `${redis.prefix}s`,
    maxlen: null,
  });
  const received: { headers: Record<string, string>; body: string }[] = [];
  await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (r) => {
    received.push({ headers: Object.fromEntries(r.headers), body: await r.text() });
    return new Response("ok");
  });
  const webhook = createWebhookSink({
    name: "w",
    url: `http://127.0.0.1:${server.addr.port}/`,
    secret: SECRET,
    timeoutMs: 5_000,
  });
  for (const sink of [list, stream, webhook]) {
    const outcomes = await sink.deliver(deliveries);
    assert.ok(outcomes.every((o) => o.status === "delivered"), JSON.stringify(outcomes));
  }

  const items = await redis.handle.redis.lrange(`${redis.prefix}l`, 0, -1);
  assert.equal(items.length, events.length);
  for (const item of items) isEvent(JSON.parse(item), "a list item");

  const entries = await redis.handle.redis.xrange(`${redis.prefix}s`, "-", "+");
  assert.equal(entries.length, events.length);
  for (const [, flat] of entries) {
    const fields = Object.fromEntries(
      flat.flatMap((value, i) => i % 2 === 0 ? [[value, flat[i + 1]!]] : []),
    );
    isStreamFields(fields, "a stream entry's fields");
    isEvent(JSON.parse(fields.event!), "a stream entry's event");
  }

  assert.equal(received.length, events.length);
  for (const { headers, body } of received) {
    isWebhookHeaders(headers, "a webhook's headers");
    assert.ok(headers["webhook-signature"], "signed");
    isEvent(JSON.parse(body), "a webhook body");
  }
});

Deno.test("the schema refuses what is not an event: a missing field, a wrong type, an unknown key", async () => {
  const [[, event]] = await fixtureEvents() as [[string, CustomEvent]];
  const check = ajv.getSchema("events")!;
  const { event_id: _, ...missing } = event;
  for (const wrong of [missing, { ...event, ts: "yesterday" }, { ...event, surprise: 1 }]) {
    assert.equal(check(wrong), false, JSON.stringify(wrong).slice(0, 200));
  }
});
