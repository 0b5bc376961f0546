/**
 * The RESP2 parser: every reply type, malformed input, random reply trees cut at random
 * byte boundaries (1-byte chunks, cuts inside CRLF and inside UTF-8 characters), and the
 * work done for large replies, counted in bytes rather than timed.
 * `FUZZ_RUNS` sets the cases per property.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  RespError,
  RespParser,
  RespProtocolError,
  type RespValue,
} from "../src/redis/resp_parser.ts";

const RUNS = Number(Deno.env.get("FUZZ_RUNS") ?? 500);
const encoder = new TextEncoder();

/** A reply as it goes on the wire; `$-1` and `*-1` both decode to null, so both are kept. */
type Wire =
  | { type: "simple"; value: string }
  | { type: "error"; value: string }
  | { type: "integer"; value: number }
  | { type: "bulk"; value: string | null }
  | { type: "array"; value: Wire[] | null };

function encode(wire: Wire): string {
  switch (wire.type) {
    case "simple":
      return `+${wire.value}\r\n`;
    case "error":
      return `-${wire.value}\r\n`;
    case "integer":
      return `:${wire.value}\r\n`;
    case "bulk":
      return wire.value === null
        ? "$-1\r\n"
        : `$${encoder.encode(wire.value).length}\r\n${wire.value}\r\n`;
    case "array":
      return wire.value === null
        ? "*-1\r\n"
        : `*${wire.value.length}\r\n${wire.value.map(encode).join("")}`;
  }
}

/** What the parser should answer, with errors made comparable. */
function expected(wire: Wire): unknown {
  switch (wire.type) {
    case "error":
      return { error: wire.value };
    case "array":
      return wire.value?.map(expected) ?? null;
    default:
      return wire.value;
  }
}

function comparable(value: RespValue): unknown {
  if (value instanceof RespError) return { error: value.message };
  return Array.isArray(value) ? value.map(comparable) : value;
}

/** Feeds `chunks` one by one and reads after each; returns the replies and when each came. */
function parseChunks(chunks: Uint8Array[], parser = new RespParser()) {
  const replies: RespValue[] = [];
  const countAfterChunk: number[] = [];
  for (const chunk of chunks) {
    parser.feed(chunk);
    for (let reply = parser.read(); reply !== undefined; reply = parser.read()) {
      replies.push(reply);
    }
    countAfterChunk.push(replies.length);
  }
  return { replies, countAfterChunk, parser };
}

function parseText(...chunks: string[]): RespValue[] {
  return parseChunks(chunks.map((c) => encoder.encode(c))).replies;
}

function cut(bytes: Uint8Array, positions: Iterable<number>): Uint8Array[] {
  const sorted = [...new Set(positions)].filter((p) => p > 0 && p < bytes.length)
    .sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let from = 0;
  for (const p of [...sorted, bytes.length]) {
    chunks.push(bytes.slice(from, p));
    from = p;
  }
  return chunks;
}

Deno.test("RespParser reads each reply type", async (t) => {
  const cases: [string, string, unknown][] = [
    ["simple string", "+OK\r\n", "OK"],
    ["empty simple string", "+\r\n", ""],
    ["error", "-WRONGTYPE Operation against a key\r\n", {
      error: "WRONGTYPE Operation against a key",
    }],
    ["integer", ":42\r\n", 42],
    ["negative integer", ":-7\r\n", -7],
    ["zero", ":0\r\n", 0],
    ["bulk string", "$5\r\nhello\r\n", "hello"],
    ["empty bulk string", "$0\r\n\r\n", ""],
    ["null bulk string", "$-1\r\n", null],
    ["bulk string holding CRLF", "$4\r\n\r\n\r\n\r\n", "\r\n\r\n"],
    ["multi-byte bulk string", "$16\r\nпривет👍\r\n", "привет👍"],
    ["empty array", "*0\r\n", []],
    ["null array", "*-1\r\n", null],
    ["array of each type", "*5\r\n+a\r\n-b\r\n:3\r\n$1\r\nd\r\n$-1\r\n", [
      "a",
      { error: "b" },
      3,
      "d",
      null,
    ]],
    ["nested arrays", "*3\r\n*1\r\n*0\r\n*-1\r\n*2\r\n:1\r\n*1\r\n+x\r\n", [[[]], null, [1, [
      "x",
    ]]]],
  ];
  for (const [name, text, want] of cases) {
    await t.step(name, () => {
      assert.deepEqual(parseText(text).map(comparable), [want]);
    });
  }
  await t.step("an error reply is a RespError", () => {
    const [reply] = parseText("-ERR no\r\n");
    assert.ok(reply instanceof RespError);
    assert.equal(reply.name, "RespError");
  });
  await t.step("several replies in one chunk, in order", () => {
    assert.deepEqual(parseText("+a\r\n:1\r\n$1\r\nb\r\n"), ["a", 1, "b"]);
  });
});

Deno.test("RespParser waits for the rest of an unfinished reply", () => {
  const parser = new RespParser();
  parser.feed(encoder.encode("*2\r\n$5\r\nhel"));
  assert.equal(parser.read(), undefined);
  parser.feed(encoder.encode("lo\r\n:"));
  assert.equal(parser.read(), undefined);
  parser.feed(encoder.encode("12\r"));
  assert.equal(parser.read(), undefined, "a line is not complete before its LF");
  parser.feed(encoder.encode("\n+next\r\n"));
  assert.deepEqual(parser.read(), ["hello", 12]);
  assert.equal(parser.read(), "next");
  assert.equal(parser.read(), undefined);
  parser.feed(new Uint8Array(0));
  assert.equal(parser.read(), undefined);
});

Deno.test("RespParser rejects malformed input for good", async (t) => {
  const cases: [string, string, RegExp][] = [
    ["unknown type byte", "?what\r\n", /Unexpected RESP type byte 63/],
    ["a bare CRLF", "\r\n", /Unexpected RESP type byte 13/],
    ["inline text", "OK\r\n", /Unexpected RESP type byte 79/],
    ["CR without LF", "+a\rb\r\n", /CR without LF/],
    ["bulk string longer than announced", "$3\r\nabcd\r\n", /not followed by CRLF/],
    ["bad bulk length", "$x\r\n", /Malformed bulk string length/],
    ["empty bulk length", "$\r\n", /Malformed bulk string length: empty/],
    ["negative array length", "*-2\r\n", /Malformed array length: -2/],
    ["bad integer", ":1.5\r\n", /Malformed integer/],
    ["bulk string over the limit", "$999999999999\r\n", /over the limit/],
  ];
  for (const [name, text, message] of cases) {
    await t.step(name, () => {
      const parser = new RespParser();
      parser.feed(encoder.encode(text));
      assert.throws(
        () => parser.read(),
        (e) => e instanceof RespProtocolError && message.test(e.message),
      );
      parser.feed(encoder.encode("+OK\r\n"));
      assert.throws(() => parser.read(), RespProtocolError, "a failed parser stays failed");
    });
  }
  await t.step("replies before the bad byte still come out first", () => {
    const parser = new RespParser();
    parser.feed(encoder.encode("+one\r\n:2\r\n!bad\r\n"));
    assert.equal(parser.read(), "one");
    assert.equal(parser.read(), 2);
    assert.throws(() => parser.read(), RespProtocolError);
  });
});

const lineText = fc.oneof(
  fc.string({ unit: "grapheme", maxLength: 12 }),
  fc.string({ unit: fc.constantFrom("a", "é", "€", "𝄞", "👍🏽", " "), maxLength: 8 }),
).map((s) => s.replace(/[\r\n]/g, " "));

const bulkText = fc.oneof(
  fc.string({ unit: "grapheme", maxLength: 20 }),
  fc.string({ unit: fc.constantFrom("a", "\r", "\n", "\r\n", "é", "€", "𝄞", "👍🏽"), maxLength: 12 }),
);

const { wire } = fc.letrec<{ wire: Wire; array: Wire }>((tie) => ({
  wire: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.record({ type: fc.constant("simple" as const), value: lineText }),
    fc.record({ type: fc.constant("error" as const), value: lineText }),
    fc.record({ type: fc.constant("integer" as const), value: fc.maxSafeInteger() }),
    fc.record({ type: fc.constant("bulk" as const), value: fc.option(bulkText, { nil: null }) }),
    tie("array"),
  ),
  array: fc.record({
    type: fc.constant("array" as const),
    value: fc.option(fc.array(tie("wire"), { maxLength: 5 }), { nil: null, freq: 8 }),
  }),
}));

/** Where to cut a byte stream: every byte, anywhere, or where it hurts most. */
type Cuts = { kind: "every byte" } | { kind: "random" | "tricky"; seeds: number[] };
const cuts: fc.Arbitrary<Cuts> = fc.oneof(
  fc.constant({ kind: "every byte" as const }),
  fc.record({ kind: fc.constant("random" as const), seeds: fc.array(fc.nat(), { maxLength: 20 }) }),
  fc.record({ kind: fc.constant("tricky" as const), seeds: fc.array(fc.nat(), { maxLength: 20 }) }),
);

function cutPositions(bytes: Uint8Array, how: Cuts): number[] {
  if (how.kind === "every byte") return Array.from(bytes, (_, i) => i);
  if (how.kind === "random") return how.seeds.map((s) => s % (bytes.length + 1));
  // Between CR and LF, and before a UTF-8 continuation byte (inside a character).
  const tricky: number[] = [];
  for (let i = 1; i < bytes.length; i++) {
    if (bytes[i - 1] === 0x0d || (bytes[i]! & 0xc0) === 0x80) tricky.push(i);
  }
  return tricky.length === 0 ? [] : how.seeds.map((s) => tricky[s % tricky.length]!);
}

Deno.test("RespParser decodes random replies cut at random byte boundaries", () => {
  fc.assert(
    fc.property(fc.array(wire, { minLength: 1, maxLength: 8 }), cuts, (wires, how) => {
      const texts = wires.map(encode);
      const bytes = encoder.encode(texts.join(""));
      const ends: number[] = [];
      let end = 0;
      for (const text of texts) ends.push(end += encoder.encode(text).length);

      const chunks = cut(bytes, cutPositions(bytes, how));
      const { replies, countAfterChunk, parser } = parseChunks(chunks);

      assert.deepEqual(replies.map(comparable), wires.map(expected));
      // Each reply comes out with the chunk that completes it, not later.
      let fed = 0;
      chunks.forEach((chunk, i) => {
        fed += chunk.length;
        assert.equal(countAfterChunk[i], ends.filter((e) => e <= fed).length);
      });
      assert.equal(parser.read(), undefined);
    }),
    { numRuns: RUNS },
  );
});

Deno.test("RespParser decodes a stream cut in two at every position", () => {
  const stream = "*4\r\n+привет\r\n-ERR é\r\n:-12345\r\n*2\r\n$7\r\n€𝄞\r\n$-1\r\n" +
    "$8\r\n👍🏽\r\n*0\r\n*-1\r\n";
  const bytes = encoder.encode(stream);
  const whole = parseChunks([bytes]).replies.map(comparable);
  assert.deepEqual(whole, [
    ["привет", { error: "ERR é" }, -12345, ["€𝄞", null]],
    "👍🏽",
    [],
    null,
  ]);
  for (let i = 1; i < bytes.length; i++) {
    assert.deepEqual(parseChunks(cut(bytes, [i])).replies.map(comparable), whole, `cut at ${i}`);
  }
});

/** Splits `bytes` into chunks of `size` bytes. */
function chunked(bytes: Uint8Array, size: number): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
  return chunks;
}

Deno.test("RespParser does linear work on large replies", async (t) => {
  await t.step("a 10 MB bulk string in 64 KB chunks is copied about once", () => {
    const payload = "x".repeat(10 * 1024 * 1024 - 3) + "é€"; // ends in multi-byte characters
    const bytes = encoder.encode(`$${encoder.encode(payload).length}\r\n${payload}\r\n+after\r\n`);
    const { replies, parser } = parseChunks(chunked(bytes, 64 * 1024));
    assert.equal(replies.length, 2);
    assert.equal(replies[0], payload);
    assert.equal(replies[1], "after");
    assert.ok(
      parser.stats.copiedBytes <= 1.1 * bytes.length,
      `copied ${parser.stats.copiedBytes} bytes for ${bytes.length}`,
    );
    assert.ok(parser.stats.scannedBytes <= 32, `scanned ${parser.stats.scannedBytes} bytes`);
  });

  await t.step("an LRANGE of 100,000 items in 64 KB chunks", () => {
    const item = "y".repeat(96) + "ж"; // 98 bytes
    const count = 100_000;
    const bytes = encoder.encode(`*${count}\r\n` + `$98\r\n${item}\r\n`.repeat(count));
    const { replies, parser } = parseChunks(chunked(bytes, 64 * 1024));
    assert.equal(replies.length, 1);
    const items = replies[0] as string[];
    assert.equal(items.length, count);
    assert.ok(items.every((s) => s === item));
    assert.ok(
      parser.stats.copiedBytes <= 3 * bytes.length,
      `copied ${parser.stats.copiedBytes} bytes for ${bytes.length}`,
    );
    // Only the `$98` header lines are searched for their CRLF, each once.
    assert.ok(
      parser.stats.scannedBytes <= 6 * count + 16,
      `scanned ${parser.stats.scannedBytes} bytes`,
    );
  });

  await t.step("a 256 KB bulk string and an array in 1-byte chunks", () => {
    const payload = "z€".repeat(64 * 1024);
    const bytes = encoder.encode(
      `$${encoder.encode(payload).length}\r\n${payload}\r\n*2\r\n:1\r\n+${"w".repeat(1000)}\r\n`,
    );
    const { replies, parser } = parseChunks(chunked(bytes, 1));
    assert.deepEqual(replies, [payload, [1, "w".repeat(1000)]]);
    assert.ok(
      parser.stats.copiedBytes <= 3 * bytes.length,
      `copied ${parser.stats.copiedBytes} bytes for ${bytes.length}`,
    );
    assert.ok(
      parser.stats.scannedBytes <= 2 * 1024,
      `scanned ${parser.stats.scannedBytes} bytes`,
    );
  });
});
