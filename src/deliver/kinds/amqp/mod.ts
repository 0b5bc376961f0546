/**
 * The `amqp` destination kind (RabbitMQ): `{"kind": "amqp", "exchange": "vk.events",
 * "routing_key": "{event_type}"}`, over the connection `AMQP_URL` configures. See this
 * folder's README for the guarantees and a consumer recipe.
 * @module
 */
import * as v from "valibot";
import { type BaseDestination, defineKind } from "../kind.ts";
import { type AmqpConnection, amqpConnection } from "./connection.ts";
import { createAmqpSink, ROUTING_KEY_PLACEHOLDERS, ROUTING_KEY_TEMPLATE } from "./sink.ts";

/** AMQP's short strings: names and routing keys of at most 255 bytes. */
const MAX_NAME = 255;

const AmqpSchema = v.strictObject({
  kind: v.literal("amqp"),
  exchange: v.pipe(
    v.string(),
    v.maxLength(MAX_NAME, "expected at most 255 characters"),
    v.regex(
      /^[A-Za-z0-9_.:-]*$/,
      'expected an exchange name (letters, digits, "-", "_", ".", ":") or "" for the default exchange',
    ),
  ),
  routing_key: v.pipe(
    v.string(),
    v.regex(
      ROUTING_KEY_TEMPLATE,
      `expected only the placeholders ${
        ROUTING_KEY_PLACEHOLDERS.map((p) => `{${p}}`).join(" and ")
      }`,
    ),
  ),
  backlog_queue: v.optional(
    v.pipe(v.string(), v.nonEmpty("expected a queue name"), v.maxLength(MAX_NAME)),
  ),
  timeout_ms: v.optional(
    v.pipe(v.number(), v.integer(), v.minValue(100), v.maxValue(120_000)),
    10_000,
  ),
});

/** An `amqp` destination. */
export interface AmqpDestination extends BaseDestination<"amqp"> {
  /** `""`: the default exchange, where the routing key names a queue. */
  exchange: string;
  routingKey: string;
  /** The queue whose depth the status page shows; null: none shown. */
  backlogQueue: string | null;
  /** How long a batch's publisher confirms may take. */
  timeoutMs: number;
}

/** How to name the destination in a start-up problem. */
function entry(d: AmqpDestination): string {
  return `ROUTES_FILE: destination ${JSON.stringify(d.name)}`;
}

/** What the broker answered a passive declare with, when it is an answer and not an outage. */
function refusal(error: unknown): "missing" | "refused" | null {
  const code = (error as { code?: unknown }).code;
  return code === 404 ? "missing" : code === 403 ? "refused" : null;
}

/**
 * A passive declare on a channel of its own: problems when the broker says no, a rejection
 * when it cannot be asked (the caller's warning).
 */
async function passive(
  conn: AmqpConnection,
  what: string,
  declare: Parameters<AmqpConnection["withChannel"]>[0],
  howToFix: string,
): Promise<string[]> {
  await conn.connection();
  try {
    await conn.withChannel(declare);
    return [];
  } catch (error) {
    const why = refusal(error);
    if (why === null) throw error;
    return [
      why === "missing"
        ? `${what} does not exist on ${conn.shown}: ${howToFix}`
        : `${what} on ${conn.shown}: access refused to the user of AMQP_URL`,
    ];
  }
}

/** The `amqp` kind. */
export const amqpKind = defineKind<
  "amqp",
  v.InferOutput<typeof AmqpSchema>,
  AmqpDestination,
  AmqpConnection
>({
  kind: "amqp",
  schema: AmqpSchema,
  connection: amqpConnection,
  resolve: (raw, { name }) => ({
    kind: "amqp",
    name,
    exchange: raw.exchange,
    routingKey: raw.routing_key,
    backlogQueue: raw.backlog_queue ?? null,
    timeoutMs: raw.timeout_ms,
  }),
  secrets: () => [],
  check: (d) =>
    d.exchange === "" && d.routingKey === ""
      ? [`${entry(d)}: the default exchange ("") needs a routing_key that names a queue`]
      : [],
  verify(d, conn) {
    if (d.exchange !== "") {
      return passive(
        conn,
        `${entry(d)}: exchange ${JSON.stringify(d.exchange)}`,
        (channel) => channel.checkExchange(d.exchange),
        'declare it (a durable topic exchange, say) before the router starts, or correct "exchange"',
      );
    }
    // The default exchange exists; a fixed routing key names one queue, which must.
    if (/\{[^{}]*\}/.test(d.routingKey)) return Promise.resolve([]);
    return passive(
      conn,
      `${entry(d)}: queue ${JSON.stringify(d.routingKey)} (default exchange)`,
      (channel) => channel.checkQueue(d.routingKey),
      'declare it before the router starts, or correct "routing_key"',
    );
  },
  createSink: (d, context) =>
    createAmqpSink({
      name: d.name,
      connection: context.connection,
      exchange: d.exchange,
      routingKey: d.routingKey,
      timeoutMs: Math.min(d.timeoutMs, context.maxHttpTimeoutMs ?? Infinity),
    }),
  async backlog(d, conn) {
    if (d.backlogQueue === null) return null;
    const queue = d.backlogQueue;
    const { messageCount, consumerCount } = await conn.withChannel((channel) =>
      channel.checkQueue(queue)
    );
    return { depth: messageCount, oldestAgeS: null, consumers: consumerCount };
  },
});
