/**
 * `deno task schema`: writes `schema/routes.schema.json`, the JSON Schema of routes files,
 * from the valibot schema the service validates them with, so editors complete and check
 * routes files (`"$schema": "./schema/routes.schema.json"`). A test keeps the committed
 * file in sync.
 * @module
 */
import { type JsonSchema, toJsonSchema } from "@valibot/to-json-schema";
import { RoutesSchema } from "../src/config/routes.ts";

/** Where the schema is committed, relative to the repository root. */
export const ROUTES_SCHEMA_PATH = "schema/routes.schema.json";

/** The JSON Schema of routes files. */
export function routesJsonSchema(): JsonSchema {
  const schema = toJsonSchema(RoutesSchema, {
    // What a person writes: keys with defaults are optional.
    typeMode: "input",
    // `check` runs code (is the URL http(s)? ) that JSON Schema cannot say; the service
    // still checks it at start. Anything else that cannot be converted fails the build.
    ignoreActions: ["check"],
    errorMode: "throw",
  });
  const { $schema, ...rest } = schema;
  return {
    $schema,
    title: "vk-event-router routes file",
    description: "Destinations and ordered rules for the events; see README.md, Routes file.",
    ...rest,
  };
}

if (import.meta.main) {
  await Deno.writeTextFile(ROUTES_SCHEMA_PATH, `${JSON.stringify(routesJsonSchema(), null, 2)}\n`);
}
