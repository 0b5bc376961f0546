/**
 * valibot schemas of the raw VK events we handle (API v5.199). Lenient where VK is
 * (optional fields, payloads as object or JSON string, unknown extra fields), strict
 * where the transform depends on a field (ids, types).
 * @module
 */
import * as v from "valibot";

const Id = v.pipe(v.number(), v.integer(), v.safeInteger());
const OptionalId = v.optional(v.nullable(Id));

/** Every event: `{ type, event_id, group_id, object }`. */
export const EnvelopeSchema = v.object({
  type: v.pipe(v.string(), v.nonEmpty()),
  event_id: v.pipe(v.string(), v.nonEmpty(), v.maxLength(256)),
  group_id: Id,
  v: v.optional(v.string()),
  object: v.unknown(),
});

/**
 * A forwarded or replied-to message. Forwards nest, but events carry only the first
 * level, so deeper ones are not validated (nor recursed into).
 */
const QuotedSchema = v.object({
  from_id: Id,
  conversation_message_id: OptionalId,
  text: v.optional(v.string()),
});

/** A validated quoted message. */
export type RawQuoted = v.InferOutput<typeof QuotedSchema>;

/** A message as VK sends it in `message_new` (under `message`), `message_edit` and `message_reply`. */
export const MessageSchema = v.object({
  peer_id: Id,
  from_id: Id,
  date: v.optional(v.number()),
  conversation_message_id: OptionalId,
  text: v.optional(v.string(), ""),
  reply_message: v.optional(QuotedSchema),
  fwd_messages: v.optional(v.array(QuotedSchema), []),
  attachments: v.optional(v.array(v.object({ type: v.pipe(v.string(), v.nonEmpty()) })), []),
  geo: v.optional(v.unknown()),
  action: v.optional(
    v.object({
      type: v.pipe(v.string(), v.nonEmpty()),
      member_id: OptionalId,
      text: v.optional(v.nullable(v.string())),
    }),
  ),
});

/** `message_new`'s object: the message plus the client's capabilities. */
export const MessageNewSchema = v.object({
  message: MessageSchema,
  client_info: v.optional(v.unknown()),
});

/** A callback button press. */
export const MessageEventSchema = v.object({
  user_id: Id,
  peer_id: Id,
  event_id: v.pipe(v.string(), v.nonEmpty()),
  payload: v.optional(v.nullable(v.union([v.record(v.string(), v.unknown()), v.string()]))),
  conversation_message_id: OptionalId,
});

/** A reaction set (with `reaction_id`) or removed (without). */
export const ReactionSchema = v.object({
  reacted_id: Id,
  peer_id: Id,
  cmid: Id,
  reaction_id: OptionalId,
});

/** A user joined the community. */
export const GroupJoinSchema = v.object({ user_id: Id, join_type: v.optional(v.string(), "join") });

/** A user left the community; `self` is 1 when they left by themselves. */
export const GroupLeaveSchema = v.object({
  user_id: Id,
  self: v.optional(v.union([v.literal(0), v.literal(1), v.boolean()]), 0),
});

/** A validated `message` object. */
export type RawMessage = v.InferOutput<typeof MessageSchema>;
