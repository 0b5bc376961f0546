/**
 * Every command of `RedisClient`, over both transports: native RESP2 to the test Redis,
 * and Upstash REST through the local gateway in front of the same Redis. Each must give
 * the same typed answers, with values back exactly as stored.
 */
import assert from "node:assert/strict";
import { connectRedis, type RedisClient } from "../src/redis/connection.ts";
import { deleteKeys, TEST_REDIS_URL } from "./support/redis.ts";
import { startUpstashGateway } from "../dev/upstash_gateway.ts";

const transports: [string, () => { redis: RedisClient } & AsyncDisposable][] = [
  ["native", () => {
    const handle = connectRedis({ kind: "native", url: TEST_REDIS_URL }, { timeoutMs: 2000 });
    return { redis: handle.redis, [Symbol.asyncDispose]: () => handle.close() };
  }],
  ["upstash", () => {
    const gateway = startUpstashGateway(TEST_REDIS_URL);
    const handle = connectRedis({ kind: "upstash", url: gateway.url, token: gateway.token });
    return { redis: handle.redis, [Symbol.asyncDispose]: () => gateway.close() };
  }],
];

for (const [transport, open] of transports) {
  Deno.test(`RedisClient over ${transport}`, async (t) => {
    await using conn = open();
    const { redis } = conn;
    const p = `test-${crypto.randomUUID().slice(0, 8)}:`;
    await using cleanup = connectRedis({ kind: "native", url: TEST_REDIS_URL });
    try {
      await t.step("strings come back exactly as stored, never JSON-parsed", async () => {
        assert.equal(await redis.get(`${p}missing`), null);
        for (const value of ["123", "true", "null", '{"a":1}', "", "привет 👍🏽", "a\r\nb"]) {
          await redis.set(`${p}s`, value);
          assert.equal(await redis.get(`${p}s`), value);
        }
        assert.equal(await redis.del(`${p}s`, `${p}missing`), 1);
      });

      await t.step("lists", async () => {
        assert.equal(await redis.rpush(`${p}l`, "1", "2", "3", "4", "[5]"), 5);
        assert.equal(await redis.llen(`${p}l`), 5);
        assert.deepEqual(await redis.lrange(`${p}l`, 1, -2), ["2", "3", "4"]);
        assert.equal(await redis.lindex(`${p}l`, 0), "1");
        assert.equal(await redis.lindex(`${p}l`, -1), "[5]");
        assert.equal(await redis.lindex(`${p}l`, 9), null);
        assert.deepEqual(await redis.lpop(`${p}l`, 2), ["1", "2"]);
        assert.equal(await redis.rpop(`${p}l`), "[5]");
        assert.deepEqual(await redis.rpop(`${p}l`, 5), ["4", "3"]);
        assert.equal(await redis.rpop(`${p}l`), null);
        assert.equal(await redis.lpop(`${p}l`, 2), null, "a missing list pops nil");
        assert.deepEqual(await redis.lrange(`${p}l`, 0, -1), []);
      });

      await t.step("a pipeline: set nx, hash counters, capped lists", async () => {
        const results = await redis.pipeline()
          .set(`${p}first`, "a", { nx: true })
          .set(`${p}first`, "b", { nx: true })
          .hincrby(`${p}h`, '["x",{}]', 2)
          .hincrby(`${p}h`, '["x",{}]', 3)
          .hset(`${p}h`, { y: "7", z: "{}", ["__proto__"]: "p" })
          .lpush(`${p}r`, "1", "2", "3")
          .ltrim(`${p}r`, 0, 1)
          .exec();
        assert.deepEqual(results, ["OK", null, 2, 5, 3, 3, "OK"]);
        assert.equal(await redis.get(`${p}first`), "a");
        const hash = await redis.hgetall(`${p}h`);
        assert.deepEqual(Object.entries(hash).sort(), [
          ['["x",{}]', "5"],
          ["__proto__", "p"],
          ["y", "7"],
          ["z", "{}"],
        ]);
        assert.deepEqual(await redis.hgetall(`${p}nothing`), {});
        assert.deepEqual(await redis.hmget(`${p}h`, "z", "gone", "y"), ["{}", null, "7"]);
        assert.deepEqual(await redis.lrange(`${p}r`, 0, -1), ["3", "2"]);
        assert.deepEqual(await redis.pipeline().exec(), [], "an empty batch sends nothing");
      });

      await t.step("a transaction: sorted set by score, then removal", async () => {
        await redis.multi()
          .zadd(`${p}z`, { score: 300, member: "c" })
          .zadd(`${p}z`, { score: 100, member: "a" })
          .zadd(`${p}z`, { score: 200, member: "b" })
          .hset(`${p}items`, { a: "A", b: "B" })
          .exec();
        assert.equal(await redis.zcard(`${p}z`), 3);
        const range = { byScore: true, offset: 0, count: 10 } as const;
        assert.deepEqual(await redis.zrange(`${p}z`, 0, 250, range), ["a", "b"]);
        assert.deepEqual(await redis.zrange(`${p}z`, 0, 1000, { ...range, offset: 1, count: 1 }), [
          "b",
        ]);
        const removed = await redis.multi().zrem(`${p}z`, "a", "b").hdel(`${p}items`, "a").exec();
        assert.deepEqual(removed, [2, 1]);
        assert.deepEqual(await redis.zrange(`${p}z`, 0, 1000, range), ["c"]);
        const aborted = redis.multi().zadd(`${p}z`, { score: 1, member: "d" }).hset(
          `${p}items`,
          {},
        );
        await assert.rejects(
          aborted.exec({ keepErrors: true }),
          /wrong number of arguments|EXECABORT/,
        );
        assert.equal(await redis.zcard(`${p}z`), 1, "an aborted transaction runs nothing");
      });

      await t.step("scripts, and a refused command in a batch", async () => {
        await redis.set(`${p}str`, "not a list");
        const batch = () =>
          redis.pipeline()
            .eval("return {KEYS[1], ARGV[1], 7}", [`${p}k`], ["v"])
            .lpush(`${p}str`, "x");
        const results = await batch().exec({ keepErrors: true });
        assert.deepEqual(results[0], { result: [`${p}k`, "v", 7] });
        assert.equal(results[1]!.result, null);
        assert.match(results[1]!.error!, /WRONGTYPE/);
        await assert.rejects(
          batch().exec(),
          /Cannot run command 2 \(LPUSH\) of the batch: WRONGTYPE/,
        );
        await assert.rejects(redis.rpush(`${p}str`, "x"), /WRONGTYPE/);
      });

      await t.step("streams: length, oldest entries first, deletion", async () => {
        const script =
          "for i = 1, #ARGV, 2 do redis.call('XADD', KEYS[1], '*', 'event', ARGV[i], 'n', ARGV[i + 1]) end";
        await redis.pipeline().eval(script, [`${p}x`], ["{}", "1", "é", "2", "[3]", "3"]).exec();
        assert.equal(await redis.xlen(`${p}x`), 3);
        const all = await redis.xrange(`${p}x`, "-", "+");
        assert.deepEqual(all.map(([, fields]) => fields), [
          ["event", "{}", "n", "1"],
          ["event", "é", "n", "2"],
          ["event", "[3]", "n", "3"],
        ]);
        assert.ok(all.every(([id]) => /^\d+-\d+$/.test(id)));
        assert.deepEqual(await redis.xrange(`${p}x`, "-", "+", 1), [all[0]]);
        assert.equal(await redis.xdel(`${p}x`, [all[0]![0], all[1]![0]]), 2);
        assert.deepEqual(await redis.xrange(`${p}x`, "-", "+"), [all[2]]);
        assert.deepEqual(await redis.xrange(`${p}none`, "-", "+"), []);
        assert.deepEqual(await redis.xinfoGroups(`${p}none`), [], "no stream: no group");
        assert.deepEqual(await redis.xinfoGroups(`${p}x`), [], "no group yet");
        await redis.call(["XGROUP", "CREATE", `${p}x`, "g", "0"]);
        await redis.call(["XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "STREAMS", `${p}x`, ">"]);
        assert.deepEqual(await redis.xinfoGroups(`${p}x`), [
          { name: "g", consumers: 1, pending: 1, lastDeliveredId: all[2]![0], lag: 0 },
        ]);
        const id = await redis.xadd(`${p}x`, { event_type: "t", event: "{}" });
        assert.deepEqual(await redis.xrange(`${p}x`, id, id), [[id, [
          "event_type",
          "t",
          "event",
          "{}",
        ]]]);
      });

      await t.step("lpush, exists, expiring set, and a raw command", async () => {
        assert.equal(await redis.lpush(`${p}lp`, "a", "b"), 2);
        assert.deepEqual(await redis.lrange(`${p}lp`, 0, -1), ["b", "a"]);
        await redis.set(`${p}exp`, "v", { px: 60_000 });
        assert.equal(await redis.exists(`${p}exp`, `${p}lp`, `${p}missing`), 2);
        const ttl = await redis.call(["PTTL", `${p}exp`]) as number;
        assert.ok(ttl > 50_000 && ttl <= 60_000, `PX set: ${ttl}`);
        assert.equal(await redis.call(["ECHO", "raw"]), "raw");
        assert.equal(await redis.lowestScore(`${p}zz`), null);
        await redis.pipeline().zadd(`${p}zz`, { score: 7, member: "b" })
          .zadd(`${p}zz`, { score: 3.5, member: "a" }).exec();
        assert.equal(await redis.lowestScore(`${p}zz`), 3.5);
        const sha = await redis.call(["SCRIPT", "LOAD", "return ARGV[1]"]) as string;
        assert.deepEqual(
          await redis.pipeline().evalsha(sha, [], ["by sha"]).exec(),
          ["by sha"],
        );
        await redis.del(`${p}zz`);
        await redis.del(`${p}lp`, `${p}exp`);
      });

      await t.step("scan and ping", async () => {
        const found = new Set<string>();
        let cursor = "0";
        do {
          const [next, keys] = await redis.scan(cursor, { match: `${p}*`, count: 2 });
          for (const key of keys) found.add(key);
          cursor = next;
        } while (cursor !== "0");
        assert.deepEqual(
          [...found].sort(),
          ["first", "h", "items", "r", "str", "x", "z"].map((k) => p + k),
        );
        await redis.ping();
      });
    } finally {
      await deleteKeys(cleanup, p);
    }
  });
}
