/**
 * An incremental RESP2 reply parser: feed it the socket's chunks as they come, read complete
 * replies in order. Its cost is linear in the bytes received, however the replies are cut:
 *
 * - unconsumed bytes live in one buffer that grows geometrically (straight to the size of a
 *   bulk string whose length it has read) and compacts only when at most half of it is in use,
 *   so each received byte is copied a small constant number of times; a chunk that arrives
 *   while nothing is pending is parsed in place, without a copy;
 * - an unfinished reply is never parsed again: the search for a line's CRLF resumes where it
 *   stopped, a bulk string waits for its length in bytes, and the elements of an unfinished
 *   array stay parsed on a stack;
 * - text is decoded only once a line or bulk string is complete, so a UTF-8 character cut
 *   between two chunks decodes whole.
 *
 * Malformed input (an unknown type byte, a bad length, a missing CRLF) throws
 * {@linkcode RespProtocolError}; the parser then stays failed, and its connection must go.
 * @module
 */

const decoder = new TextDecoder();
const CR = 0x0d;
const LF = 0x0a;
/** The smallest buffer the parser allocates when it must keep bytes. */
const MIN_CAPACITY = 16 * 1024;
/** Redis's own default limit (`proto-max-bulk-len`), and about V8's longest string. */
const MAX_BULK_LENGTH = 512 * 1024 * 1024;

/** An error reply from Redis (the command ran and failed). */
export class RespError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RespError";
  }
}

/** Bytes that are not RESP2: the stream cannot be trusted any further. */
export class RespProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RespProtocolError";
  }
}

/** A decoded reply: strings, integers, null, arrays, or an error reply. */
export type RespValue = string | number | null | RespError | RespValue[];

/** Work counters, so that tests can check the cost without a clock. */
export interface RespParserStats {
  /** Bytes copied into or within the parser's buffer. */
  copiedBytes: number;
  /** Bytes examined while looking for the end of a line. */
  scannedBytes: number;
}

interface OpenArray {
  items: RespValue[];
  count: number;
}

/** Parses a stream of RESP2 replies; one parser per connection. */
export class RespParser {
  /** Work done so far; see {@linkcode RespParserStats}. */
  readonly stats: RespParserStats = { copiedBytes: 0, scannedBytes: 0 };
  #buf: Uint8Array = new Uint8Array(0);
  /** Whether `#buf` is the parser's own (else it is a caller's chunk, parsed in place). */
  #owned = false;
  #start = 0;
  #end = 0;
  /** Bytes after `#start` already known to hold no line end. */
  #lineScanned = 0;
  /** Length of the bulk string whose header was read and whose data is awaited; -1 if none. */
  #bulk = -1;
  readonly #arrays: OpenArray[] = [];
  #failure: RespProtocolError | null = null;

  /** Adds received bytes. The parser may keep `chunk` itself: do not change it afterwards. */
  feed(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    if (this.#start === this.#end) {
      this.#buf = chunk;
      this.#owned = false;
      this.#start = 0;
      this.#end = chunk.length;
      return;
    }
    this.#makeRoom(chunk.length);
    this.#buf.set(chunk, this.#end);
    this.#end += chunk.length;
    this.stats.copiedBytes += chunk.length;
  }

  /**
   * The next complete reply, or `undefined` until more bytes arrive.
   * @throws {RespProtocolError} on malformed input, now and on every later call.
   */
  read(): RespValue | undefined {
    if (this.#failure) throw this.#failure;
    try {
      return this.#read();
    } catch (error) {
      if (error instanceof RespProtocolError) this.#failure = error;
      throw error;
    }
  }

  #read(): RespValue | undefined {
    for (;;) {
      let value: RespValue;
      if (this.#bulk >= 0) {
        const length = this.#bulk;
        const at = this.#start;
        if (this.#end - at < length + 2) return undefined;
        if (this.#buf[at + length] !== CR || this.#buf[at + length + 1] !== LF) {
          throw new RespProtocolError(`Bulk string of ${length} bytes is not followed by CRLF`);
        }
        value = decoder.decode(this.#buf.subarray(at, at + length));
        this.#start = at + length + 2;
        this.#bulk = -1;
      } else {
        const lineEnd = this.#findLineEnd();
        if (lineEnd === -1) return undefined;
        const at = this.#start;
        const type = this.#buf[at];
        this.#start = lineEnd + 2;
        this.#lineScanned = 0;
        switch (type) {
          case 0x2b: // +
            value = decoder.decode(this.#buf.subarray(at + 1, lineEnd));
            break;
          case 0x2d: // -
            value = new RespError(decoder.decode(this.#buf.subarray(at + 1, lineEnd)));
            break;
          case 0x3a: // :
            value = this.#integer(at + 1, lineEnd, "integer");
            break;
          case 0x24: { // $
            const length = this.#length(at + 1, lineEnd, "bulk string");
            if (length === -1) {
              value = null;
              break;
            }
            if (length > MAX_BULK_LENGTH) {
              throw new RespProtocolError(`Bulk string of ${length} bytes is over the limit`);
            }
            this.#bulk = length;
            continue;
          }
          case 0x2a: { // *
            const count = this.#length(at + 1, lineEnd, "array");
            if (count === -1) value = null;
            else if (count === 0) value = [];
            else {
              this.#arrays.push({ items: [], count });
              continue;
            }
            break;
          }
          default:
            throw new RespProtocolError(`Unexpected RESP type byte ${type}`);
        }
      }
      // A value is complete: it ends the reply, or takes its place in the open arrays.
      for (;;) {
        const open = this.#arrays.at(-1);
        if (!open) return value;
        open.items.push(value);
        if (open.items.length < open.count) break;
        this.#arrays.pop();
        value = open.items;
      }
    }
  }

  /** Index of the CR that ends the line at `#start`, or -1 while it is incomplete. */
  #findLineEnd(): number {
    const from = this.#start + this.#lineScanned;
    const found = this.#buf.subarray(from, this.#end).indexOf(CR);
    if (found === -1) {
      this.stats.scannedBytes += this.#end - from;
      this.#lineScanned = this.#end - this.#start;
      return -1;
    }
    const cr = from + found;
    this.stats.scannedBytes += found + 1;
    if (cr + 1 === this.#end) {
      // The LF has not arrived yet: look at this CR again next time.
      this.#lineScanned = cr - this.#start;
      return -1;
    }
    if (this.#buf[cr + 1] !== LF) throw new RespProtocolError("A reply line has a CR without LF");
    return cr;
  }

  #integer(from: number, to: number, what: string): number {
    const buf = this.#buf;
    const negative = buf[from] === 0x2d;
    let i = negative ? from + 1 : from;
    if (i === to) throw new RespProtocolError(`Malformed ${what}: empty`);
    let n = 0;
    for (; i < to; i++) {
      const digit = buf[i]! - 0x30;
      if (digit < 0 || digit > 9) {
        const text = decoder.decode(buf.subarray(from, to));
        throw new RespProtocolError(`Malformed ${what}: ${JSON.stringify(text)}`);
      }
      n = n * 10 + digit;
    }
    return negative ? -n : n;
  }

  #length(from: number, to: number, what: string): number {
    const n = this.#integer(from, to, `${what} length`);
    if (n < -1) throw new RespProtocolError(`Malformed ${what} length: ${n}`);
    return n;
  }

  /**
   * Ensures `extra` more bytes fit after `#end`. Compacts in place when the pending bytes and
   * `extra` fill at most half the buffer; otherwise moves to a new buffer of twice that size,
   * or of the whole awaited bulk string (plus a chunk of what follows it) if larger. Either
   * way the bytes moved are paid for by at least as many bytes received since the last move,
   * so copying stays linear overall.
   */
  #makeRoom(extra: number): void {
    if (this.#owned && this.#end + extra <= this.#buf.length) return;
    const pending = this.#end - this.#start;
    const needed = pending + extra;
    if (this.#owned && needed <= this.#buf.length / 2) {
      this.#buf.copyWithin(0, this.#start, this.#end);
    } else {
      const awaited = this.#bulk >= 0 ? this.#bulk + 2 + Math.max(extra, MIN_CAPACITY) : 0;
      const next = new Uint8Array(Math.max(MIN_CAPACITY, 2 * needed, awaited));
      next.set(this.#buf.subarray(this.#start, this.#end));
      this.#buf = next;
      this.#owned = true;
    }
    this.stats.copiedBytes += pending;
    this.#start = 0;
    this.#end = pending;
  }
}
