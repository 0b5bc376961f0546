/**
 * The AMQP 0-9-1 connection of the `amqp` kind (RabbitMQ), configured by `AMQP_URL`. One
 * connection per router, shared by every `amqp` destination; each sink opens its own
 * confirm channel on it, so that a channel the broker closes (a deleted exchange) takes
 * down only that destination's publishes.
 *
 * The connection is made on first use and made again after the broker closed it or went
 * away, so a broker that is down at start or restarts mid-run only turns deliveries into
 * retries. Attempts are spaced: while the broker stays unreachable, callers within
 * {@linkcode RECONNECT_GAP_MS} of the last failed attempt get its error at once.
 * @module
 */
import type { Channel, ChannelModel } from "amqplib";
import { errorMessage } from "../../../errors.ts";
import type { ConnectionSpec } from "../kind.ts";
import { withTimeout } from "../../../util/time.ts";

/**
 * The client, loaded when a connection is first opened: a router without AMQP
 * destinations (and the serverless worker) never loads it, nor the Node compatibility
 * modules it pulls in (several MB of resident memory).
 */
const loadClient = () => import("amqplib");

/** `AMQP_URL`, read and checked. */
export interface AmqpConfig {
  /** The URL as given: amqplib reads it (credentials, vhost, `?heartbeat=`, ...). */
  url: string;
  /** Where it connects, without credentials: `amqp://host:port/vhost`. */
  shown: string;
  /** The password as the broker sees it (decoded), and as written in the URL. */
  passwords: string[];
}

/** The least time between two connection attempts while the broker is unreachable. */
export const RECONNECT_GAP_MS = 1000;

/** How long opening a connection may take (TCP, TLS and the AMQP handshake). */
export const CONNECT_TIMEOUT_MS = 5000;

/** How long a readiness check waits for a connection being made. */
const READY_TIMEOUT_MS = 1000;

/** What an `AMQP_URL` must look like, for problem lines (never the value itself). */
const EXPECTED = "expected amqp://user:pass@host:port/vhost or amqps://...";

/** Reads `AMQP_URL`; null when unset or unusable (then `problems` says why, without the value). */
export function parseAmqpUrl(value: string | undefined, problems: string[]): AmqpConfig | null {
  const url = value?.trim();
  if (!url) return null;
  if (!URL.canParse(url)) {
    problems.push(
      `AMQP_URL: ${EXPECTED} (percent-encode reserved characters in the user name and password)`,
    );
    return null;
  }
  const parsed = new URL(url);
  if (parsed.protocol !== "amqp:" && parsed.protocol !== "amqps:") {
    problems.push(`AMQP_URL: ${EXPECTED}`);
    return null;
  }
  if (parsed.hostname === "") {
    problems.push(`AMQP_URL: no host; ${EXPECTED}`);
    return null;
  }
  let vhost: string;
  try {
    vhost = decodeURIComponent(parsed.pathname.slice(1));
  } catch {
    problems.push(`AMQP_URL: the vhost is not valid percent-encoding; ${EXPECTED}`);
    return null;
  }
  const port = parsed.port || (parsed.protocol === "amqps:" ? "5671" : "5672");
  const passwords = parsed.password === "" ? [] : [parsed.password];
  try {
    const decoded = decodeURIComponent(parsed.password);
    if (decoded !== "" && decoded !== parsed.password) passwords.unshift(decoded);
  } catch {
    // An undecodable password is sent as written; the written form is already listed.
  }
  return {
    url,
    // amqplib, like RabbitMQ's URI spec in practice, takes an empty path for the default vhost.
    shown: `${parsed.protocol}//${
      parsed.host.includes(":") ? parsed.host : `${parsed.host}:${port}`
    }/${encodeURIComponent(vhost || "/")}`,
    passwords,
  };
}

/** The router's AMQP connection: made when first needed, made again after it was lost. */
export interface AmqpConnection {
  /** `amqp://host:port/vhost`, for messages. */
  readonly shown: string;
  /** The live connection, connecting first when there is none; rejects when unreachable. */
  connection(): Promise<ChannelModel>;
  /**
   * Runs `use` on a channel of its own, closed afterwards: a passive declare that fails
   * closes its channel, never the shared connection or a sink's channel.
   */
  withChannel<T>(use: (channel: Channel) => Promise<T>): Promise<T>;
  /** Null when a connection is open and not blocked by the broker, else why not. */
  ready(): Promise<string | null>;
  /** Closes the connection; later calls fail. */
  close(): Promise<void>;
}

/** Options of {@linkcode openAmqpConnection}, for tests. */
export interface AmqpConnectionOptions {
  connectTimeoutMs?: number;
  reconnectGapMs?: number;
  now?: () => number;
}

/** The connection of `config`; connects on first use, so it never fails on a down broker. */
export function openAmqpConnection(
  config: AmqpConfig,
  options: AmqpConnectionOptions = {},
): AmqpConnection {
  const timeoutMs = options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS;
  const gapMs = options.reconnectGapMs ?? RECONNECT_GAP_MS;
  const now = options.now ?? Date.now;
  let current: ChannelModel | null = null;
  let connecting: Promise<ChannelModel> | null = null;
  let lastFailure: { at: number; error: Error } | null = null;
  let blocked: string | null = null;
  let closed = false;

  async function connect(): Promise<ChannelModel> {
    try {
      // The socket's timeout covers TCP, TLS and the handshake (amqplib clears it after).
      const { default: amqplib } = await loadClient();
      const model = await amqplib.connect(config.url, {
        timeout: timeoutMs,
        clientProperties: { connection_name: "vk-event-router" },
      });
      // Without an 'error' listener an error event would throw out of amqplib's frame loop.
      model.on("error", () => {});
      model.on("close", () => {
        if (current === model) current = null;
        blocked = null;
      });
      model.on("blocked", (reason: string) => blocked = reason);
      model.on("unblocked", () => blocked = null);
      if (closed) {
        await model.close().catch(() => {});
        throw new Error("AMQP connection closed");
      }
      current = model;
      lastFailure = null;
      return model;
    } catch (error) {
      const failure = new Error(`${config.shown}: ${errorMessage(error)}`);
      lastFailure = { at: now(), error: failure };
      throw failure;
    } finally {
      connecting = null;
    }
  }

  const self: AmqpConnection = {
    shown: config.shown,
    connection() {
      if (closed) return Promise.reject(new Error("AMQP connection closed"));
      if (current) return Promise.resolve(current);
      if (connecting) return connecting;
      if (lastFailure && now() - lastFailure.at < gapMs) return Promise.reject(lastFailure.error);
      connecting = connect();
      return connecting;
    },
    async withChannel(use) {
      const channel = await (await self.connection()).createChannel();
      channel.on("error", () => {});
      try {
        return await use(channel);
      } finally {
        await channel.close().catch(() => {});
      }
    },
    async ready() {
      try {
        await withTimeout(self.connection(), READY_TIMEOUT_MS, "no connection");
      } catch (error) {
        return `AMQP: ${errorMessage(error)}`;
      }
      return blocked === null
        ? null
        : `AMQP: ${config.shown}: the broker blocked publishing (${blocked})`;
    },
    async close() {
      closed = true;
      const model = current ?? await connecting?.catch(() => null) ?? null;
      current = null;
      await model?.close().catch(() => {});
    },
  };
  // Connect now, so the first batch does not wait for the handshake; a failure shows on use.
  self.connection().catch(() => {});
  return self;
}

/** `AMQP_URL`: one connection per router, shared by every `amqp` destination. */
export const amqpConnection: ConnectionSpec<AmqpConfig, AmqpConnection> = {
  name: "amqp",
  variables: ["AMQP_URL"],
  howToConfigure: "set AMQP_URL (amqp://user:pass@host:port/vhost, or amqps://)",
  configure: (env, problems) => parseAmqpUrl(env.AMQP_URL, problems),
  secrets: (config) => config.passwords,
  describe: (config) => `RabbitMQ at ${config.shown}`,
  open: (config) => Promise.resolve(openAmqpConnection(config)),
  close: (conn) => conn.close(),
  ready: (conn) => conn.ready(),
};
