import assert from "node:assert/strict";
import { isAbort, retry } from "../src/util/retry.ts";

const instant = () => Promise.resolve();

Deno.test("retry() tries again until the work succeeds, telling each failure", async () => {
  const told: [string, number][] = [];
  const result = await retry((attempt) => {
    if (attempt < 3) return Promise.reject(new Error(`fail ${attempt}`));
    return Promise.resolve("done");
  }, { sleep: instant, onRetry: (e, attempt) => told.push([(e as Error).message, attempt]) });
  assert.equal(result, "done");
  assert.deepEqual(told, [["fail 1", 1], ["fail 2", 2]]);
});

Deno.test("retry() gives up on an error that is not retryable, and after the attempts", async () => {
  let calls = 0;
  await assert.rejects(
    retry(() => {
      calls++;
      return Promise.reject(new Error("fatal"));
    }, { sleep: instant, retryable: () => false }),
    /fatal/,
  );
  assert.equal(calls, 1);
  calls = 0;
  await assert.rejects(
    retry(() => {
      calls++;
      return Promise.reject(new Error(`attempt ${calls}`));
    }, { sleep: instant, attempts: 3 }),
    /attempt 3/,
  );
  assert.equal(calls, 3);
});

Deno.test("retry() waits a growing backoff between attempts", async () => {
  const delays: number[] = [];
  await retry((attempt) => attempt < 5 ? Promise.reject(new Error("no")) : Promise.resolve(), {
    backoff: { minMs: 100, maxMs: 400 },
    random: () => 1,
    sleep: (ms) => {
      delays.push(ms);
      return Promise.resolve();
    },
  });
  assert.deepEqual(delays, [100, 200, 400, 400]);
});

Deno.test("retry() stops on abort with the signal's reason; the first attempt may still run", async () => {
  const controller = new AbortController();
  let calls = 0;
  const run = retry(() => {
    calls++;
    controller.abort(new Error("stopping"));
    return Promise.reject(new Error("down"));
  }, { signal: controller.signal, sleep: instant });
  const error = await run.catch((e) => e);
  assert.ok(isAbort(error, controller.signal), "the abort reason, not the work's error");
  assert.equal(calls, 1);

  calls = 0;
  await assert.rejects(retry(() => Promise.resolve(calls++), { signal: controller.signal }));
  assert.equal(calls, 0, "an aborted signal starts nothing");
  assert.equal(
    await retry(() => Promise.resolve("last batch"), {
      signal: controller.signal,
      firstAttemptOnAbort: true,
    }),
    "last batch",
  );
});
