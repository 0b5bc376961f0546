/** The test gateway must behave like Upstash where `@upstash/redis` depends on it. */
import assert from "node:assert/strict";
import { startUpstashGateway } from "../dev/upstash_gateway.ts";
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
    gateway.setFailing((commands) => commands.some(([name]) => name === "PING"));
    assert.equal((await post("/pipeline", [["GET", key], ["PING"]]))[0], 500);
    assert.equal((await post("/", ["GET", key]))[0], 200, "a request the function lets pass");
    gateway.setFailing(false);
  });
  await post("/", ["DEL", key]);
});

Deno.test("the Upstash gateway counts requests and commands, answers NOSCRIPT, adds latency", async (t) => {
  await using gateway = startUpstashGateway(TEST_REDIS_URL, { latencyMs: 30 });
  const post = (path: string, body: unknown) =>
    fetch(`${gateway.url}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${gateway.token}` },
      body: JSON.stringify(body),
    }).then(async (r) => [r.status, await r.json()] as const);
  const key = `gw-count-${crypto.randomUUID()}`;

  await t.step("every command counts, inside pipelines and transactions too", async () => {
    await post("/", ["SET", key, "1"]);
    await post("/pipeline", [["GET", key], ["EVALSHA", "0".repeat(40), "0"], [
      "HINCRBY",
      key + "h",
      "f",
      1,
    ]]);
    await post("/multi-exec", [["INCR", key], ["GET", key]]);
    assert.equal(gateway.counts.requests, 3);
    assert.equal(gateway.counts.commands, 6);
    assert.deepEqual(
      Object.fromEntries(gateway.counts.byCommand),
      { SET: 1, GET: 2, EVALSHA: 1, HINCRBY: 1, INCR: 1 },
    );
    gateway.resetCounts();
    assert.equal(gateway.counts.requests + gateway.counts.commands, 0);
  });
  await t.step("an unknown script answers NOSCRIPT, inside a pipeline and alone", async () => {
    const sha = "f".repeat(40);
    const [status, body] = await post("/pipeline", [["EVALSHA", sha, "0"], ["PING"]]);
    assert.equal(status, 200);
    assert.match(body[0].error, /^NOSCRIPT/);
    assert.deepEqual(body[1], { result: "PONG" });
    const [single, answer] = await post("/", ["EVALSHA", sha, "0"]);
    assert.equal(single, 400);
    assert.match(answer.error, /^NOSCRIPT/);
  });
  await t.step("each request waits latencyMs", async () => {
    const started = performance.now();
    await post("/", ["PING"]);
    assert.ok(performance.now() - started >= 29, "answered before the added latency");
  });
  await post("/", ["DEL", key, key + "h"]);
});
