/** The replica settings: `LEASE_TTL_S` and `INSTANCE_ID`. */
import assert from "node:assert/strict";
import { loadConfig } from "../src/config/config.ts";
import { ConfigError } from "../src/errors.ts";

const BASE = { VK_TOKEN: "secret-token-value", VK_GROUP_ID: "1" };

function issuesOf(env: Record<string, string>): readonly string[] {
  try {
    loadConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.issues;
  }
  assert.fail("expected a ConfigError");
}

Deno.test("LEASE_TTL_S: 10 s by default, decimals allowed, 0.5 .. 3600", () => {
  assert.equal(loadConfig(BASE).leaseTtlMs, 10_000);
  assert.equal(loadConfig({ ...BASE, LEASE_TTL_S: "2" }).leaseTtlMs, 2_000);
  assert.equal(loadConfig({ ...BASE, LEASE_TTL_S: "1.5" }).leaseTtlMs, 1_500);
  for (const bad of ["0.1", "5000", "ten", "-3", "1e3"]) {
    assert.deepEqual(issuesOf({ ...BASE, LEASE_TTL_S: bad }), [
      `LEASE_TTL_S: expected seconds from 0.5 to 3600, got ${bad}`,
    ]);
  }
});

Deno.test("INSTANCE_ID: as given, or the host name plus a random suffix, unique per process", () => {
  assert.equal(loadConfig({ ...BASE, INSTANCE_ID: "router-eu-1" }).instanceId, "router-eu-1");
  const a = loadConfig({ ...BASE, HOSTNAME: "pod-7f9c" }).instanceId;
  const b = loadConfig({ ...BASE, HOSTNAME: "pod-7f9c" }).instanceId;
  assert.match(a, /^pod-7f9c-[0-9a-f]{6}$/);
  assert.notEqual(a, b);
  assert.match(loadConfig(BASE).instanceId, /^vk-router-[0-9a-f]{6}$/);
  assert.match(loadConfig({ ...BASE, HOSTNAME: "my host#1" }).instanceId, /^myhost1-[0-9a-f]{6}$/);
  assert.deepEqual(issuesOf({ ...BASE, INSTANCE_ID: "two words" }), [
    "INSTANCE_ID: expected 1 to 100 letters, digits and . _ : @ -, got two words",
  ]);
  assert.equal(issuesOf({ ...BASE, INSTANCE_ID: "a#b" }).length, 1, "# separates the nonce");
});
