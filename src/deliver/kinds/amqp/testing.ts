/**
 * The `amqp` kind's test harness: a private RabbitMQ node, isolated targets on it, and the
 * bench's floor. The node never touches the machine's own RabbitMQ: its own node name,
 * AMQP and distribution ports, data and log folders, no plugins, and an environment file
 * of its own, so `/etc/rabbitmq` changes nothing. `TEST_AMQP_URL` names a broker to use
 * instead.
 * @module
 */
import { Buffer } from "node:buffer";
import amqplib from "amqplib";
import type { ChannelModel, ConfirmChannel } from "amqplib";
import type {
  Arrived,
  KindHarness,
  Provisioned,
  TestServer,
} from "../../../../tests/support/kind_harness.ts";
import { freePort, startChildServer } from "../../../../tests/support/child_server.ts";

/** The one line that says what to install. */
export const RABBITMQ_SERVER_MISSING =
  "Cannot find rabbitmq-server: install it (Debian/Ubuntu: apt-get install rabbitmq-server; " +
  "macOS: brew install rabbitmq)";

/** Debian's server script (the one on PATH, /usr/sbin, changes to the rabbitmq user). */
const DEBIAN_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server";

/** The server script to run, or null when there is none. */
async function serverScript(): Promise<string | null> {
  for (const candidate of [DEBIAN_SERVER, "rabbitmq-server"]) {
    if (candidate.startsWith("/")) {
      if (await Deno.stat(candidate).then((s) => s.isFile, () => false)) return candidate;
      continue;
    }
    const found = await new Deno.Command("sh", {
      args: ["-c", `command -v ${candidate}`],
      stdout: "piped",
      stderr: "null",
    }).output().catch(() => null);
    const path = found?.success ? new TextDecoder().decode(found.stdout).trim() : "";
    if (path !== "") return path;
  }
  return null;
}

/** The private node, which can also be frozen: connections stay open and nothing answers. */
export interface RabbitServer extends TestServer {
  /** SIGSTOP. */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
}

/** An `amqp` target: an exchange and the queue bound to it with `#`. */
export interface AmqpTarget extends Provisioned {
  exchange: string;
  queue: string;
  /** The floor's confirm channel, opened on its first use and kept until the disposal. */
  floorChannel(): Promise<ConfirmChannel>;
}

/** Tries `open` until it succeeds or `ms` pass. */
async function waitForBroker(url: string, child: Deno.ChildProcess, ms: number): Promise<void> {
  const until = Date.now() + ms;
  let exited = false;
  child.status.then(() => exited = true);
  let last: unknown = null;
  while (Date.now() < until && !exited) {
    try {
      const connection = await amqplib.connect(url, { timeout: 1000 });
      await connection.close();
      return;
    } catch (error) {
      last = error;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const why = exited ? "the node exited" : `no AMQP handshake within ${ms / 1000} s`;
  throw new Error(`Cannot start rabbitmq-server: ${why}${last ? ` (${String(last)})` : ""}`);
}

/**
 * Starts a private RabbitMQ node on free ports (a few seconds). Its data lasts across
 * `stop` and `start`, so durable exchanges, queues and persistent messages survive.
 */
export async function startRabbitServer(): Promise<RabbitServer> {
  const script = await serverScript();
  if (script === null) throw new Error(RABBITMQ_SERVER_MISSING);
  const dir = await Deno.makeTempDir({ prefix: "vk-router-rabbitmq-" });
  const port = freePort();
  const distPort = freePort();
  const node = `vkr-test-${port}@localhost`;
  await Deno.writeTextFile(`${dir}/enabled_plugins`, "[].\n");
  await Deno.writeTextFile(`${dir}/rabbitmq-env.conf`, "");
  await Deno.writeTextFile(
    `${dir}/rabbitmq.conf`,
    [
      `listeners.tcp.default = 127.0.0.1:${port}`,
      "log.console = false",
      "log.file.level = warning",
      "",
    ].join("\n"),
  );
  const env = {
    // The Erlang cookie is made in HOME: a private one.
    HOME: dir,
    RABBITMQ_NODENAME: node,
    RABBITMQ_NODE_IP_ADDRESS: "127.0.0.1",
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_MNESIA_BASE: `${dir}/mnesia`,
    RABBITMQ_LOG_BASE: `${dir}/log`,
    RABBITMQ_CONFIG_FILE: `${dir}/rabbitmq.conf`,
    RABBITMQ_CONF_ENV_FILE: `${dir}/rabbitmq-env.conf`,
    RABBITMQ_ENABLED_PLUGINS_FILE: `${dir}/enabled_plugins`,
    RABBITMQ_PID_FILE: `${dir}/node.pid`,
    // The script then execs the VM, so a signal to the child reaches the broker itself.
    RUNNING_UNDER_SYSTEMD: "1",
  };
  const url = `amqp://guest:guest@127.0.0.1:${port}/`;
  const server = await startChildServer({
    dir,
    spawn: () =>
      new Deno.Command(script, { env, stdin: "null", stdout: "null", stderr: "null" }).spawn(),
    missing: RABBITMQ_SERVER_MISSING,
    ready: (child) => waitForBroker(url, child, 60_000),
  });
  const signal = (name: Deno.Signal) => server.child?.kill(name);
  return {
    url,
    stop: server.stop,
    start: server.start,
    pause: () => signal("SIGSTOP"),
    resume: () => signal("SIGCONT"),
    [Symbol.asyncDispose]: server[Symbol.asyncDispose],
  };
}

/** Runs `use` on a fresh connection's confirm channel, closed afterwards. */
async function withChannel<T>(
  url: string,
  use: (channel: ConfirmChannel) => Promise<T>,
): Promise<T> {
  const connection = await amqplib.connect(url);
  connection.on("error", () => {});
  try {
    const channel = await connection.createConfirmChannel();
    channel.on("error", () => {});
    return await use(channel);
  } finally {
    await connection.close().catch(() => {});
  }
}

/** A durable topic exchange and a durable queue bound to it with `#`, both named after `id`. */
async function provision(url: string, id: string): Promise<AmqpTarget> {
  const exchange = `vkr.test.${id}`;
  const queue = `vkr.test.${id}`;
  await withChannel(url, async (channel) => {
    await channel.assertExchange(exchange, "topic", { durable: true });
    await channel.assertQueue(queue, { durable: true });
    await channel.bindQueue(queue, exchange, "#");
    // Read back: both exist as declared.
    await channel.checkExchange(exchange);
    await channel.checkQueue(queue);
  });
  const arrived: Arrived[] = [];
  // The floor's connection and channel, opened on its first use and kept, as the sink's.
  let floorOpen: Promise<{ model: ChannelModel; channel: ConfirmChannel }> | null = null;
  return {
    exchange,
    queue,
    floorChannel() {
      floorOpen ??= (async () => {
        const model = await amqplib.connect(url);
        model.on("error", () => {});
        const channel = await model.createConfirmChannel();
        channel.on("error", () => {});
        return { model, channel };
      })();
      return floorOpen.then(({ channel }) => channel);
    },
    destination: { kind: "amqp", exchange, routing_key: "{event_type}" },
    async read() {
      await withChannel(url, async (channel) => {
        for (;;) {
          const message = await channel.get(queue, { noAck: true });
          if (message === false) break;
          arrived.push({
            eventId: String(message.properties.messageId),
            eventType: String(message.properties.type),
            body: message.content.toString(),
          });
        }
      });
      return [...arrived];
    },
    async count() {
      const { messageCount } = await withChannel(url, (channel) => channel.checkQueue(queue));
      return arrived.length + messageCount;
    },
    async [Symbol.asyncDispose]() {
      await floorOpen?.then(({ model }) => model.close()).catch(() => {});
      try {
        await withChannel(url, async (channel) => {
          await channel.deleteQueue(queue);
          await channel.deleteExchange(exchange);
        });
      } catch { /* the broker is gone already, and its data with it */ }
    },
  };
}

/**
 * The floor: the same client publishing every body at once on one kept channel, with the
 * properties the kind sets (persistent, mandatory, `message_id`, `type`, `content_type`,
 * `timestamp`), its confirms awaited together.
 */
async function floor(_url: string, target: Provisioned, bodies: readonly string[]): Promise<void> {
  const { exchange, floorChannel } = target as AmqpTarget;
  const channel = await floorChannel();
  const timestamp = Math.floor(Date.now() / 1000);
  for (const body of bodies) {
    const { event_id, type } = JSON.parse(body) as { event_id?: string; type?: string };
    channel.publish(exchange, String(type), Buffer.from(body), {
      persistent: true,
      mandatory: true,
      contentType: "application/json",
      timestamp,
      ...(event_id ? { messageId: event_id } : {}),
      ...(type ? { type } : {}),
    });
  }
  await channel.waitForConfirms();
}

/** `null` when a private node can be started here, else the install line. */
async function missing(): Promise<string | null> {
  return await serverScript() === null ? RABBITMQ_SERVER_MISSING : null;
}

/** The `amqp` kind's harness for the shared kind tests and the bench. */
export const harness = {
  kind: "amqp",
  testUrlVariable: "TEST_AMQP_URL",
  connectionVariable: "AMQP_URL",
  guarantee: "at-least-once",
  missing,
  startServer: startRabbitServer,
  provision,
  floor,
} satisfies KindHarness;
