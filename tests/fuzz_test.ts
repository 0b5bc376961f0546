/**
 * Fuzzing the edges that take outside input: routes files and Callback API requests.
 * `FUZZ_RUNS` sets the cases per property (the chaos run uses 10,000).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { parseRoutes } from "../src/config/routes.ts";
import { ConfigError } from "../src/errors.ts";
import { createApp } from "../src/http/app.tsx";
import { createSnapshots } from "../src/http/snapshot.ts";
import { route } from "../src/route/matcher.ts";
import { transform } from "../src/events/transform.ts";
import { Metrics } from "../src/status/metrics.ts";
import { ServiceStatus } from "../src/status/status.ts";
import { openKvStore } from "../src/store/kv_store.ts";

const RUNS = Number(Deno.env.get("FUZZ_RUNS") ?? 300);

const keys = [
  "destinations",
  "rules",
  "default",
  "retry",
  "dead_letter",
  "kind",
  "key",
  "push",
  "url",
  "secret_env",
  "timeout_ms",
  "when",
  "to",
  "continue",
  "name",
  "event_type",
  "chat_id",
  "text",
  "payload",
  "command",
  "__proto__",
  "constructor",
];
const routesLike = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.constantFrom(
      "log",
      "redis-list",
      "webhook",
      "http://127.0.0.1:1/x",
      "k",
      "lpush",
      "(a+)+",
      "^/ban",
      "(?=x)",
      "\\bспам",
      "message_new",
      "q",
    ),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(fc.constantFrom(...keys), tie("value"), { maxKeys: 5 }),
  ),
})).value;

Deno.test("random routes files are accepted or refused with a ConfigError, never anything else", () => {
  fc.assert(
    fc.property(routesLike, fc.jsonValue(), (candidate, eventLike) => {
      try {
        const routes = parseRoutes(candidate, {});
        const result = transform(eventLike, {
          receivedAt: 1,
          timezone: "UTC",
          commandPrefixes: ["/"],
        });
        if (result.ok) route(result.event, routes);
      } catch (error) {
        assert.ok(error instanceof ConfigError, `threw ${error}`);
        assert.ok(
          error.issues.length > 0 && error.issues.every((i) => i.startsWith("$")),
          error.issues.join("\n"),
        );
      }
    }),
    { numRuns: RUNS },
  );
});

Deno.test("random Callback API requests get a defined answer, never a crash", async () => {
  const dir = await Deno.makeTempDir();
  await using store = await openKvStore(dir);
  const accepted: unknown[] = [];
  const app = createApp({
    snapshot: createSnapshots({
      version: "0",
      status: new ServiceStatus([42], false),
      metrics: new Metrics(),
      store,
      routes: parseRoutes({ destinations: { q: { kind: "log" } }, rules: [] }),
      enrichStats: () => ({ hits: 0, misses: 0, lookupsFailed: 0, deadlinesMissed: 0 }),
    }),
    samples: () => Promise.resolve([]),
    readiness: () => Promise.resolve(null),
    statusToken: "status-token-0123456789",
    sessionStore: store,
    secrets: [],
    callback: { confirmation: "conf", secret: "s3cret-0123456789abcdef", groupIds: [42] },
    accept: (update) => {
      accepted.push(update);
      return Promise.resolve();
    },
    replayDeadLetters: () =>
      Promise.resolve({ replayed: 0, delivered: 0, failed: 0, set_aside: 0 }),
    stopping: () => false,
  });
  const body = fc.oneof(
    fc.jsonValue().map((v) => JSON.stringify(v)),
    fc.record({
      type: fc.constantFrom("confirmation", "message_new", "x"),
      group_id: fc.oneof(fc.constant(42), fc.integer()),
      secret: fc.oneof(fc.constant("s3cret-0123456789abcdef"), fc.string()),
      object: fc.jsonValue(),
    }, { requiredKeys: [] }).map((v) => JSON.stringify(v)),
    fc.string({ unit: "binary" }),
    fc.constantFrom(
      "",
      "{",
      "null",
      "[]",
      '{"__proto__":{"x":1},"type":"confirmation","group_id":42}',
    ),
  );
  const headers = fc.dictionary(
    fc.constantFrom("content-type", "x-retry-counter", "content-length", "authorization", "cookie"),
    fc.string({ maxLength: 40 }).filter((s) => !/[\r\n\0]/.test(s) && /^[\x20-\x7e]*$/.test(s)),
  );
  await fc.assert(
    fc.asyncProperty(body, headers, async (text, extra) => {
      const { ["content-length"]: _, ...safe } = extra;
      const response = await app.request("/callback", {
        method: "POST",
        body: text,
        headers: safe,
      });
      assert.ok(
        [200, 400, 403, 413].includes(response.status),
        `status ${response.status} for ${text.slice(0, 80)}`,
      );
      await response.body?.cancel();
    }),
    { numRuns: RUNS },
  );
  assert.equal(({} as Record<string, unknown>).x, undefined, "no prototype was polluted");
  for (const event of accepted) {
    assert.ok(!("secret" in (event as object)), "secrets never travel on");
  }
  await Deno.remove(dir, { recursive: true });
});
