import assert from "node:assert/strict";
import { BUILT_IN_ROUTES, parseRoutes } from "../src/config/routes.ts";
import { checkRoutesAgainstConfig } from "../src/config/startup_checks.ts";
import { loadConfig } from "../src/config/config.ts";
import { DESTINATION_KINDS, KIND_NAMES } from "../src/deliver/kinds/registry.ts";
import { ConfigError } from "../src/errors.ts";

function issuesOf(input: unknown, env: Record<string, string> = {}): string[] {
  try {
    parseRoutes(input, env);
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return [...error.issues];
  }
  assert.fail("expected a ConfigError");
}

const log = { console: { kind: "log" } };

Deno.test("parseRoutes() accepts the repository's routes.json and the built-in routes", async () => {
  const routes = parseRoutes(
    JSON.parse(await Deno.readTextFile(new URL("../routes.json", import.meta.url))),
  );
  assert.deepEqual([...routes.destinations.keys()].sort(), [
    "button_pressed",
    "command_call",
    "message_new",
    "reaction",
  ]);
  assert.equal(routes.retry.attempts, 8);
  const builtIn = parseRoutes(BUILT_IN_ROUTES);
  assert.equal(builtIn.destinations.get("console")?.kind, "log");
});

Deno.test("KIND_NAMES names every registered kind, for the unknown-kind message", () => {
  const names = KIND_NAMES.split(/, | or /);
  assert.deepEqual(names, DESTINATION_KINDS.map((k) => k.kind));
});

Deno.test("parseRoutes() names each problem by its JSON path", async (t) => {
  const cases: [string, unknown, RegExp][] = [
    ["a typo'd key", {
      destinations: log,
      rules: [{ when: { evnt_type: ["x"] }, to: ["console"] }],
    }, /^\$\.rules\[0\]\.when\.evnt_type: unknown key$/],
    [
      "an unknown top-level key",
      { destinations: log, rules: [], extra: 1 },
      /^\$\.extra: unknown key$/,
    ],
    [
      "an unknown destination kind",
      { destinations: { a: { kind: "kafka" } }, rules: [] },
      new RegExp(`^\\$\\.destinations\\.a\\.kind: expected kind ${RegExp.escape(KIND_NAMES)}`),
    ],
    [
      "an unknown destination name",
      { destinations: log, rules: [{ to: ["nowhere"] }] },
      /^\$\.rules\[0\]\.to\[0\]: unknown destination "nowhere"; declared: "console"$/,
    ],
    [
      "an unknown default",
      { destinations: log, rules: [], default: "x" },
      /^\$\.default: unknown destination "x"/,
    ],
    [
      "a bad regex",
      { destinations: log, rules: [{ when: { text: "(" }, to: ["console"] }] },
      /^\$\.rules\[0\]\.when\.text: invalid regular expression/,
    ],
    [
      "a regex RE2 cannot run",
      { destinations: log, rules: [{ when: { text: "^/ban(?!ana)" }, to: ["console"] }] },
      /^\$\.rules\[0\]\.when\.text: invalid regular expression "\^\/ban\(\?!ana\)": lookahead is not supported: routes use RE2 syntax, see README$/,
    ],
    ["a rule after a catch-all", {
      destinations: log,
      rules: [{ to: ["console"] }, { when: { event_type: ["reaction"] }, to: ["console"] }],
    }, /^\$\.rules\[1\]: unreachable: rule 0 matches every event/],
    [
      "a misspelt event type",
      { destinations: log, rules: [{ when: { event_type: ["comand_call"] }, to: ["console"] }] },
      /^\$\.rules\[0\]\.when\.event_type\[0\]: unknown event type "comand_call": did you mean "command_call"\?/,
    ],
    [
      "VK's raw type instead of the event's",
      {
        destinations: log,
        rules: [{ when: { event_type: ["message_new", "message_event"] }, to: ["console"] }],
      },
      /^\$\.rules\[0\]\.when\.event_type\[1\]: "message_event" is VK's raw type; the router names its events "button_pressed"$/,
    ],
    ["a missing webhook secret", {
      destinations: {
        w: { kind: "webhook", url: "http://127.0.0.1/x", secret_env: "NOPE_SECRET" },
      },
      rules: [],
    }, /^\$\.destinations\.w\.secret_env: environment variable NOPE_SECRET is not set$/],
    ["a wrong push", {
      destinations: { r: { kind: "redis-list", key: "k", push: "push" } },
      rules: [],
    }, /^\$\.destinations\.r\.push: expected lpush or rpush$/],
  ];
  for (const [name, input, expected] of cases) {
    await t.step(name, () => {
      const issues = issuesOf(input);
      assert.equal(issues.length, 1, issues.join("\n"));
      assert.match(issues[0]!, expected);
    });
  }
});

Deno.test("parseRoutes() lets a catch-all with continue be followed by more rules", () => {
  const routes = parseRoutes({
    destinations: log,
    rules: [{ to: ["console"], continue: true }, { to: ["console"] }],
  });
  assert.equal(routes.rules.length, 2);
});

Deno.test("parseRoutes() resolves webhook secrets from the environment", () => {
  const routes = parseRoutes(
    {
      destinations: {
        w: { kind: "webhook", url: "http://127.0.0.1:1/h", secret_env: "HOOK_SECRET" },
      },
      rules: [],
    },
    { HOOK_SECRET: "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" },
  );
  assert.deepEqual(routes.destinations.get("w"), {
    kind: "webhook",
    name: "w",
    url: "http://127.0.0.1:1/h",
    secret: "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
    timeoutMs: 5000,
  });
});

Deno.test("checkRoutesAgainstConfig() asks for REDIS_URL when redis-list destinations have no Redis", () => {
  const routes = parseRoutes({ destinations: { q: { kind: "redis-list", key: "k" } }, rules: [] });
  const config = loadConfig({ VK_TOKEN: "t", VK_GROUP_ID: "1" });
  assert.throws(
    () => checkRoutesAgainstConfig(routes, config),
    (e: ConfigError) =>
      /^REDIS_URL: required by the destinations "q" \(redis-list\)/.test(e.issues[0]!),
  );
  checkRoutesAgainstConfig(
    routes,
    loadConfig({ VK_TOKEN: "t", VK_GROUP_ID: "1", REDIS_URL: "redis://127.0.0.1:6379" }),
  );
});

Deno.test("checkRoutesAgainstConfig() refuses a destination key under REDIS_PREFIX", () => {
  const routes = parseRoutes({
    destinations: { q: { kind: "redis-list", key: "vk-router:checkpoint:1" } },
    rules: [],
  });
  const config = loadConfig({ VK_TOKEN: "t", VK_GROUP_ID: "1", REDIS_URL: "redis://127.0.0.1" });
  assert.throws(
    () => checkRoutesAgainstConfig(routes, config),
    (e: ConfigError) =>
      /destination "q": key "vk-router:checkpoint:1" is under REDIS_PREFIX/.test(e.issues[0]!),
  );
});
