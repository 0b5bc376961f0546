// deno-lint-ignore-file no-console -- an example whose output is the events it prints
/**
 * A consumer of an `amqp` destination (RabbitMQ): reads a durable queue with manual
 * acknowledgements, prints each event's JSON on a line of its own and acknowledges it only
 * after that, so an event this process dies on is delivered again. The router publishes at
 * least once, with `message_id` = the event id: a message whose confirm was lost is
 * published again, so this consumer skips a `message_id` it has just handled. A consumer
 * with side effects keys them on `event_id` in its own store instead of in memory.
 *
 *     AMQP_URL=amqp://guest:guest@127.0.0.1:5672/ AMQP_QUEUE=vk.events \
 *       AMQP_EXCHANGE=vk.events deno run --allow-net --allow-env examples/amqp_consumer.ts
 *
 * `AMQP_QUEUE` (default `vk.events`) names the queue, declared durable if it is missing.
 * With `AMQP_EXCHANGE` set, the queue is bound to that exchange with `AMQP_BINDING`
 * (default `#`: every routing key of a topic exchange). `AMQP_PREFETCH` (default 100) caps
 * the messages in hand at once. Ctrl-C (or SIGTERM) stops it; what is unacknowledged then
 * goes back to the queue.
 * @module
 */
import amqplib from "amqplib";

const url = Deno.env.get("AMQP_URL") ?? "amqp://guest:guest@127.0.0.1:5672/";
const queue = Deno.env.get("AMQP_QUEUE") ?? "vk.events";
const exchange = Deno.env.get("AMQP_EXCHANGE");
const binding = Deno.env.get("AMQP_BINDING") ?? "#";
const prefetch = Number(Deno.env.get("AMQP_PREFETCH") ?? "100");

/** How many recent message ids are remembered to skip a repeat. */
const REMEMBERED = 10_000;
const seen = new Set<string>();

const connection = await amqplib.connect(url);
const channel = await connection.createChannel();
await channel.prefetch(prefetch);
await channel.assertQueue(queue, { durable: true });
if (exchange) await channel.bindQueue(queue, exchange, binding);

const closed = Promise.withResolvers<void>();
connection.on("close", () => closed.resolve());
connection.on("error", (error: Error) => console.error(`AMQP: ${error.message}`));

const { consumerTag } = await channel.consume(queue, (message) => {
  if (message === null) return closed.resolve(); // the broker cancelled the consumer
  const id = String(message.properties.messageId);
  if (!seen.has(id)) {
    // The body is the event's JSON, the same as a Redis list item; handle it, then ack.
    console.log(JSON.stringify(JSON.parse(message.content.toString())));
    seen.add(id);
    if (seen.size > REMEMBERED) seen.delete(seen.values().next().value!);
  }
  channel.ack(message);
}, { noAck: false });

const stop = async () => {
  await channel.cancel(consumerTag).catch(() => {});
  await connection.close().catch(() => {});
};
Deno.addSignalListener("SIGINT", stop);
Deno.addSignalListener("SIGTERM", stop);
await closed.promise;
