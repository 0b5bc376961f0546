/**
 * `deno task schema` (with the routes schema): writes `schema/events.schema.json`, the JSON
 * Schema (draft 2020-12) of every custom event and of its delivery envelopes, from the
 * valibot schemas in `src/events/event_schema.ts`, for consumers in any language to
 * validate against or generate types from. A test keeps the committed file in sync and
 * validates every fixture's output against it.
 * @module
 */
import { toJsonSchema } from "@valibot/to-json-schema";
import type * as v from "valibot";
import {
  ButtonEventSchema,
  ChatActionEventSchema,
  CustomEventSchema,
  MemberEventSchema,
  MessageEventSchema,
  RawEventSchema,
  ReactionEventSchema,
  StreamFieldsSchema,
  WebhookHeadersSchema,
} from "../src/events/event_schema.ts";

/** Where the schema is committed, relative to the repository root. */
export const EVENTS_SCHEMA_PATH = "schema/events.schema.json";

/** The event shapes, each a named definition that the root's `anyOf` refers to. */
const EVENTS: Record<string, v.GenericSchema> = {
  MessageEvent: MessageEventSchema,
  ChatActionEvent: ChatActionEventSchema,
  ButtonEvent: ButtonEventSchema,
  ReactionEvent: ReactionEventSchema,
  MemberEvent: MemberEventSchema,
  RawEvent: RawEventSchema,
};

/** The envelope parts around an event's JSON, as further definitions. */
const ENVELOPES: Record<string, v.GenericSchema> = {
  StreamFields: StreamFieldsSchema,
  WebhookHeaders: WebhookHeadersSchema,
};

/** A JSON Schema document (the parts this writes). */
export type JsonSchemaDocument = Record<string, unknown> & { $defs: Record<string, unknown> };

/**
 * The JSON Schema of events. The root validates one event (a Redis list item, the `event`
 * field of a stream entry, a webhook body); `$defs` names each shape and envelope part,
 * for `{"$ref": "events.schema.json#/$defs/StreamFields"}` and the like.
 */
export function eventsJsonSchema(): JsonSchemaDocument {
  const options = { target: "draft-2020-12", errorMode: "throw" } as const;
  const { $schema, $defs, ...root } = toJsonSchema(CustomEventSchema, {
    ...options,
    definitions: EVENTS,
  }) as Record<string, unknown>;
  const envelopes = Object.fromEntries(
    Object.entries(ENVELOPES).map(([name, schema]) => {
      const { $schema: _, ...definition } = toJsonSchema(schema, options);
      return [name, definition];
    }),
  );
  return {
    $schema,
    title: "vk-event-router custom event",
    description:
      "One event as delivered: a Redis list item, the `event` field of a redis-stream entry ($defs/StreamFields), a webhook body (its headers: $defs/WebhookHeaders). See docs/EVENTS.md.",
    ...root,
    $defs: { ...($defs as Record<string, unknown>), ...envelopes },
  };
}

if (import.meta.main) {
  await Deno.writeTextFile(EVENTS_SCHEMA_PATH, `${JSON.stringify(eventsJsonSchema(), null, 2)}\n`);
}
