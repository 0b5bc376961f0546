/**
 * The custom events: the public contract with consumer services (see docs/EVENTS.md).
 * Field names are snake_case because consumers in other languages read them as JSON.
 * Change them only additively.
 * @module
 */

/** Fields every event carries. */
export interface EventHeader {
  /** Unix seconds when the router received the event. */
  ts: number;
  /** `ts` as `YYYY-MM-DD HH:MM:SS` in `EVENT_TIMEZONE`. */
  datetime: string;
  event_type: string;
  /** VK's `event_id`: unique per event, the deduplication key. */
  event_id: string;
  group_id: number;
}

/** The acting user (negative ids are communities). Names are filled by enrichment. */
export interface ActorFields {
  user_id: number;
  user_name: string | null;
  user_nick: string | null;
}

/** The conversation. `peer_name` is filled by enrichment. */
export interface PeerFields {
  peer_id: number;
  peer_name: string | null;
  /** `peer_id - 2000000000` for group chats, null for private dialogs. */
  chat_id: number | null;
}

/** A message quoted by reply or forwarded. */
export interface QuotedMessage {
  user_id: number;
  cmid: number | null;
  text: string;
}

/** A mention in VK markup: `[id123|@nick]` is `{ id: 123 }`, `[club456|Name]` is `{ id: -456 }`. */
export interface Mention {
  id: number;
  text: string;
}

/** `message_new`, `command_call`, `message_edit` and `message_reply`. */
export interface MessageEvent extends EventHeader, ActorFields, PeerFields {
  event_type: "message_new" | "command_call" | "message_edit" | "message_reply";
  cmid: number | null;
  text: string;
  reply: QuotedMessage | null;
  forward: QuotedMessage[];
  attachments: string[];
  mentions: Mention[];
  /** On `command_call`: the word after the prefix, lower-cased. */
  command?: string;
  /** On `command_call`: the remaining words. */
  args?: string[];
}

/** A service message in a chat (invite, kick, title change, pin, ...). */
export interface ChatActionEvent extends EventHeader, ActorFields, PeerFields {
  event_type: "chat_action";
  cmid: number | null;
  action: { type: string; member_id: number | null; text: string | null };
}

/** A callback button press (`message_event`). */
export interface ButtonEvent extends EventHeader, ActorFields, PeerFields {
  event_type: "button_pressed";
  cmid: number | null;
  /** Needed to answer with `messages.sendMessageEventAnswer`. */
  button_event_id: string;
  payload: Record<string, unknown> | null;
}

/** A reaction set or removed (`message_reaction_event`). */
export interface ReactionEvent extends EventHeader, ActorFields, PeerFields {
  event_type: "reaction";
  cmid: number;
  /** Null when the reaction was removed. */
  reaction_id: number | null;
}

/** `group_join` / `group_leave`. */
export interface MemberEvent extends EventHeader, ActorFields {
  event_type: "member_join" | "member_leave";
  /** On `member_join`: `join`, `unsure`, `accepted`, `approved` or `request`. */
  join_type?: string;
  /** On `member_leave`: true when the user left by themselves. */
  self?: boolean;
}

/** Any other VK event type, passed on untouched. */
export interface RawEvent extends EventHeader {
  event_type: "raw";
  raw_type: string;
  object: unknown;
}

/** Every custom `event_type`, for routes-file checks and metric labels. */
export const CUSTOM_EVENT_TYPES = [
  "message_new",
  "command_call",
  "message_edit",
  "message_reply",
  "chat_action",
  "button_pressed",
  "reaction",
  "member_join",
  "member_leave",
  "raw",
] as const;

/** Every custom event. */
export type CustomEvent =
  | MessageEvent
  | ChatActionEvent
  | ButtonEvent
  | ReactionEvent
  | MemberEvent
  | RawEvent;

/** One validation problem of a rejected raw event. */
export interface RejectionIssue {
  /** Dotted path into the raw event, like `object.message.peer_id`. */
  path: string;
  message: string;
}

/** A raw event that failed validation: it is dead-lettered with its reasons, never transformed. */
export interface Rejection {
  /** The raw event's `event_id` when it had one. */
  event_id: string | null;
  group_id: number | null;
  raw_type: string | null;
  /** When the router received it (Unix seconds). */
  ts: number;
  issues: RejectionIssue[];
  raw: unknown;
}

/** An event and the destinations it was routed to (none: unrouted). */
export interface RoutedEvent {
  event: CustomEvent;
  destinations: readonly string[];
}
