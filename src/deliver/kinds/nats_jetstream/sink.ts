/**
 * The `nats-jetstream` sink: each event published to its subject with `Nats-Msg-Id` = the
 * event id (so the stream's duplicate window drops a retry or a crash replay) and
 * `Event-Type`, its body the event's JSON. An event counts as delivered only once its
 * PubAck arrived. A batch's publishes go out together and their acks are awaited together,
 * at most `maxInFlight` at a time.
 * @module
 */
import { errorMessage } from "../../../errors.ts";
import type { Delivery, Outcome, Sink } from "../../types.ts";
import type { NatsConn } from "./connection.ts";
import {
  expandSubject,
  type SubjectTemplate,
  type SubjectValues,
  valueProblem,
} from "./subject.ts";

/** Options for {@linkcode createNatsSink}. */
export interface NatsSinkOptions {
  name: string;
  subject: SubjectTemplate;
  conn: NatsConn;
  /** How long to wait for each PubAck. @default 5000 */
  ackTimeoutMs?: number;
  /** Publishes awaiting their ack at once. @default 256 */
  maxInFlight?: number;
}

const encoder = new TextEncoder();

type Fields = { event_type?: unknown; group_id?: unknown; event?: Fields };

/**
 * The placeholder values of one event: from the delivery, else from its JSON body (a parked
 * delivery from before deliveries carried them), or for a dead letter (`event_type`
 * `dead_letter`) from the event it holds.
 */
function valuesOf(item: Delivery): SubjectValues | string {
  let eventType = item.eventType;
  let groupId = item.groupId;
  if (eventType === undefined || groupId === undefined) {
    try {
      const body = JSON.parse(item.body) as Fields;
      if (typeof body.event_type === "string") eventType ??= body.event_type;
      const group = body.group_id ?? body.event?.group_id;
      if (typeof group === "number") groupId ??= group;
    } catch { /* not JSON: the checks below say what is missing */ }
  }
  if (eventType === undefined) return "the event has no event_type";
  if (groupId === undefined) return "the event has no group_id";
  return { event_type: eventType, group_id: String(groupId) };
}

/** Creates a JetStream sink. */
export function createNatsSink(options: NatsSinkOptions): Sink {
  const { conn } = options;
  const timeout = options.ackTimeoutMs ?? 5_000;
  const maxInFlight = options.maxInFlight ?? 256;

  async function publish(item: Delivery): Promise<Outcome> {
    const values = valuesOf(item);
    if (typeof values === "string") return { status: "dead", error: values };
    for (const [placeholder, value] of Object.entries(values)) {
      const invalid = valueProblem(value);
      if (invalid) {
        return {
          status: "dead",
          error: `The event's ${placeholder} ${JSON.stringify(value)} cannot be a NATS subject ` +
            `token: ${invalid}`,
        };
      }
    }
    const subject = expandSubject(options.subject, values);
    const payload = encoder.encode(item.body);
    const max = conn.maxPayload();
    if (max !== null && payload.length > max) {
      return {
        status: "dead",
        error: `The event is ${payload.length} bytes, over the server's max_payload of ${max}`,
      };
    }
    const js = conn.jetstream();
    if (!js) return { status: "retry", error: `NATS: ${conn.state()}` };
    const h = conn.headers();
    h.set("Event-Type", values.event_type);
    try {
      const ack = await js.publish(subject, payload, { msgID: item.eventId, headers: h, timeout });
      return ack.duplicate ? { status: "delivered", duplicate: true } : { status: "delivered" };
    } catch (error) {
      // The client calls "no responders" JetStream not being enabled; for a publish it means
      // no stream captures the subject (yet: the operator may create one, so it is a retry).
      const reason = /no responders|jetstream is not enabled/i.test(errorMessage(error))
        ? "no JetStream stream captures it"
        : errorMessage(error);
      return {
        status: "retry",
        error: `Cannot publish to subject ${JSON.stringify(subject)}: ${reason}`,
      };
    }
  }

  return {
    name: options.name,
    kind: "nats-jetstream",
    async deliver(items) {
      const outcomes: Outcome[] = new Array(items.length);
      let next = 0;
      const worker = async () => {
        while (next < items.length) {
          const i = next++;
          outcomes[i] = await publish(items[i]!);
        }
      };
      await Promise.all(Array.from({ length: Math.min(maxInFlight, items.length) }, worker));
      return outcomes;
    },
  };
}
