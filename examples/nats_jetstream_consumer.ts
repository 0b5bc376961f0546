// deno-lint-ignore-file no-console -- an example whose output is the events it prints
/**
 * A consumer of a `nats-jetstream` destination: a durable pull consumer on the stream that
 * captures the destination's subjects, printing each event's JSON on a line of its own and
 * acknowledging it only after that (so an event this process dies on is redelivered).
 * Events are effectively once within the stream's duplicate window: the router publishes
 * each with `Nats-Msg-Id` = its event id, so a retry or replay is dropped by the stream.
 * A consumer that must never act twice still keys its side effects on `event_id`: JetStream
 * redelivers a message whose ack was lost.
 *
 *     NATS_URL=nats://127.0.0.1:4222 NATS_STREAM=VK_EVENTS \
 *       deno run --allow-net --allow-env examples/nats_jetstream_consumer.ts
 *
 * `NATS_STREAM` (default `VK_EVENTS`) names the stream, `NATS_CONSUMER` (default
 * `vk-consumer`) the durable consumer: restarted with the same name, it resumes where it
 * stopped. `NATS_FILTER` (optional) narrows it to a subject, e.g. `vk.*.message_new`.
 * Ctrl-C (or SIGTERM) stops it after the event in hand is acknowledged.
 * @module
 */
import { connect } from "@nats-io/transport-node";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";

const servers = (Deno.env.get("NATS_URL") ?? "nats://127.0.0.1:4222").split(",");
const stream = Deno.env.get("NATS_STREAM") ?? "VK_EVENTS";
const durable = Deno.env.get("NATS_CONSUMER") ?? "vk-consumer";
const filter = Deno.env.get("NATS_FILTER");

const nc = await connect({ servers, maxReconnectAttempts: -1 });
const jsm = await jetstreamManager(nc);
// Creating a durable consumer that exists with the same settings is a no-op.
await jsm.consumers.add(stream, {
  durable_name: durable,
  ack_policy: AckPolicy.Explicit,
  ...(filter ? { filter_subject: filter } : {}),
});
const consumer = await jetstream(nc).consumers.get(stream, durable);
const messages = await consumer.consume({ max_messages: 100 });

const stop = () => messages.stop();
Deno.addSignalListener("SIGINT", stop);
Deno.addSignalListener("SIGTERM", stop);

for await (const message of messages) {
  // The body is the event's JSON, the same as a Redis list item; handle it, then ack.
  const event = message.json<{ event_id: string; event_type: string }>();
  console.log(JSON.stringify(event));
  message.ack();
}
await nc.drain();
