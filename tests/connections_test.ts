/** The destination kinds' connections: configured from the environment without echoing secrets. */
import assert from "node:assert/strict";
import { redisConnection } from "../src/deliver/kinds/redis_connection.ts";
import { CONNECTION_SPECS, DESTINATION_KINDS } from "../src/deliver/kinds/registry.ts";

const SECRET = "s3cr3t-Value-9f2";

Deno.test("every kind's connection is among CONNECTION_SPECS, once", () => {
  const specs = DESTINATION_KINDS.flatMap((k) => k.connection ?? []);
  assert.deepEqual(new Set(CONNECTION_SPECS), new Set(specs));
  assert.equal(new Set(CONNECTION_SPECS.map((s) => s.name)).size, CONNECTION_SPECS.length);
});

Deno.test("no connection's configuration problem shows a variable's value", async (t) => {
  const bad = [
    `ftp://user:${SECRET}@host:1/${SECRET}?token=${SECRET}`,
    `${SECRET}`,
    `http://${SECRET}@h`,
  ];
  for (const spec of CONNECTION_SPECS) {
    await t.step(spec.name, () => {
      for (const value of bad) {
        for (const only of [...spec.variables, null]) {
          const env = Object.fromEntries(
            spec.variables.filter((v) => only === null || v === only).map((v) => [v, value]),
          );
          const problems: string[] = [];
          spec.configure(env, problems);
          for (const line of problems) {
            assert.ok(!line.includes(SECRET), `${spec.name}: ${line}`);
            assert.match(line, /^[A-Z][A-Z0-9_]*: /, "a line starts with its variable");
          }
        }
      }
      assert.equal(spec.configure({}, []), null, "not configured without its variables");
    });
  }
});

Deno.test("the Redis connection: its secrets, and a description without them", () => {
  const problems: string[] = [];
  const native = redisConnection.configure(
    { REDIS_URL: `redis://default:${SECRET}@h:6380` },
    problems,
  )!;
  const upstash = redisConnection.configure({
    UPSTASH_REDIS_REST_URL: "https://eu1.upstash.io",
    UPSTASH_REDIS_REST_TOKEN: SECRET,
  }, problems)!;
  assert.deepEqual(problems, []);
  assert.deepEqual(redisConnection.secrets(native), [SECRET]);
  assert.deepEqual(redisConnection.secrets(upstash), [SECRET]);
  assert.equal(redisConnection.describe(native), "Redis at redis://[REDACTED]@h:6380");
  assert.equal(redisConnection.describe(upstash), "Upstash at https://eu1.upstash.io");
});
