/**
 * Raw VK events to custom events: validate with valibot, then build the flat shapes of
 * docs/EVENTS.md. Pure: the clock reading and settings come in as arguments, names are
 * left null for the enrichment stage. Every input yields an event or a rejection; nothing
 * here throws on bad data.
 * @module
 */
import * as v from "valibot";
import { formatDatetime } from "./datetime.ts";
import {
  EnvelopeSchema,
  GroupJoinSchema,
  GroupLeaveSchema,
  MessageEventSchema,
  MessageNewSchema,
  MessageSchema,
  type RawMessage,
  type RawQuoted,
  ReactionSchema,
} from "./raw_schema.ts";
import { parseCommand, parseMentions } from "./text.ts";
import type {
  ButtonEvent,
  ChatActionEvent,
  CustomEvent,
  EventHeader,
  MemberEvent,
  MessageEvent,
  PeerFields,
  QuotedMessage,
  ReactionEvent,
  Rejection,
  RejectionIssue,
} from "./types.ts";

/** Settings of the transform. */
export interface TransformOptions {
  /** When the router received the event, Unix seconds. */
  receivedAt: number;
  /** IANA zone of `datetime`. */
  timezone: string;
  /** Command prefixes, e.g. `["/", "!"]`. */
  commandPrefixes: readonly string[];
}

/** What became of one raw event. */
export type TransformResult = { ok: true; event: CustomEvent } | {
  ok: false;
  rejection: Rejection;
};

/** Deepest nesting accepted; VK's own events stay far below it. */
export const MAX_DEPTH = 64;

/**
 * Whether `value` nests at most `max` levels, checked without recursion; only objects and
 * arrays are stacked, so an event's scalars cost no allocation.
 */
function nestedWithin(value: unknown, max: number): boolean {
  if (value === null || typeof value !== "object") return true;
  const nodes: object[] = [value];
  const depths: number[] = [0];
  while (nodes.length > 0) {
    const node = nodes.pop()!;
    const depth = depths.pop()!;
    if (depth >= max) return false;
    for (const child of Object.values(node)) {
      if (child === null || typeof child !== "object") continue;
      nodes.push(child);
      depths.push(depth + 1);
    }
  }
  return true;
}

/** The envelope's scalar fields, for a rejection that cannot keep the whole event. */
function shallowHeader(raw: unknown): Record<string, unknown> {
  const r = (raw !== null && typeof raw === "object" ? raw : {}) as Record<string, unknown>;
  return { type: r.type, event_id: r.event_id, group_id: r.group_id };
}

/** The raw VK types transformed into their own custom events; any other becomes `raw`. */
export const TRANSFORMED_TYPES = [
  "message_new",
  "message_edit",
  "message_reply",
  "message_event",
  "message_reaction_event",
  "group_join",
  "group_leave",
] as const;

/** First id of group chats' peer ids. */
export const CHAT_PEER_BASE = 2_000_000_000;

/** Transforms one raw event. Bad input yields a rejection; it never throws (the property tests hold it to that). */
export function transform(raw: unknown, options: TransformOptions): TransformResult {
  if (!nestedWithin(raw, MAX_DEPTH)) {
    // Kept out of the dead letter as well: serialising it would overflow the stack.
    const issue = { path: "", message: `nested deeper than ${MAX_DEPTH} levels` };
    return reject(
      { ...shallowHeader(raw), raw: `[not kept: nested deeper than ${MAX_DEPTH} levels]` },
      options,
      [
        issue,
      ],
    );
  }
  const envelope = v.safeParse(EnvelopeSchema, raw);
  if (!envelope.success) return reject(raw, options, issuesOf(envelope.issues, ""));
  const { type, object } = envelope.output;
  const header = (event_type: string): EventHeader => ({
    ts: options.receivedAt,
    datetime: formatDatetime(options.receivedAt, options.timezone),
    event_type,
    event_id: envelope.output.event_id,
    group_id: envelope.output.group_id,
  });
  const parse = <S extends v.GenericSchema>(schema: S) => v.safeParse(schema, object);

  switch (type) {
    case "message_new": {
      const parsed = parse(MessageNewSchema);
      if (!parsed.success) return reject(raw, options, issuesOf(parsed.issues, "object"));
      const message = parsed.output.message;
      if (message.action) return ok(chatAction(header("chat_action"), message));
      return ok(messageEvent(header, message, options.commandPrefixes, "message_new"));
    }
    case "message_edit":
    case "message_reply": {
      const parsed = parse(MessageSchema);
      if (!parsed.success) return reject(raw, options, issuesOf(parsed.issues, "object"));
      return ok(messageEvent(header, parsed.output, [], type));
    }
    case "message_event": {
      const parsed = parse(MessageEventSchema);
      if (!parsed.success) return reject(raw, options, issuesOf(parsed.issues, "object"));
      const o = parsed.output;
      const event: ButtonEvent = {
        ...(header("button_pressed") as EventHeader & { event_type: "button_pressed" }),
        ...actor(o.user_id),
        ...peer(o.peer_id),
        cmid: o.conversation_message_id ?? null,
        button_event_id: o.event_id,
        payload: parsePayload(o.payload),
      };
      return ok(event);
    }
    case "message_reaction_event": {
      const parsed = parse(ReactionSchema);
      if (!parsed.success) return reject(raw, options, issuesOf(parsed.issues, "object"));
      const o = parsed.output;
      const event: ReactionEvent = {
        ...(header("reaction") as EventHeader & { event_type: "reaction" }),
        ...actor(o.reacted_id),
        ...peer(o.peer_id),
        cmid: o.cmid,
        reaction_id: o.reaction_id ?? null,
      };
      return ok(event);
    }
    case "group_join": {
      const parsed = parse(GroupJoinSchema);
      if (!parsed.success) return reject(raw, options, issuesOf(parsed.issues, "object"));
      const event: MemberEvent = {
        ...(header("member_join") as EventHeader & { event_type: "member_join" }),
        ...actor(parsed.output.user_id),
        join_type: parsed.output.join_type,
      };
      return ok(event);
    }
    case "group_leave": {
      const parsed = parse(GroupLeaveSchema);
      if (!parsed.success) return reject(raw, options, issuesOf(parsed.issues, "object"));
      const event: MemberEvent = {
        ...(header("member_leave") as EventHeader & { event_type: "member_leave" }),
        ...actor(parsed.output.user_id),
        self: parsed.output.self === 1 || parsed.output.self === true,
      };
      return ok(event);
    }
    default:
      return ok({ ...header("raw"), event_type: "raw", raw_type: type, object });
  }
}

function messageEvent(
  header: (type: string) => EventHeader,
  m: RawMessage,
  prefixes: readonly string[],
  type: "message_new" | "message_edit" | "message_reply",
): MessageEvent {
  const base = header(type);
  const command = prefixes.length > 0 ? parseCommand(m.text, prefixes, base.group_id) : null;
  const attachments = m.attachments.map((a) => a.type);
  if (m.geo !== undefined && m.geo !== null) attachments.push("geo");
  const event: MessageEvent = {
    ...base,
    event_type: command ? "command_call" : type,
    ...actor(m.from_id),
    ...peer(m.peer_id),
    cmid: m.conversation_message_id ?? null,
    text: m.text,
    reply: m.reply_message ? quoted(m.reply_message) : null,
    forward: m.fwd_messages.map(quoted),
    attachments,
    mentions: parseMentions(m.text),
  };
  if (command) {
    event.command = command.command;
    event.args = command.args;
  }
  return event;
}

function chatAction(header: EventHeader, m: RawMessage): ChatActionEvent {
  const action = m.action!;
  return {
    ...(header as EventHeader & { event_type: "chat_action" }),
    ...actor(m.from_id),
    ...peer(m.peer_id),
    cmid: m.conversation_message_id ?? null,
    action: { type: action.type, member_id: action.member_id ?? null, text: action.text ?? null },
  };
}

function actor(userId: number) {
  return { user_id: userId, user_name: null, user_nick: null };
}

function peer(peerId: number): PeerFields {
  return {
    peer_id: peerId,
    peer_name: null,
    chat_id: peerId > CHAT_PEER_BASE ? peerId - CHAT_PEER_BASE : null,
  };
}

function quoted(q: RawQuoted): QuotedMessage {
  return { user_id: q.from_id, cmid: q.conversation_message_id ?? null, text: q.text ?? "" };
}

/** VK sends button payloads as objects or JSON strings; anything else is kept as `{ raw }`. */
function parsePayload(
  payload: Record<string, unknown> | string | null | undefined,
): Record<string, unknown> | null {
  if (payload === undefined || payload === null) return null;
  if (typeof payload !== "string") return payload;
  try {
    const parsed: unknown = JSON.parse(payload);
    if (parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)) {
      return parsed as Record<string, unknown>;
    }
  } catch { /* not JSON: kept raw below */ }
  return { raw: payload };
}

function ok(event: CustomEvent): TransformResult {
  return { ok: true, event };
}

function issuesOf(issues: readonly v.BaseIssue<unknown>[], base: string): RejectionIssue[] {
  return issues.map((issue) => {
    const path = [base, ...(issue.path ?? []).map((p) => String(p.key))].filter(Boolean).join(".");
    return { path, message: issue.message };
  });
}

function reject(
  raw: unknown,
  options: TransformOptions,
  issues: RejectionIssue[],
): TransformResult {
  const r = (raw !== null && typeof raw === "object" ? raw : {}) as Record<string, unknown>;
  return {
    ok: false,
    rejection: {
      event_id: typeof r.event_id === "string" ? r.event_id : null,
      group_id: typeof r.group_id === "number" ? r.group_id : null,
      raw_type: typeof r.type === "string" ? r.type : null,
      ts: options.receivedAt,
      issues,
      raw,
    },
  };
}
