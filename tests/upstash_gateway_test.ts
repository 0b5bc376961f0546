/** The test gateway must behave like Upstash where `@upstash/redis` depends on it. */
import assert from "node:assert/strict";
import { startUpstashGateway } from "./support/upstash_gateway.ts";
import { TEST_REDIS_URL } from "./support/redis.ts";

Deno.test("the Upstash gateway speaks Upstash's REST protocol", async (t) => {
  await using gateway = startUpstashGateway(TEST_REDIS_URL);
  const key = `gw-test-${crypto.randomUUID()}`;
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${gateway.url}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${gateway.token}`, ...headers },
      body: JSON.stringify(body),
    }).then(async (r) => [r.status, await r.json()] as const);

  await t.step("401 without the token", async () => {
    const r = await fetch(gateway.url, { method: "POST", body: '["PING"]' });
    assert.equal(r.status, 401);
    await r.body?.cancel();
  });
  await t.step("single commands: result, or error with 400; numbers become strings", async () => {
    assert.deepEqual(await post("/", ["SET", key, 42]), [200, { result: "OK" }]);
    assert.deepEqual(await post("/", ["GET", key]), [200, { result: "42" }]);
    const [status, body] = await post("/", ["LPUSH", key, "x"]);
    assert.equal(status, 400);
    assert.match(body.error, /WRONGTYPE/);
  });
  await t.step("pipelines answer per item, errors inside a 200", async () => {
    const [status, body] = await post("/pipeline", [["GET", key], ["LPUSH", key, "x"]]);
    assert.equal(status, 200);
    assert.deepEqual(body[0], { result: "42" });
    assert.match(body[1].error, /WRONGTYPE/);
  });
  await t.step("multi-exec runs atomically; EXECABORT is a 400", async () => {
    assert.deepEqual(await post("/multi-exec", [["INCR", key], ["GET", key]]), [200, [{
      result: 43,
    }, { result: "43" }]]);
    const [status] = await post("/multi-exec", [["INCR", key], ["NOSUCHCOMMAND"]]);
    assert.equal(status, 400);
  });
  await t.step("base64 of strings with Upstash-Encoding", async () => {
    assert.deepEqual(await post("/", ["GET", key], { "upstash-encoding": "base64" }), [200, {
      result: btoa("43"),
    }]);
  });
  await t.step("500 while failing", async () => {
    gateway.setFailing(true);
    assert.equal((await post("/", ["PING"]))[0], 500);
    gateway.setFailing(false);
  });
  await post("/", ["DEL", key]);
});
