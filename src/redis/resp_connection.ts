/**
 * A minimal RESP2 connection to a Redis server over Deno's own sockets: pipelined
 * commands, replies matched in order, and one rule that keeps it honest: when anything
 * goes wrong on the socket (an error, a close, a request that timed out), the socket is
 * dropped and every pending command fails. A late reply can then never be matched to the
 * wrong command. The next command opens a fresh connection.
 *
 * Why not node-redis: after a Redis crash it could come back "ready" with replies no
 * longer matching their commands, and every command hung (seen in the contract suite).
 * @module
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const CRLF = 0x0d;

/** An error reply from Redis (the command ran and failed). */
export class RespError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RespError";
  }
}

/** A decoded reply: strings, integers, null, arrays, or an error reply. */
export type RespValue = string | number | null | RespError | RespValue[];

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

/** One connection, opened on first use and after every failure. */
export class RespConnection {
  readonly #url: URL;
  readonly #connectTimeoutMs: number;
  #conn: Deno.Conn | null = null;
  #opening: Promise<Deno.Conn> | null = null;
  #pending: Pending[] = [];
  #closed = false;

  constructor(options: RespConnectionOptions) {
    this.#url = new URL(options.url);
    this.#connectTimeoutMs = options.connectTimeoutMs;
  }

  /** Whether a socket is open now. */
  get connected(): boolean {
    return this.#conn !== null;
  }

  /** Sends commands in one write and resolves with their replies, in order. */
  async send(commands: readonly (readonly string[])[]): Promise<RespValue[]> {
    const conn = await this.#open();
    return await this.#write(conn, commands);
  }

  /** Drops the socket; pending commands fail with `reason`. */
  reset(reason: Error): void {
    const conn = this.#conn;
    this.#conn = null;
    const pending = this.#pending;
    this.#pending = [];
    for (const p of pending) p.reject(reason);
    try {
      conn?.close();
    } catch { /* already closed */ }
  }

  /** Closes for good. */
  close(): void {
    this.#closed = true;
    this.reset(new Error("The Redis connection was closed"));
  }

  #write(conn: Deno.Conn, commands: readonly (readonly string[])[]): Promise<RespValue[]> {
    const replies = commands.map(() =>
      new Promise<RespValue>((resolve, reject) => this.#pending.push({ resolve, reject }))
    );
    conn.write(encode(commands)).catch((error) => {
      if (this.#conn === conn) this.reset(new Error(`Writing to Redis failed: ${error.message}`));
    });
    return Promise.all(replies);
  }

  #open(): Promise<Deno.Conn> {
    if (this.#closed) return Promise.reject(new Error("The Redis connection was closed"));
    if (this.#conn) return Promise.resolve(this.#conn);
    this.#opening ??= this.#connect().finally(() => this.#opening = null);
    return this.#opening;
  }

  async #connect(): Promise<Deno.Conn> {
    const hostname = this.#url.hostname.replace(/^\[|\]$/g, "");
    const port = Number(this.#url.port || 6379);
    const signal = AbortSignal.timeout(this.#connectTimeoutMs);
    const conn = this.#url.protocol === "rediss:"
      ? await Deno.connectTls({ hostname, port, signal } as Deno.ConnectTlsOptions)
      : await Deno.connect({ hostname, port, signal } as Deno.ConnectOptions);
    this.#conn = conn;
    this.#read(conn);
    const setup: string[][] = [];
    const password = decodeURIComponent(this.#url.password);
    const username = decodeURIComponent(this.#url.username);
    if (password) setup.push(username ? ["AUTH", username, password] : ["AUTH", password]);
    const db = this.#url.pathname.replace(/^\//, "");
    if (db && db !== "0") setup.push(["SELECT", db]);
    if (setup.length > 0) {
      const replies = await this.#write(conn, setup);
      const failed = replies.find((r) => r instanceof RespError);
      if (failed) {
        this.reset(failed as RespError);
        throw new Error(`Redis refused the connection set-up: ${(failed as RespError).message}`);
      }
    }
    return conn;
  }

  async #read(conn: Deno.Conn): Promise<void> {
    let buffer: Uint8Array = new Uint8Array(0);
    try {
      for await (const chunk of conn.readable) {
        buffer = buffer.length === 0 ? chunk : concat(buffer, chunk);
        let offset = 0;
        for (;;) {
          const parsed = parse(buffer, offset);
          if (parsed === null) break;
          offset = parsed.next;
          const pending = this.#pending.shift();
          if (!pending) throw new Error("Redis sent a reply nobody asked for");
          pending.resolve(parsed.value);
        }
        buffer = offset === buffer.length ? new Uint8Array(0) : buffer.slice(offset);
      }
      if (this.#conn === conn) this.reset(new Error("Redis closed the connection"));
    } catch (error) {
      if (this.#conn === conn) {
        this.reset(new Error(`Redis connection lost: ${(error as Error).message}`));
      }
    }
  }
}

function encode(commands: readonly (readonly string[])[]): Uint8Array {
  let text = "";
  for (const args of commands) {
    text += `*${args.length}\r\n`;
    for (const arg of args) text += `$${encoder.encode(arg).length}\r\n${arg}\r\n`;
  }
  return encoder.encode(text);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Parses one reply at `offset`; null when the buffer does not hold all of it yet. */
function parse(buf: Uint8Array, offset: number): { value: RespValue; next: number } | null {
  const end = lineEnd(buf, offset);
  if (end === -1) return null;
  const type = buf[offset];
  const line = decoder.decode(buf.subarray(offset + 1, end));
  const next = end + 2;
  switch (type) {
    case 0x2b: // +
      return { value: line, next };
    case 0x2d: // -
      return { value: new RespError(line), next };
    case 0x3a: // :
      return { value: Number(line), next };
    case 0x24: { // $
      const length = Number(line);
      if (length < 0) return { value: null, next };
      if (buf.length < next + length + 2) return null;
      return { value: decoder.decode(buf.subarray(next, next + length)), next: next + length + 2 };
    }
    case 0x2a: { // *
      const count = Number(line);
      if (count < 0) return { value: null, next };
      const items: RespValue[] = [];
      let at = next;
      for (let i = 0; i < count; i++) {
        const item = parse(buf, at);
        if (item === null) return null;
        items.push(item.value);
        at = item.next;
      }
      return { value: items, next: at };
    }
    default:
      throw new Error(`Unexpected RESP type byte ${type}`);
  }
}

function lineEnd(buf: Uint8Array, from: number): number {
  for (let i = from; i < buf.length - 1; i++) if (buf[i] === CRLF && buf[i + 1] === 0x0a) return i;
  return -1;
}
