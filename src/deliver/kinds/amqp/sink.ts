/**
 * The `amqp` sink: publishes each event to an exchange with publisher confirms, as a
 * persistent message whose `message_id` is the event id (consumers deduplicate by it), and
 * with `mandatory`, so that a message no queue takes comes back and counts as a failure
 * instead of being dropped by the broker. A batch's messages go out together and their
 * confirms are awaited together.
 * @module
 */
import { Buffer } from "node:buffer";
import type { ConfirmChannel, Message } from "amqplib";
import { errorMessage } from "../../../errors.ts";
import type { Delivery, Outcome, Sink } from "../../types.ts";
import type { AmqpConnection } from "./connection.ts";

/** The placeholders a routing key may hold. */
export const ROUTING_KEY_PLACEHOLDERS = ["event_type", "group_id"] as const;

type Placeholder = (typeof ROUTING_KEY_PLACEHOLDERS)[number];

/** AMQP's limit on a routing key (a short string). */
const MAX_ROUTING_KEY_BYTES = 255;

/** A routing key template: braces only around a known placeholder (a regex for the schema). */
export const ROUTING_KEY_TEMPLATE = new RegExp(
  `^(?:[^{}]|\\{(?:${ROUTING_KEY_PLACEHOLDERS.join("|")})\\})*$`,
);

/** The value of a placeholder for one delivery: its own field, else the event's JSON. */
function placeholderValue(item: Delivery, name: Placeholder): string | null {
  if (name === "event_type" && item.eventType) return item.eventType;
  // A parked delivery from before the field was carried, or `group_id`: read the event.
  let event: Record<string, unknown>;
  try {
    event = JSON.parse(item.body) as Record<string, unknown>;
  } catch {
    return null;
  }
  const value = event[name];
  return typeof value === "string" || typeof value === "number" ? String(value) : null;
}

/** The routing key of `item`, or why it cannot have one (no retry will help). */
export function routingKeyOf(template: string, item: Delivery): string | { error: string } {
  let missing: string | null = null;
  const key = template.replace(/\{(event_type|group_id)\}/g, (_, name: Placeholder) => {
    const value = placeholderValue(item, name);
    if (value === null) missing = name;
    return value ?? "";
  });
  if (missing !== null) return { error: `routing key needs {${missing}}, the event has none` };
  if (new TextEncoder().encode(key).length > MAX_ROUTING_KEY_BYTES) {
    return { error: `routing key longer than ${MAX_ROUTING_KEY_BYTES} bytes` };
  }
  return key;
}

/** Options for {@linkcode createAmqpSink}. */
export interface AmqpSinkOptions {
  name: string;
  connection: AmqpConnection;
  /** `""`: the default exchange (the routing key names the queue). */
  exchange: string;
  /** With `{event_type}` and `{group_id}`. */
  routingKey: string;
  /** How long a batch's confirms may take. */
  timeoutMs: number;
  /** Seconds since the epoch, for the `timestamp` property. */
  now?: () => number;
}

/** A sink's confirm channel and what the broker said on it. */
interface ChannelState {
  channel: ConfirmChannel;
  /** Messages the broker returned as unroutable, by message id, not yet matched to a confirm. */
  returned: Map<string, string[]>;
  /** Why the broker closed the channel, once it did. */
  closedBecause: string | null;
  open: boolean;
}

/** Takes the return of the message `id`, if the broker sent one. */
function takeReturn(state: ChannelState, id: string): string | null {
  const reasons = state.returned.get(id);
  const reason = reasons?.shift() ?? null;
  if (reasons?.length === 0) state.returned.delete(id);
  return reason;
}

/** Creates an `amqp` sink. */
export function createAmqpSink(options: AmqpSinkOptions): Sink {
  const now = options.now ?? (() => Math.floor(Date.now() / 1000));
  let current: ChannelState | null = null;
  let opening: Promise<ChannelState> | null = null;

  async function openChannel(): Promise<ChannelState> {
    const channel = await (await options.connection.connection()).createConfirmChannel();
    const state: ChannelState = { channel, returned: new Map(), closedBecause: null, open: true };
    channel.on("error", (error: Error) => state.closedBecause = errorMessage(error));
    channel.on("close", () => {
      state.open = false;
      if (current === state) current = null;
    });
    // amqplib emits a return before the confirm of the same message: frames are handled
    // in order and both synchronously, so the confirm's callback always sees it.
    channel.on("return", (message: Message) => {
      const { exchange, routingKey } = message.fields;
      const code = (message.fields as { replyText?: string }).replyText ?? "NO_ROUTE";
      const where = exchange === ""
        ? "the default exchange"
        : `exchange ${JSON.stringify(exchange)}`;
      const id = String(message.properties.messageId);
      const reasons = state.returned.get(id) ?? [];
      reasons.push(`${where} has no queue for routing key ${JSON.stringify(routingKey)} (${code})`);
      state.returned.set(id, reasons);
    });
    current = state;
    return state;
  }

  /** The sink's open channel, opening one (and the connection) when needed. */
  function channelState(): Promise<ChannelState> {
    if (current?.open) return Promise.resolve(current);
    opening ??= openChannel().finally(() => opening = null);
    return opening;
  }

  function publish(state: ChannelState, item: Delivery, routingKey: string): Promise<Outcome> {
    return new Promise((resolve) => {
      try {
        state.channel.publish(
          options.exchange,
          routingKey,
          Buffer.from(item.body),
          {
            persistent: true,
            mandatory: true,
            messageId: item.eventId,
            contentType: "application/json",
            timestamp: now(),
            ...(item.eventType ? { type: item.eventType } : {}),
          },
          (error) => {
            if (error) {
              const why = state.closedBecause ?? errorMessage(error);
              resolve({ status: "retry", error: `not confirmed: ${why}` });
              return;
            }
            const returned = takeReturn(state, item.eventId);
            resolve(
              returned === null
                ? { status: "delivered" }
                : { status: "retry", error: `unroutable: ${returned}` },
            );
          },
        );
      } catch (error) {
        // amqplib throws at once on a channel that has just closed.
        resolve({
          status: "retry",
          error: `not sent: ${state.closedBecause ?? errorMessage(error)}`,
        });
      }
    });
  }

  return {
    name: options.name,
    kind: "amqp",
    async deliver(items) {
      if (items.length === 0) return [];
      // One deadline for the whole batch: the connection, the channel and every confirm.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const deadline = new Promise<"late">((resolve) => {
        timer = setTimeout(() => resolve("late"), options.timeoutMs);
      });
      try {
        let state: ChannelState | "late";
        try {
          state = await Promise.race([channelState(), deadline]);
        } catch (error) {
          return items.map(() => ({ status: "retry", error: `AMQP: ${errorMessage(error)}` }));
        }
        if (state === "late") {
          const error = `AMQP: no channel within ${options.timeoutMs} ms`;
          return items.map(() => ({ status: "retry", error }));
        }
        const open = state;
        const outcomes = await Promise.all(items.map(async (item): Promise<Outcome | "late"> => {
          const key = routingKeyOf(options.routingKey, item);
          if (typeof key !== "string") return { status: "dead", error: key.error };
          return await Promise.race([publish(open, item, key), deadline]);
        }));
        if (outcomes.includes("late")) {
          // Late confirms must not be matched to a later batch's messages: the next batch
          // gets a new channel (the close is not awaited: a blocked broker may not answer).
          open.open = false;
          if (current === open) current = null;
          open.channel.close().catch(() => {});
        }
        const late = `no confirm within ${options.timeoutMs} ms`;
        return outcomes.map((o) => o === "late" ? { status: "retry", error: late } : o);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
