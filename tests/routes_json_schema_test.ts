/** The committed JSON Schema of routes files: in sync with the valibot schema, and useful. */
import { DESTINATION_KINDS } from "../src/deliver/kinds/registry.ts";
import assert from "node:assert/strict";
import { parseRoutes } from "../src/config/routes.ts";
import { ROUTES_SCHEMA_PATH, routesJsonSchema } from "../scripts/routes_schema.ts";

const root = new URL("../", import.meta.url);

interface Node {
  type?: string;
  const?: string;
  enum?: string[];
  required?: string[];
  additionalProperties?: boolean | Node;
  properties?: Record<string, Node>;
  items?: Node;
  oneOf?: Node[];
}

Deno.test("schema/routes.schema.json is what deno task schema generates", async () => {
  const committed = await Deno.readTextFile(new URL(ROUTES_SCHEMA_PATH, root));
  assert.equal(
    committed,
    `${JSON.stringify(routesJsonSchema(), null, 2)}\n`,
    "run deno task schema and commit the result",
  );
});

Deno.test("the routes JSON Schema names the kinds, required keys and choices an editor offers", () => {
  const schema = routesJsonSchema() as Node & { $schema: string };
  assert.equal(schema.$schema, "http://json-schema.org/draft-07/schema#");
  assert.deepEqual(schema.required, ["destinations", "rules"]);
  assert.equal(schema.additionalProperties, false, "a typo in a key is flagged");
  const kinds = (schema.properties!.destinations!.additionalProperties as Node).oneOf!;
  for (const kind of kinds) {
    assert.ok(kind.required!.includes("kind"));
    assert.equal(kind.additionalProperties, false, `options of ${kind.properties!.kind!.const}`);
  }
  assert.deepEqual(
    kinds.map((k) => k.properties!.kind!.const),
    DESTINATION_KINDS.map((k) => k.kind),
    "one entry per registered kind",
  );
  const byKind = (name: string) => kinds.find((k) => k.properties!.kind!.const === name);
  const [redisList, webhook] = [byKind("redis-list"), byKind("webhook")];
  assert.ok(byKind("log"));
  assert.deepEqual(redisList!.required, ["kind", "key"]);
  assert.deepEqual(redisList!.properties!.push!.enum, ["lpush", "rpush"]);
  assert.deepEqual(webhook!.required, ["kind", "url"]);
  assert.equal(
    webhook!.properties!.url!.type,
    "string",
    "the http(s) check is left to the service",
  );
  const rule = schema.properties!.rules!.items!;
  assert.deepEqual(rule.required, ["to"]);
  assert.equal(rule.properties!.when!.additionalProperties, false);
  assert.deepEqual(Object.keys(rule.properties!.when!.properties!), [
    "event_type",
    "group_id",
    "peer_id",
    "chat_id",
    "user_id",
    "command",
    "text",
    "payload",
  ]);
});

Deno.test("routes.json points editors at the schema, and the service accepts the $schema key", async () => {
  const file = new URL("routes.json", root);
  const routes = JSON.parse(await Deno.readTextFile(file));
  assert.equal(new URL(routes.$schema, file).href, new URL(ROUTES_SCHEMA_PATH, root).href);
  assert.equal(parseRoutes(routes).destinations.size, 4);
  assert.throws(() => parseRoutes({ ...routes, $schema: 1 }), /\$\.\$schema: /);
});
