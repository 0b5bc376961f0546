/**
 * The NATS connection of the `nats-jetstream` kind, configured by `NATS_URL`
 * (`nats://[user:pass@]host:port`, several servers separated by commas), with `NATS_TOKEN`
 * or `NATS_CREDS` (a `.creds` file) where the server wants them. Opening never fails on a
 * down server: the connection keeps trying in the background, the client reconnects by
 * itself once it was up, and until then sinks answer `retry` and readiness says why.
 * @module
 */
import type { MsgHdrs, NatsConnection } from "@nats-io/transport-node";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { getLogger } from "@logtape/logtape";
import { ConfigError, errorMessage } from "../../../errors.ts";
import { surviveStraySocketErrors } from "../../../util/stray_socket_errors.ts";

const log = getLogger(["vk-event-router", "nats"]);

/**
 * The client, loaded when a connection is first opened: a router without JetStream
 * destinations (and the serverless worker) never loads it.
 */
const loadClient = () =>
  Promise.all([import("@nats-io/transport-node"), import("@nats-io/jetstream")]);

/** What `NATS_URL`, `NATS_TOKEN` and `NATS_CREDS` say. */
export interface NatsConfig {
  /** `host:port` of each server, in the order given. */
  servers: string[];
  tls: boolean;
  user: string | null;
  pass: string | null;
  token: string | null;
  /** Path of a credentials file (JWT and NKey seed), read when the connection opens. */
  credsFile: string | null;
}

/** The variables {@linkcode configureNats} reads. */
export const NATS_VARIABLES = ["NATS_URL", "NATS_TOKEN", "NATS_CREDS"] as const;

/** Reads the NATS variables; null when `NATS_URL` is not set. Problems never hold a value. */
export function configureNats(
  env: Readonly<Record<string, string | undefined>>,
  problems: string[],
): NatsConfig | null {
  const url = env.NATS_URL?.trim();
  if (!url) return null;
  const config: NatsConfig = {
    servers: [],
    tls: false,
    user: null,
    pass: null,
    token: env.NATS_TOKEN || null,
    credsFile: env.NATS_CREDS?.trim() || null,
  };
  const entries = url.split(",").map((s) => s.trim());
  for (const [i, entry] of entries.entries()) {
    const where = entries.length > 1 ? `server ${i + 1}: ` : "";
    let parsed: URL;
    try {
      parsed = new URL(entry.includes("://") ? entry : `nats://${entry}`);
    } catch {
      problems.push(`NATS_URL: ${where}expected nats://[user:pass@]host:port`);
      continue;
    }
    if (parsed.protocol !== "nats:" && parsed.protocol !== "tls:") {
      problems.push(`NATS_URL: ${where}expected the nats:// or tls:// scheme`);
      continue;
    }
    if (!parsed.hostname) {
      problems.push(`NATS_URL: ${where}expected a host`);
      continue;
    }
    if (parsed.pathname !== "" && parsed.pathname !== "/" || parsed.search || parsed.hash) {
      problems.push(`NATS_URL: ${where}expected no path or query after host:port`);
      continue;
    }
    if (parsed.protocol === "tls:") config.tls = true;
    const user = parsed.username ? decodeURIComponent(parsed.username) : null;
    const pass = parsed.password ? decodeURIComponent(parsed.password) : null;
    if (user !== null && pass === null) {
      // nats://token@host is NATS's own spelling of a token.
      config.token ??= user;
    } else if (user !== null) {
      if (config.user !== null && (config.user !== user || config.pass !== pass)) {
        problems.push(`NATS_URL: ${where}every server must carry the same user and password`);
      }
      config.user = user;
      config.pass = pass;
    }
    config.servers.push(`${parsed.hostname}:${parsed.port || 4222}`);
  }
  if (config.token !== null && config.user !== null) {
    problems.push("NATS_URL: a token and a user:password cannot be used together");
  }
  return config;
}

/** Values to redact from every output. */
export function natsSecrets(config: NatsConfig): string[] {
  return [config.pass, config.token].filter((s): s is string => !!s);
}

/** Safe to log: the servers without credentials. */
export function describeNats(config: NatsConfig): string {
  const scheme = config.tls ? "tls" : "nats";
  return config.servers.map((s) => `${scheme}://${s}`).join(",");
}

/** A NATS connection that may not be up yet; shared by every destination of the kind. */
export interface NatsConn {
  /** The publisher, or null while the connection is not usable (see {@linkcode state}). */
  jetstream(): JetStreamClient | null;
  /** Fresh message headers (each publish adds its own `Nats-Msg-Id` to those it is given). */
  headers(): MsgHdrs;
  /** The server's largest accepted message, once connected. */
  maxPayload(): number | null;
  /** JetStream's management API; throws while the connection is not usable. */
  manager(): Promise<JetStreamManager>;
  /** Null when usable, else why not. */
  state(): string | null;
  /** Resolves once connected (or closed); for start-up checks that wait a moment. */
  connected(timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

/** Reconnect pacing: short, so a restarted server is picked up within a second or so. */
const RECONNECT_WAIT_MS = 500;
const FIRST_CONNECT_MAX_WAIT_MS = 5_000;

/** Opens the connection in the background; never throws for a down server. */
export async function openNats(config: NatsConfig): Promise<NatsConn> {
  surviveStraySocketErrors(); // the client can leave a socket without its error listener
  const [{ connect, credsAuthenticator, headers }, { jetstream, jetstreamManager }] =
    await loadClient();
  let authenticator;
  if (config.credsFile) {
    try {
      authenticator = credsAuthenticator(await Deno.readFile(config.credsFile));
    } catch (error) {
      // The path is not a secret; the file's content is, and is never shown.
      throw new ConfigError([
        `NATS_CREDS: cannot read ${JSON.stringify(config.credsFile)}: ${errorMessage(error)}`,
      ], { cause: error });
    }
  }
  const options = {
    servers: config.servers,
    name: "vk-event-router",
    ...(config.tls ? { tls: {} } : {}),
    ...(config.user !== null ? { user: config.user, pass: config.pass ?? "" } : {}),
    ...(config.token !== null ? { token: config.token } : {}),
    ...(authenticator ? { authenticator } : {}),
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: RECONNECT_WAIT_MS,
    reconnectJitter: 100,
    timeout: 5_000,
  };
  const where = describeNats(config);
  let nc: NatsConnection | null = null;
  let js: JetStreamClient | null = null;
  let jsm: Promise<JetStreamManager> | null = null;
  let up = false;
  let why = `connecting to ${where}`;
  let closing = false;
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const w of waiters) w();
    waiters.clear();
  };
  let pause: { timer: ReturnType<typeof setTimeout>; resolve: () => void } | null = null;

  const watch = async (conn: NatsConnection) => {
    try {
      for await (const s of conn.status()) {
        if (s.type === "disconnect" || s.type === "reconnecting") {
          if (up) log.warn("NATS: disconnected from {where}, reconnecting", { where });
          up = false;
          why = `disconnected from ${where}, reconnecting`;
        } else if (s.type === "reconnect") {
          log.info("NATS: reconnected to {where}", { where });
          up = true;
          wake();
        }
      }
    } catch { /* the iterator ends with the connection */ }
  };

  const run = async () => {
    let delay = RECONNECT_WAIT_MS;
    while (!closing) {
      try {
        const conn = await connect(options);
        if (closing) {
          await conn.close().catch(() => {});
          return;
        }
        log.info("NATS: connected to {where}", { where });
        nc = conn;
        js = jetstream(conn);
        jsm = null;
        up = true;
        delay = RECONNECT_WAIT_MS;
        wake();
        void watch(conn);
        const closed = await conn.closed();
        up = false;
        nc = null;
        js = null;
        if (closing) return;
        why = `connection to ${where} closed${closed ? `: ${errorMessage(closed)}` : ""}`;
      } catch (error) {
        const first = !why.startsWith("cannot connect");
        why = `cannot connect to ${where}: ${errorMessage(error)}`;
        // Once per outage, not once per attempt.
        if (first) log.warn("NATS: {why}; retrying in the background", { why });
      }
      await new Promise<void>((resolve) => {
        pause = { timer: setTimeout(resolve, delay), resolve };
      });
      pause = null;
      delay = Math.min(delay * 2, FIRST_CONNECT_MAX_WAIT_MS);
    }
  };
  const running = run();

  return {
    jetstream: () => up ? js : null,
    headers: () => headers(),
    maxPayload: () => nc?.info?.max_payload ?? null,
    manager() {
      if (!up || !nc) return Promise.reject(new Error(why));
      jsm ??= jetstreamManager(nc, { checkAPI: false });
      return jsm;
    },
    state: () => up ? null : why,
    connected(timeoutMs) {
      if (up || closing) return Promise.resolve(up);
      return new Promise((resolve) => {
        const done = () => {
          clearTimeout(timer);
          waiters.delete(done);
          resolve(up);
        };
        const timer = setTimeout(done, timeoutMs);
        waiters.add(done);
      });
    },
    async close() {
      closing = true;
      up = false;
      why = "closed";
      wake();
      if (pause) {
        clearTimeout(pause.timer);
        pause.resolve();
      }
      await nc?.close().catch(() => {});
      await running;
    },
  };
}
