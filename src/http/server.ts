/**
 * The service's HTTP server, with the bounds `Deno.serve` lacks: it has no header or idle
 * timeout (an idle or half-sent connection is held for ever) and its accept loop dies on
 * `EMFILE` (the process exits with `Too many open files`). Neither is configurable, and
 * `node:http` under Deno is no better (its listener stops accepting after `EMFILE`).
 *
 * So this module owns the socket: its accept loop (`Deno.listen`) survives accept errors
 * (logged, counted, retried after a pause), caps open connections per process and per
 * client address, and closes every connection that has no request in progress for
 * `idleTimeoutMs` (idle keep-alive, and headers that never end, alike). Each accepted
 * connection is relayed byte for byte to a `Deno.serve` on a loopback port, which parses
 * HTTP as before; that server's handler learns from the relay's port which client
 * connection a request came on, marks it busy until the response is sent, and gives the
 * app the client's address. A request on the loopback port that no relay made is refused.
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { errorMessage } from "../errors.ts";

const log = getLogger(["vk-event-router", "http"]);

/** Connection bounds. */
export interface ConnectionLimits {
  /** Open client connections at most; more are closed on accept. @default 1024 */
  maxConnections?: number;
  /**
   * Open connections per client address at most, when the peer is the client; null
   * behind a trusted proxy, whose one address carries every client. @default 64
   */
  maxPerAddress?: number | null;
  /** How long a connection may go without a request in progress. @default 10_000 */
  idleTimeoutMs?: number;
}

/** What the server counts, for `/metrics`. */
export interface ServerObserver {
  /** A connection closed on accept: `reason` is `connections` or `address`. */
  refused(reason: "connections" | "address"): void;
  /** A connection closed for having no request in progress for the idle timeout. */
  idleClosed(): void;
  /** `accept` failed (e.g. EMFILE); the loop pauses and goes on. */
  acceptFailed(): void;
}

/** Options for {@linkcode serveBounded}. */
export interface BoundedServeOptions extends ConnectionLimits {
  hostname: string;
  port: number;
  observer?: ServerObserver;
}

/** A running server. */
export interface BoundedServer {
  /** Where clients connect. */
  readonly addr: Deno.NetAddr;
  /** Open client connections. */
  readonly connections: number;
  /** Stops accepting, lets requests in progress finish, closes every connection. */
  shutdown(): Promise<void>;
}

/** The default bounds. */
export const DEFAULT_CONNECTION_LIMITS: Required<ConnectionLimits> = {
  maxConnections: 1024,
  maxPerAddress: 64,
  idleTimeoutMs: 10_000,
};

/** The pause after a failed accept, doubled while it keeps failing. */
const ACCEPT_PAUSE_MS = { first: 10, max: 1_000 };
/** At most one log line per this long about failing accepts (the count says how many). */
const ACCEPT_LOG_EVERY_MS = 10_000;
/** Bytes read at once from either side of a relayed connection. */
const RELAY_CHUNK = 16 * 1024;

type Handler = (
  request: Request,
  info: Deno.ServeHandlerInfo<Deno.NetAddr>,
) => Response | Promise<Response>;

/** One client connection and its relay to the loopback server. */
interface Relayed {
  readonly client: Deno.TcpConn;
  readonly remoteAddr: Deno.NetAddr;
  upstream: Deno.TcpConn | null;
  busy: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  closed: boolean;
}

/** Serves `handler` with the bounds of {@linkcode ConnectionLimits}. */
export function serveBounded(options: BoundedServeOptions, handler: Handler): BoundedServer {
  const maxConnections = options.maxConnections ?? DEFAULT_CONNECTION_LIMITS.maxConnections;
  const maxPerAddress = options.maxPerAddress === undefined
    ? DEFAULT_CONNECTION_LIMITS.maxPerAddress
    : options.maxPerAddress;
  const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_CONNECTION_LIMITS.idleTimeoutMs;
  const observer = options.observer;

  const open = new Set<Relayed>();
  const perAddress = new Map<string, number>();
  /** The relays by the loopback port of their upstream connection. */
  const byRelayPort = new Map<number, Relayed>();

  const close = (c: Relayed) => {
    if (c.closed) return;
    c.closed = true;
    clearTimeout(c.timer);
    open.delete(c);
    const left = (perAddress.get(c.remoteAddr.hostname) ?? 1) - 1;
    if (left === 0) perAddress.delete(c.remoteAddr.hostname);
    else perAddress.set(c.remoteAddr.hostname, left);
    if (c.upstream) byRelayPort.delete((c.upstream.localAddr as Deno.NetAddr).port);
    for (const conn of [c.client, c.upstream]) {
      try {
        conn?.close();
      } catch { /* already closed */ }
    }
  };
  const idle = (c: Relayed) => {
    clearTimeout(c.timer);
    c.timer = setTimeout(() => {
      observer?.idleClosed();
      close(c);
    }, idleTimeoutMs);
  };

  let stopped = false;
  let failures = 0;
  let loggedAt = -Infinity;
  /** Counts a failed accept, logs at most one line per `ACCEPT_LOG_EVERY_MS` with the count. */
  const acceptFailed = (error: unknown) => {
    observer?.acceptFailed();
    failures++;
    if (Date.now() - loggedAt < ACCEPT_LOG_EVERY_MS) return;
    log.error(
      "Cannot accept connections ({failures} failed since the last report): {error}; {open} open, retrying",
      { failures, error: errorMessage(error), open: open.size },
    );
    loggedAt = Date.now();
    failures = 0;
  };

  const listener = Deno.listen({ hostname: options.hostname, port: options.port });

  // The loopback server: its own accept loop ends for good on EMFILE (`finished` rejects),
  // so it is started again, after a pause, on a new port; meanwhile relays are refused.
  let inner: Deno.HttpServer<Deno.NetAddr> | null = null;
  const startInner = (pause: number) => {
    if (stopped) return;
    try {
      inner = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, dispatch);
    } catch (error) {
      acceptFailed(error);
      setTimeout(() => startInner(Math.min(pause * 2, ACCEPT_PAUSE_MS.max)), pause);
      return;
    }
    inner.finished.catch((error) => {
      inner = null;
      acceptFailed(error);
      setTimeout(() => startInner(ACCEPT_PAUSE_MS.first), ACCEPT_PAUSE_MS.first);
    });
  };
  function dispatch(request: Request, info: Deno.ServeHandlerInfo<Deno.NetAddr>) {
    const c = byRelayPort.get(info.remoteAddr.port);
    if (!c) return new Response("not found\n", { status: 404 });
    c.busy++;
    clearTimeout(c.timer);
    info.completed.finally(() => {
      if (--c.busy === 0 && !c.closed) idle(c);
    });
    return handler(request, { remoteAddr: c.remoteAddr, completed: info.completed });
  }
  startInner(ACCEPT_PAUSE_MS.first);

  const accepting = (async () => {
    let pause = ACCEPT_PAUSE_MS.first;
    for (;;) {
      let client: Deno.TcpConn;
      try {
        client = await listener.accept();
      } catch (error) {
        if (stopped) return;
        acceptFailed(error);
        await new Promise((resolve) => setTimeout(resolve, pause));
        pause = Math.min(pause * 2, ACCEPT_PAUSE_MS.max);
        continue;
      }
      pause = ACCEPT_PAUSE_MS.first;
      const remoteAddr = client.remoteAddr as Deno.NetAddr;
      const fromAddress = perAddress.get(remoteAddr.hostname) ?? 0;
      const refused = open.size >= maxConnections
        ? "connections"
        : maxPerAddress !== null && fromAddress >= maxPerAddress
        ? "address"
        : null;
      if (refused) {
        observer?.refused(refused);
        client.close();
        continue;
      }
      const c: Relayed = {
        client,
        remoteAddr,
        upstream: null,
        busy: 0,
        timer: undefined,
        closed: false,
      };
      open.add(c);
      perAddress.set(remoteAddr.hostname, fromAddress + 1);
      idle(c);
      relay(c);
    }
  })();

  async function relay(c: Relayed): Promise<void> {
    if (!inner) return close(c); // restarting: refused, as when full
    let upstream: Deno.TcpConn;
    try {
      upstream = await Deno.connect({ hostname: "127.0.0.1", port: inner.addr.port });
    } catch (error) {
      acceptFailed(error); // out of descriptors, most likely: the connection cannot be taken
      return close(c);
    }
    if (c.closed) return upstream.close(); // timed out meanwhile
    c.upstream = upstream;
    byRelayPort.set((upstream.localAddr as Deno.NetAddr).port, c);
    upstream.setNoDelay(true);
    c.client.setNoDelay(true);
    await Promise.all([pump(c.client, upstream), pump(upstream, c.client)]);
    close(c);
  }

  return {
    addr: listener.addr as Deno.NetAddr,
    get connections() {
      return open.size;
    },
    async shutdown() {
      stopped = true;
      listener.close();
      await accepting;
      await inner?.shutdown().catch(() => {});
      for (const c of [...open]) close(c);
    },
  };
}

/** Copies `from` to `to` until `from` ends, then ends `to`'s writing side. */
async function pump(from: Deno.TcpConn, to: Deno.TcpConn): Promise<void> {
  const buffer = new Uint8Array(RELAY_CHUNK);
  try {
    for (;;) {
      const n = await from.read(buffer);
      if (n === null) break;
      for (let written = 0; written < n;) written += await to.write(buffer.subarray(written, n));
    }
  } catch {
    // Either side went away: the relay closes both.
  }
  try {
    await to.closeWrite();
  } catch { /* already closed */ }
}
