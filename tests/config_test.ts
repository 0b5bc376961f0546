import assert from "node:assert/strict";
import { loadConfig } from "../src/config/config.ts";
import { parseDotEnv } from "../src/config/env_file.ts";
import { ConfigError } from "../src/errors.ts";

const BASE = { VK_TOKEN: "secret-token-value", VK_GROUP_ID: "218730916" };

function issuesOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return [...error.issues];
  }
  assert.fail("expected a ConfigError");
}

Deno.test("loadConfig() fills every default", () => {
  const config = loadConfig(BASE);
  assert.deepEqual(config.communities, [{ groupId: 218730916, token: "secret-token-value" }]);
  assert.equal(config.vk.apiUrl, "https://api.vk.ru/method");
  assert.equal(config.vk.apiVersion, "5.199");
  assert.equal(config.vk.wait, 25);
  assert.equal(config.vk.longPoll, true);
  assert.deepEqual(config.commandPrefixes, ["/", "!"]);
  assert.equal(config.timezone, "Europe/Moscow");
  assert.equal(config.redis, null);
  assert.equal(config.redisPrefix, "vk-router:");
  assert.equal(config.dataDir, "./data");
  assert.equal(config.port, 8080);
  assert.equal(config.log.level, "info");
});

Deno.test("loadConfig() names each bad variable on its own line and never prints a token", async (t) => {
  const cases: [string, Record<string, string>, RegExp][] = [
    ["VK_TOKEN unset", { VK_GROUP_ID: "1" }, /^VK_TOKEN: required for long poll/],
    [
      "VK_GROUP_ID=abc",
      { ...BASE, VK_GROUP_ID: "abc" },
      /^VK_GROUP_ID: expected a community id.*got abc/,
    ],
    ["VK_GROUP_ID unset", { VK_TOKEN: "x" }, /^VK_GROUP_ID: required/],
    [
      "VK_LONGPOLL_WAIT=91",
      { ...BASE, VK_LONGPOLL_WAIT: "91" },
      /^VK_LONGPOLL_WAIT: expected a whole number from 1 to 90, got 91/,
    ],
    ["PORT=http", { ...BASE, PORT: "http" }, /^PORT: expected a whole number/],
    [
      "EVENT_TIMEZONE=Mars/Base",
      { ...BASE, EVENT_TIMEZONE: "Mars/Base" },
      /^EVENT_TIMEZONE: expected an IANA time zone/,
    ],
    ["REDIS_URL=http://x", { ...BASE, REDIS_URL: "http://x" }, /^REDIS_URL: expected a redis:\/\//],
    [
      "LOG_LEVEL=loud",
      { ...BASE, LOG_LEVEL: "loud" },
      /^LOG_LEVEL: expected debug, info, warning or error/,
    ],
    [
      "Upstash URL without token",
      { ...BASE, UPSTASH_REDIS_REST_URL: "https://x.upstash.io" },
      /^UPSTASH_REDIS_REST_TOKEN: required/,
    ],
    [
      "long poll off, no callback",
      { ...BASE, VK_LONGPOLL: "off" },
      /^VK_CALLBACK_CONFIRMATION: required when VK_LONGPOLL=off/,
    ],
  ];
  for (const [name, env, expected] of cases) {
    await t.step(name, () => {
      const issues = issuesOf(env);
      assert.equal(issues.length, 1, issues.join("\n"));
      assert.match(issues[0]!, expected);
      assert.ok(!issues.join().includes("secret-token-value"));
    });
  }
});

Deno.test("loadConfig() reports every problem at once", () => {
  const issues = issuesOf({ VK_GROUP_ID: "abc", PORT: "-1", LOG_FORMAT: "xml" });
  assert.deepEqual(issues.map((i) => i.split(":")[0]).sort(), [
    "LOG_FORMAT",
    "PORT",
    "VK_GROUP_ID",
  ]);
});

Deno.test("loadConfig() serves several communities with their own tokens", () => {
  const config = loadConfig({ VK_GROUP_ID: "1, 2,3", VK_TOKEN: "shared", VK_TOKEN_2: "own" });
  assert.deepEqual(config.communities, [
    { groupId: 1, token: "shared" },
    { groupId: 2, token: "own" },
    { groupId: 3, token: "shared" },
  ]);
  assert.match(issuesOf({ VK_GROUP_ID: "1,2", VK_TOKEN_1: "a" })[0]!, /^VK_TOKEN_2: required/);
});

Deno.test("loadConfig() prefers Upstash over REDIS_URL and treats empty values as unset", () => {
  const config = loadConfig({
    ...BASE,
    REDIS_URL: "redis://127.0.0.1:6379",
    UPSTASH_REDIS_REST_URL: "https://eu1.upstash.io/",
    UPSTASH_REDIS_REST_TOKEN: "t",
    LOG_DIR: "",
  });
  assert.deepEqual(config.redis, { kind: "upstash", url: "https://eu1.upstash.io", token: "t" });
  assert.equal(config.log.dir, null);
  assert.deepEqual(loadConfig({ ...BASE, REDIS_URL: "rediss://h:6380" }).redis, {
    kind: "native",
    url: "rediss://h:6380",
  });
});

Deno.test("parseDotEnv() reads assignments, quotes and comments", () => {
  const vars = parseDotEnv([
    "# comment",
    "VK_TOKEN=abc # trailing",
    'export VK_GROUP_ID="12"',
    "EMPTY=",
    "QUOTED='a # b'",
    'MULTI="line1\\nline2"',
    "not an assignment",
  ].join("\n"));
  assert.deepEqual(vars, {
    VK_TOKEN: "abc",
    VK_GROUP_ID: "12",
    EMPTY: "",
    QUOTED: "a # b",
    MULTI: "line1\nline2",
  });
});
