import assert from "node:assert/strict";
import fc from "fast-check";
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
  assert.equal(config.host, "127.0.0.1", "loopback unless the operator opens it");
  assert.equal(config.statusToken, null);
  assert.equal(config.sessionTtlS, 43_200);
  assert.equal(config.trustProxy, false);
  assert.deepEqual(config.callback, { confirmation: null, secret: null, insecureNoSecret: false });
  assert.equal(config.log.level, "info");
  assert.equal(config.vk.maxEventsInFlight, 300);
  assert.equal(config.enrichCacheMax, 50_000);
});

Deno.test("the long poll's events in flight and the name cache are bounded by configuration", () => {
  const config = loadConfig({ ...BASE, VK_LONGPOLL_IN_FLIGHT: "100", ENRICH_CACHE_MAX: "2000" });
  assert.equal(config.vk.maxEventsInFlight, 100);
  assert.equal(config.enrichCacheMax, 2000);
  assert.deepEqual(
    issuesOf({ ...BASE, VK_LONGPOLL_IN_FLIGHT: "0", ENRICH_CACHE_MAX: "ten" }).length,
    2,
  );
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
      "VK_GROUP_ID with a token in it",
      { ...BASE, VK_GROUP_ID: "vk1.a.abcdefghijklmnopqrstuvwxyz" },
      /^VK_GROUP_ID: .*got a 32-character value \(not shown: it may be a secret\)$/,
    ],
    [
      "UPSTASH_REDIS_REST_URL=ftp://…",
      {
        ...BASE,
        UPSTASH_REDIS_REST_URL: "ftp://default:pw@eu1.upstash.io/x?token=t",
        UPSTASH_REDIS_REST_TOKEN: "upstash-token",
      },
      /^UPSTASH_REDIS_REST_URL: expected an http\(s\) URL, got ftp:\/\/\[REDACTED\]@eu1\.upstash\.io\/…$/,
    ],
    [
      "SESSION_TTL_S=30",
      { ...BASE, SESSION_TTL_S: "30" },
      /^SESSION_TTL_S: expected a whole number from 60 to 2592000, got 30$/,
    ],
    ["TRUST_PROXY=yes", { ...BASE, TRUST_PROXY: "yes" }, /^TRUST_PROXY: expected on or off/],
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

Deno.test("loadConfig() reports every problem at once", async (t) => {
  await t.step("variables and the checks between them together", () => {
    const issues = issuesOf({ VK_GROUP_ID: "abc", PORT: "-1", LOG_FORMAT: "xml" });
    assert.deepEqual(issues.map((i) => i.split(":")[0]).sort(), [
      "LOG_FORMAT",
      "PORT",
      "VK_GROUP_ID",
      "VK_TOKEN",
    ]);
  });
  await t.step("VK_GROUP_ID=abc without VK_TOKEN gives two lines", () => {
    const issues = issuesOf({ VK_GROUP_ID: "abc" });
    assert.equal(issues.length, 2, issues.join("\n"));
    assert.match(issues[0]!, /^VK_GROUP_ID: expected a community id.*got abc$/);
    assert.match(issues[1]!, /^VK_TOKEN: required for long poll/);
  });
  await t.step("a short secret beside a missing callback secret and a bad id", () => {
    const issues = issuesOf({
      VK_GROUP_ID: "x1",
      VK_TOKEN: "secret-token-value",
      STATUS_TOKEN: "short",
      VK_CALLBACK_CONFIRMATION: "abc123",
      REDIS_URL: "http://h",
    });
    assert.deepEqual(issues.map((i) => i.split(":")[0]), [
      "VK_GROUP_ID",
      "STATUS_TOKEN",
      "REDIS_URL",
      "VK_CALLBACK_SECRET",
    ]);
  });
});

Deno.test("STATUS_TOKEN and VK_CALLBACK_SECRET need at least 16 characters", async (t) => {
  const callback = { ...BASE, VK_CALLBACK_CONFIRMATION: "abc123" };
  for (const name of ["STATUS_TOKEN", "VK_CALLBACK_SECRET"]) {
    await t.step(name, () => {
      const issues = issuesOf({
        ...callback,
        VK_CALLBACK_SECRET: "sixteen-chars-xy",
        [name]: "fifteen-chars-x",
      });
      assert.equal(issues.length, 1, issues.join("\n"));
      assert.equal(
        issues[0],
        `${name}: must be at least 16 characters, got 15: generate one with openssl rand -hex 32`,
      );
      const config = loadConfig({
        ...callback,
        VK_CALLBACK_SECRET: "sixteen-chars-xy",
        [name]: "sixteen-chars-xy",
      });
      assert.equal(
        name === "STATUS_TOKEN" ? config.statusToken : config.callback.secret,
        "sixteen-chars-xy",
      );
    });
  }
  await t.step("STATUS_TOKEN in the characters a Bearer header carries", () => {
    assert.match(
      issuesOf({ ...BASE, STATUS_TOKEN: "sixteen chars & more" })[0]!,
      /^STATUS_TOKEN: use only letters, digits and - \. _ ~ \+ \//,
    );
  });
});

Deno.test("the Callback API needs VK_CALLBACK_SECRET, unless the insecure opt-out is set", async (t) => {
  const callback = { ...BASE, VK_CALLBACK_CONFIRMATION: "abc123" };
  await t.step("without a secret: one line naming it and where VK shows it", () => {
    const issues = issuesOf(callback);
    assert.equal(issues.length, 1);
    assert.match(issues[0]!, /^VK_CALLBACK_SECRET: required with VK_CALLBACK_CONFIRMATION/);
    assert.match(issues[0]!, /Community → Manage → API usage → Callback API → Secret key/);
    assert.match(issues[0]!, /VK_CALLBACK_INSECURE_NO_SECRET=1/);
  });
  await t.step("the opt-out is explicit and shows in the config", () => {
    const config = loadConfig({ ...callback, VK_CALLBACK_INSECURE_NO_SECRET: "1" });
    assert.deepEqual(config.callback, {
      confirmation: "abc123",
      secret: null,
      insecureNoSecret: true,
    });
    assert.match(
      issuesOf({ ...callback, VK_CALLBACK_INSECURE_NO_SECRET: "maybe" })[0]!,
      /^VK_CALLBACK_INSECURE_NO_SECRET: expected on or off, got maybe$/,
    );
  });
  await t.step("a secret wins over the opt-out", () => {
    const config = loadConfig({
      ...callback,
      VK_CALLBACK_SECRET: "callback-secret-0123",
      VK_CALLBACK_INSECURE_NO_SECRET: "on",
    });
    assert.equal(config.callback.secret, "callback-secret-0123");
    assert.equal(config.callback.insecureNoSecret, false);
  });
});

/** Secret-looking values: random keys in the usual encodings, VK tokens, passwords. */
const secretValue = fc.oneof(
  fc.uint8Array({ minLength: 12, maxLength: 48 }).map((b) =>
    btoa(String.fromCharCode(...b)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")
  ),
  fc.uint8Array({ minLength: 8, maxLength: 32 }).map((b) =>
    [...b].map((x) => x.toString(16).padStart(2, "0")).join("")
  ),
  fc.stringMatching(/^[A-Za-z0-9_-]{80,90}$/).map((s) => `vk1.a.${s}`),
  fc.string({ minLength: 16, maxLength: 40, unit: "grapheme-ascii" }).filter((s) =>
    s.trim() === s && !s.includes(",")
  ),
);

Deno.test("loadConfig() never echoes a secret, wherever it was put", () => {
  const places: [string, (s: string) => Record<string, string>][] = [
    ["VK_GROUP_ID", (s) => ({ VK_TOKEN: "t", VK_GROUP_ID: s })],
    ["VK_GROUP_ID after an id", (s) => ({ VK_TOKEN: "t", VK_GROUP_ID: `1,${s}` })],
    ["VK_GROUP_ID and VK_TOKEN", (s) => ({ VK_TOKEN: s, VK_GROUP_ID: s })],
    ["PORT", (s) => ({ ...BASE, PORT: s })],
    ["LOG_LEVEL", (s) => ({ ...BASE, LOG_LEVEL: s })],
    ["EVENT_TIMEZONE", (s) => ({ ...BASE, EVENT_TIMEZONE: s })],
    ["RETRY_SCHEDULE_S", (s) => ({ ...BASE, RETRY_SCHEDULE_S: s })],
    ["VK_LONGPOLL", (s) => ({ ...BASE, VK_LONGPOLL: s })],
    ["a short STATUS_TOKEN", (s) => ({ ...BASE, STATUS_TOKEN: s.slice(0, 15) })],
    ["STATUS_TOKEN with a space", (s) => ({ ...BASE, STATUS_TOKEN: `${s} x` })],
    ["a short VK_CALLBACK_SECRET", (s) => ({
      ...BASE,
      VK_CALLBACK_CONFIRMATION: "abc",
      VK_CALLBACK_SECRET: s.slice(0, 15),
    })],
    ["UPSTASH_REDIS_REST_URL's password, bad scheme", (s) => ({
      ...BASE,
      UPSTASH_REDIS_REST_URL: `ftp://default:${encodeURIComponent(s)}@eu1.upstash.io`,
    })],
    ["UPSTASH_REDIS_REST_URL's password, no token", (s) => ({
      ...BASE,
      UPSTASH_REDIS_REST_URL: `https://default:${encodeURIComponent(s)}@eu1.upstash.io`,
    })],
    ["UPSTASH_REDIS_REST_TOKEN without the URL", (s) => ({
      ...BASE,
      UPSTASH_REDIS_REST_TOKEN: s,
      VK_GROUP_ID: s,
    })],
    ["REDIS_URL's password, bad scheme", (s) => ({
      ...BASE,
      REDIS_URL: `http://default:${encodeURIComponent(s)}@redis:6379`,
      VK_GROUP_ID: "x",
    })],
    ["REDIS_URL's password, echoed elsewhere", (s) => ({
      ...BASE,
      REDIS_URL: `redis://default:${encodeURIComponent(s)}@redis:6379`,
      PORT: s,
    })],
    ["VK_API_URL with a token in its query", (s) => ({
      ...BASE,
      VK_API_URL: `ftp://api.vk.ru/method?access_token=${encodeURIComponent(s)}`,
    })],
    ["a webhook secret variable", (s) => ({ ...BASE, AUDIT_SECRET: s, VK_GROUP_ID: s })],
  ];
  fc.assert(
    fc.property(secretValue, fc.constantFrom(...places), (secret, [, place]) => {
      const lines = issuesOf(place(secret)).join("\n");
      const hidden = [secret, encodeURIComponent(secret), secret.slice(0, 15)];
      for (const value of hidden) assert.ok(!lines.includes(value), `${value} in:\n${lines}`);
    }),
    { numRuns: 500 },
  );
});

Deno.test("loadConfig() redacts a secret variable's value wherever a line would show it", () => {
  const issues = issuesOf({ VK_TOKEN: "tok-1234", VK_GROUP_ID: "tok-1234", PORT: "tok-1234" });
  assert.deepEqual(issues, [
    "VK_GROUP_ID: expected a community id or a comma-separated list of them, got [REDACTED]",
    "PORT: expected a whole number from 0 to 65535, got [REDACTED]",
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
