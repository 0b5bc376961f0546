/**
 * The RESP2 connection against scripted servers on 127.0.0.1 (garbage, replies sent a
 * byte at a time, silence) and against the real test Redis with large values.
 */
import assert from "node:assert/strict";
import {
  encodeCommands,
  RespConnection,
  RespError,
  utf8Length,
} from "../src/redis/resp_connection.ts";
import { TEST_REDIS_URL } from "./support/redis.ts";

const encoder = new TextEncoder();

/** A TCP server whose n-th connection goes to `handlers[n]`; the last serves the rest. */
function scriptedServer(handlers: ((conn: Deno.Conn) => Promise<void>)[]) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const served = (async () => {
    let n = 0;
    for await (const conn of listener) {
      conns.push(conn);
      const handler = handlers[Math.min(n++, handlers.length - 1)]!;
      handler(conn).catch(() => {});
    }
  })();
  return {
    url: `redis://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    get connections() {
      return conns.length;
    },
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch { /* closed by the client */ }
      }
      await served.catch(() => {});
    },
  };
}

const received = (conn: Deno.Conn) => conn.read(new Uint8Array(64 * 1024));

/** Answers `text` to whatever comes first. */
const answer = (text: string) => async (conn: Deno.Conn) => {
  await received(conn);
  await conn.write(encoder.encode(text));
};

Deno.test("RespConnection drops the socket on a protocol error and reconnects", async () => {
  await using server = scriptedServer([answer("?garbage\r\n"), answer("+PONG\r\n")]);
  const redis = new RespConnection({ url: server.url, connectTimeoutMs: 1000 });
  try {
    await assert.rejects(
      redis.send([["PING"]]),
      /Redis connection lost: Unexpected RESP type byte 63/,
    );
    assert.equal(redis.connected, false);
    assert.deepEqual(await redis.send([["PING"]]), ["PONG"]);
    assert.equal(server.connections, 2);
  } finally {
    redis.close();
  }
});

Deno.test("RespConnection reads replies that arrive a byte at a time", async () => {
  const replies = "*2\r\n$12\r\nпривет\r\n:7\r\n-ERR нет\r\n$-1\r\n";
  await using server = scriptedServer([async (conn) => {
    await received(conn);
    for (const byte of encoder.encode(replies)) {
      await conn.write(new Uint8Array([byte]));
      await new Promise((r) => setTimeout(r, 0));
    }
  }]);
  const redis = new RespConnection({ url: server.url, connectTimeoutMs: 1000 });
  try {
    const [array, error, missing] = await redis.send([["A"], ["B"], ["C"]]);
    assert.deepEqual(array, ["привет", 7]);
    assert.ok(error instanceof RespError);
    assert.equal(error.message, "ERR нет");
    assert.equal(missing, null);
  } finally {
    redis.close();
  }
});

Deno.test("RespConnection never hands a late reply to a later command", async () => {
  let late: Deno.Conn | null = null;
  await using server = scriptedServer([
    async (conn) => {
      await received(conn);
      late = conn; // answers only after the client gave up on it
    },
    answer("+second\r\n"),
  ]);
  const redis = new RespConnection({ url: server.url, connectTimeoutMs: 1000 });
  try {
    const first = redis.send([["FIRST"]]);
    while (late === null) await new Promise((r) => setTimeout(r, 5));
    redis.reset(new Error("Redis did not answer in time"));
    await assert.rejects(first, /did not answer in time/);
    await (late as Deno.Conn).write(encoder.encode("+first\r\n")).catch(() => {});
    assert.deepEqual(await redis.send([["SECOND"]]), ["second"]);
  } finally {
    redis.close();
  }
});

Deno.test("RespConnection writes a large command whole to a slow reader", async () => {
  const value = "v".repeat(8 * 1024 * 1024);
  const command = `*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$${value.length}\r\n${value}\r\n`;
  let got = "";
  await using server = scriptedServer([async (conn) => {
    // Reading slowly fills the socket's buffers, so that one write cannot take it all.
    const buf = new Uint8Array(256 * 1024);
    let total = 0;
    while (total < command.length) {
      await new Promise((r) => setTimeout(r, 1));
      const n = await conn.read(buf);
      if (n === null) return;
      if (total === 0) got = new TextDecoder().decode(buf.subarray(0, 16));
      total += n;
    }
    await conn.write(encoder.encode(total === command.length ? "+OK\r\n" : "-ERR extra\r\n"));
  }]);
  const redis = new RespConnection({ url: server.url, connectTimeoutMs: 1000 });
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const deadline = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error("the command never arrived whole")), 30_000);
    });
    assert.deepEqual(await Promise.race([redis.send([["SET", "k", value]]), deadline]), ["OK"]);
    assert.equal(got, command.slice(0, 16));
  } finally {
    clearTimeout(timer);
    redis.close();
  }
});

Deno.test("RespConnection round-trips large values through a real Redis", async () => {
  const redis = new RespConnection({ url: TEST_REDIS_URL, connectTimeoutMs: 2000 });
  const key = `test-${crypto.randomUUID().slice(0, 8)}:resp`;
  try {
    // Several megabytes in one write: Deno writes a socket in parts.
    const big = "é€👍".repeat(700_000);
    const items = Array.from({ length: 20_000 }, (_, i) => `item ${i} ж`);
    const [set, pushed] = await redis.send([
      ["SET", `${key}:big`, big],
      ["RPUSH", `${key}:list`, ...items],
    ]);
    assert.equal(set, "OK");
    assert.equal(pushed, items.length);
    const [got, range, strlen] = await redis.send([
      ["GET", `${key}:big`],
      ["LRANGE", `${key}:list`, "0", "-1"],
      ["STRLEN", `${key}:big`],
    ]);
    assert.equal(got, big);
    assert.deepEqual(range, items);
    assert.equal(strlen, encoder.encode(big).length);
  } finally {
    await redis.send([["DEL", `${key}:big`, `${key}:list`]]);
    redis.close();
  }
});

Deno.test("RespConnection closed while connecting leaves no socket open", async () => {
  const redis = new RespConnection({ url: TEST_REDIS_URL, connectTimeoutMs: 2000 });
  const sent = redis.send([["PING"]]);
  redis.close();
  await assert.rejects(sent, /The Redis connection was closed/);
  assert.equal(redis.connected, false);
});

Deno.test("RESP commands are encoded with the UTF-8 length TextEncoder writes, surrogates included", () => {
  const tricky = [
    "",
    "plain ascii",
    "Привет, мир",
    "é€👍",
    "\ud83d", // a lone high surrogate at the end
    "a\ud83db", // a high surrogate before a non-surrogate
    "\ude00x", // a lone low surrogate
    "\ud83d\ud83d\ude00", // a lone high surrogate, then a pair
    "\u007f\u0080\u07ff\u0800\uffff",
  ];
  for (const text of tricky) assert.equal(utf8Length(text), encoder.encode(text).length, text);
  const commands = [["SET", "k", ...tricky], ["GET", "Привет"]];
  const reference = commands.map((args) =>
    `*${args.length}\r\n` +
    args.map((a) => `$${encoder.encode(a).length}\r\n${a}\r\n`).join("")
  ).join("");
  assert.deepEqual(encodeCommands(commands), encoder.encode(reference));
});
