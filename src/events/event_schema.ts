/**
 * The custom events (`types.ts`) and their delivery envelopes as valibot schemas, so that
 * consumers in any language get a JSON Schema of them (`deno task schema` writes
 * `schema/events.schema.json`) and a test holds every fixture's output to it. The types in
 * `types.ts` stay the source the code is written against; the assertions at the end of
 * this module make `deno check` fail when a schema and its type part ways.
 * @module
 */
import * as v from "valibot";
import type {
  ButtonEvent,
  ChatActionEvent,
  CustomEvent,
  MemberEvent,
  MessageEvent,
  RawEvent,
  ReactionEvent,
} from "./types.ts";

const int = v.pipe(v.number(), v.integer());
const nullableInt = v.nullable(int);
const nullableString = v.nullable(v.string());

const header = {
  ts: v.pipe(int, v.description("Unix seconds when the router received the event")),
  datetime: v.pipe(
    v.string(),
    v.regex(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/),
    v.description("`ts` as YYYY-MM-DD HH:MM:SS in EVENT_TIMEZONE"),
  ),
  event_id: v.pipe(v.string(), v.description("VK's event_id: unique per event, the dedup key")),
  group_id: v.pipe(int, v.description("The community the event belongs to")),
};
const actor = {
  user_id: v.pipe(int, v.description("The acting user; negative for a community")),
  user_name: nullableString,
  user_nick: nullableString,
};
const peer = {
  peer_id: int,
  peer_name: nullableString,
  chat_id: v.pipe(nullableInt, v.description("peer_id - 2000000000 in chats, null in dialogs")),
};

const QuotedMessageSchema = v.strictObject({ user_id: int, cmid: nullableInt, text: v.string() });

/** `message_new`, `command_call`, `message_edit`, `message_reply`. */
export const MessageEventSchema = v.strictObject({
  ...header,
  ...actor,
  ...peer,
  event_type: v.picklist(["message_new", "command_call", "message_edit", "message_reply"]),
  cmid: nullableInt,
  text: v.string(),
  reply: v.nullable(QuotedMessageSchema),
  forward: v.array(QuotedMessageSchema),
  attachments: v.array(v.string()),
  mentions: v.array(v.strictObject({ id: int, text: v.string() })),
  command: v.optional(
    v.pipe(v.string(), v.description("On command_call: the word after the prefix")),
  ),
  args: v.optional(v.pipe(v.array(v.string()), v.description("On command_call: the other words"))),
});

/** `chat_action`: a service message in a chat. */
export const ChatActionEventSchema = v.strictObject({
  ...header,
  ...actor,
  ...peer,
  event_type: v.literal("chat_action"),
  cmid: nullableInt,
  action: v.strictObject({ type: v.string(), member_id: nullableInt, text: nullableString }),
});

/** `button_pressed`: a callback button press. */
export const ButtonEventSchema = v.strictObject({
  ...header,
  ...actor,
  ...peer,
  event_type: v.literal("button_pressed"),
  cmid: nullableInt,
  button_event_id: v.string(),
  payload: v.nullable(v.record(v.string(), v.unknown())),
});

/** `reaction`: a reaction set, or removed (`reaction_id` null). */
export const ReactionEventSchema = v.strictObject({
  ...header,
  ...actor,
  ...peer,
  event_type: v.literal("reaction"),
  cmid: int,
  reaction_id: nullableInt,
});

/** `member_join` and `member_leave`. */
export const MemberEventSchema = v.strictObject({
  ...header,
  ...actor,
  event_type: v.picklist(["member_join", "member_leave"]),
  join_type: v.optional(v.string()),
  self: v.optional(v.boolean()),
});

/** `raw`: any other VK event type, passed on untouched. */
export const RawEventSchema = v.strictObject({
  ...header,
  event_type: v.literal("raw"),
  raw_type: v.string(),
  object: v.unknown(),
});

/** Every custom event: what a Redis list item, a stream's `event` field and a webhook body hold. */
export const CustomEventSchema = v.union([
  MessageEventSchema,
  ChatActionEventSchema,
  ButtonEventSchema,
  ReactionEventSchema,
  MemberEventSchema,
  RawEventSchema,
]);

/** A redis-stream entry's fields (`XRANGE` gives them as name, value, name, value, ...). */
export const StreamFieldsSchema = v.strictObject({
  event_type: v.string(),
  event_id: v.string(),
  event: v.pipe(v.string(), v.description("The event's JSON, as a list item holds it")),
});

/** The headers of a webhook request (Standard Webhooks), lower-cased. */
export const WebhookHeadersSchema = v.looseObject({
  "content-type": v.literal("application/json"),
  "webhook-id": v.pipe(
    v.string(),
    v.regex(/^[A-Za-z0-9_-]+$/),
    v.description("Stable per event: the event id, or a hash of it"),
  ),
  "webhook-timestamp": v.pipe(v.string(), v.regex(/^\d+$/), v.description("Unix seconds")),
  "webhook-signature": v.optional(v.pipe(
    v.string(),
    v.regex(/^v1,[A-Za-z0-9+/]+=*$/),
    v.description("With a secret: v1, + base64 HMAC-SHA256 of id.timestamp.body"),
  )),
});

// Compile-time: each schema's output is exactly its type (`deno check` fails otherwise).
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const same = <A, B>(_: Same<A, B>) => {};
same<v.InferOutput<typeof MessageEventSchema>, MessageEvent>(true);
same<v.InferOutput<typeof ChatActionEventSchema>, ChatActionEvent>(true);
same<v.InferOutput<typeof ButtonEventSchema>, ButtonEvent>(true);
same<v.InferOutput<typeof ReactionEventSchema>, ReactionEvent>(true);
same<v.InferOutput<typeof MemberEventSchema>, MemberEvent>(true);
same<v.InferOutput<typeof RawEventSchema>, RawEvent>(true);
same<v.InferOutput<typeof CustomEventSchema>, CustomEvent>(true);
