/**
 * The small doors of issue 20: what a stranger or a receiver can do with one header, one
 * variable or one request that the router must bound.
 */
import assert from "node:assert/strict";
import { CONFIG_VARIABLES, loadConfig } from "../src/config/config.ts";
import { ConfigError } from "../src/errors.ts";
import { createDeliverer } from "../src/deliver/deliverer.ts";
import type { Sink } from "../src/deliver/types.ts";
import { Metrics } from "../src/status/metrics.ts";
import { openKvStore } from "../src/store/kv_store.ts";
import type { StateStore } from "../src/store/state_store.ts";

/** A deliverer whose only webhook always answers 503 with `Retry-After: 99999999999`. */
function askingForEver(store: StateStore, scheduleS: number[], maxAgeS: number, now: () => number) {
  const sink: Sink = {
    name: "hook",
    kind: "webhook",
    deliver: (items) =>
      Promise.resolve(items.map(() => ({
        status: "retry" as const,
        error: "HTTP 503",
        httpStatus: 503,
        retryAfterMs: 99_999_999_999_000,
      }))),
  };
  return createDeliverer({
    sinks: new Map([["hook", sink]]),
    store,
    deadLetterSink: null,
    metrics: new Metrics(),
    attempts: 100,
    maxAgeS,
    scheduleS,
    now,
  });
}

Deno.test("Retry-After cannot park a delivery past the schedule's longest step or the letter's maximum age", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await using store = await openKvStore(dir);
    const t0 = 1_000_000;
    let t = t0;
    const byStep = askingForEver(store, [5, 300], 86_400, () => t);
    await byStep.deliver([{ destination: "hook", eventId: "e1", body: "{}" }]);
    assert.equal(await store.nextDueAt(), t0 + 300_000, "capped by the schedule's longest step");
    await store.unpark(["hook:e1"]);

    const byAge = askingForEver(store, [5, 100_000], 1000, () => t);
    await byAge.deliver([{ destination: "hook", eventId: "e2", body: "{}" }]);
    assert.equal(await store.nextDueAt(), t0 + 1_000_000, "capped by the maximum age");
    t = t0 + 1_000_000;
    await byAge.retryDue();
    assert.equal(await store.nextDueAt(), null, "no longer parked");
    assert.equal(await store.deadLetterCount(), 1, "dead-lettered at its maximum age");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("config errors follow one rule for every variable: no long value is echoed", () => {
  const base = { VK_TOKEN: "t".repeat(20), VK_GROUP_ID: "42" };
  const long = (core: string) => core.repeat(Math.ceil(300 / core.length));
  const hostile = [
    long("!"),
    long("9"),
    `${long("9")}.5`,
    `ftp://${long("h")}/x`,
    `http://${long("h")}:99999999/x`,
    ` ${long("x!")} `,
  ];
  for (const name of CONFIG_VARIABLES) {
    for (const value of hostile) {
      let lines: readonly string[] = [];
      try {
        loadConfig({ ...base, [name]: value });
      } catch (error) {
        assert.ok(error instanceof ConfigError, String(error));
        lines = error.issues;
      }
      const core = value.trim();
      for (const line of lines) {
        for (let i = 0; i + 16 <= core.length; i += 8) {
          assert.ok(
            !line.includes(core.slice(i, i + 16)),
            `${name}=${core.slice(0, 20)}… is echoed: ${line.slice(0, 160)}`,
          );
        }
      }
    }
  }
});
