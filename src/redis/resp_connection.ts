/**
 * A minimal RESP2 connection to a Redis server over Deno's own sockets: pipelined
 * commands, replies matched in order, and one rule that keeps it honest: when anything
 * goes wrong on the socket (an error, a close, a request that timed out), the socket is
 * dropped and every pending command fails. A late reply can then never be matched to the
 * wrong command. The next command opens a fresh connection. Why it is hand-written at all:
 * see `connection.ts`.
 * @module
 */

import { RespError, RespParser, type RespValue } from "./resp_parser.ts";

export { RespError, type RespValue } from "./resp_parser.ts";

const encoder = new TextEncoder();

/** Options for {@linkcode RespConnection}. */
export interface RespConnectionOptions {
  /** `redis://[user:password@]host[:port][/db]` or `rediss://` for TLS. */
  url: string;
  connectTimeoutMs: number;
}

interface Pending {
  resolve: (value: RespValue) => void;
  reject: (error: Error) => void;
}

/** One socket and the commands waiting on it: dropped as a whole on any failure. */
interface Socket {
  conn: Deno.Conn;
  pending: Pending[];
  /** The last write; each write starts when the one before it has gone out whole. */
  written: Promise<void>;
}

/** One connection, opened on first use and after every failure. */
export class RespConnection {
  readonly #url: URL;
  readonly #connectTimeoutMs: number;
  #socket: Socket | null = null;
  #opening: Promise<Socket> | null = null;
  #closed = false;

  constructor(options: RespConnectionOptions) {
    this.#url = new URL(options.url);
    this.#connectTimeoutMs = options.connectTimeoutMs;
  }

  /** Whether a socket is open now. */
  get connected(): boolean {
    return this.#socket !== null;
  }

  /** Sends commands in one write and resolves with their replies, in order. */
  async send(commands: readonly (readonly string[])[]): Promise<RespValue[]> {
    const socket = await this.#open();
    return await this.#send(socket, commands);
  }

  /** Drops the socket; pending commands fail with `reason`. */
  reset(reason: Error): void {
    const socket = this.#socket;
    if (!socket) return;
    this.#socket = null;
    for (const p of socket.pending.splice(0)) p.reject(reason);
    try {
      socket.conn.close();
    } catch { /* already closed */ }
  }

  /** Closes for good. */
  close(): void {
    this.#closed = true;
    this.reset(new Error("The Redis connection was closed"));
  }

  #send(socket: Socket, commands: readonly (readonly string[])[]): Promise<RespValue[]> {
    // The socket may have been dropped while the caller waited for it to open.
    if (this.#socket !== socket) {
      return Promise.reject(new Error("The Redis connection was reset"));
    }
    const replies = commands.map(() =>
      new Promise<RespValue>((resolve, reject) => socket.pending.push({ resolve, reject }))
    );
    const bytes = encodeCommands(commands);
    socket.written = socket.written.then(() => writeAll(socket.conn, bytes)).catch((error) => {
      if (this.#socket === socket) {
        this.reset(new Error(`Writing to Redis failed: ${error.message}`));
      }
    });
    return Promise.all(replies);
  }

  #open(): Promise<Socket> {
    if (this.#closed) return Promise.reject(new Error("The Redis connection was closed"));
    if (this.#socket) return Promise.resolve(this.#socket);
    this.#opening ??= this.#connect().finally(() => this.#opening = null);
    return this.#opening;
  }

  async #connect(): Promise<Socket> {
    const hostname = this.#url.hostname.replace(/^\[|\]$/g, "");
    const port = Number(this.#url.port || 6379);
    const signal = AbortSignal.timeout(this.#connectTimeoutMs);
    const conn =
      await (this.#url.protocol === "rediss:"
        ? Deno.connectTls({ hostname, port, signal } as Deno.ConnectTlsOptions)
        : Deno.connect({ hostname, port, signal } as Deno.ConnectOptions)).catch((error) => {
          // Name the server: "Connection refused" alone does not say which one.
          const reason = signal.aborted
            ? `no connection within ${this.#connectTimeoutMs} ms`
            : (error as Error).message;
          throw new Error(`Cannot connect to Redis at ${this.#url.host || hostname}: ${reason}`, {
            cause: error,
          });
        });
    if (this.#closed) {
      conn.close();
      throw new Error("The Redis connection was closed");
    }
    const socket: Socket = { conn, pending: [], written: Promise.resolve() };
    this.#socket = socket;
    this.#read(socket);
    const setup: string[][] = [];
    const password = decodeURIComponent(this.#url.password);
    const username = decodeURIComponent(this.#url.username);
    if (password) setup.push(username ? ["AUTH", username, password] : ["AUTH", password]);
    const db = this.#url.pathname.replace(/^\//, "");
    if (db && db !== "0") setup.push(["SELECT", db]);
    if (setup.length > 0) {
      const replies = await this.#send(socket, setup);
      const failed = replies.find((r) => r instanceof RespError);
      if (failed) {
        this.reset(failed);
        throw new Error(`Redis refused the connection set-up: ${failed.message}`);
      }
    }
    return socket;
  }

  async #read(socket: Socket): Promise<void> {
    const parser = new RespParser();
    try {
      for await (const chunk of socket.conn.readable) {
        parser.feed(chunk);
        for (let reply = parser.read(); reply !== undefined; reply = parser.read()) {
          const pending = socket.pending.shift();
          if (!pending) throw new Error("Redis sent a reply nobody asked for");
          pending.resolve(reply);
        }
      }
      if (this.#socket === socket) this.reset(new Error("Redis closed the connection"));
    } catch (error) {
      if (this.#socket === socket) {
        this.reset(new Error(`Redis connection lost: ${(error as Error).message}`));
      }
    }
  }
}

/** `Deno.Conn.write` may write only part of its buffer. */
async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
}

/** Any character that takes more than one byte in UTF-8. */
const NON_ASCII = /[\u0080-\uffff]/;

/** The UTF-8 length of `text` as TextEncoder writes it (a lone surrogate becomes U+FFFD). */
export function utf8Length(text: string): number {
  if (!NON_ASCII.test(text)) return text.length;
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c < 0xdc00 && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * RESP arrays of bulk strings, built as one string and encoded once: a pipeline of a
 * hundred events is one encoder call and one buffer, not one of each per argument.
 */
export function encodeCommands(commands: readonly (readonly string[])[]): Uint8Array {
  let text = "";
  for (const args of commands) {
    text += `*${args.length}\r\n`;
    for (const arg of args) text += `$${utf8Length(arg)}\r\n${arg}\r\n`;
  }
  return encoder.encode(text);
}
