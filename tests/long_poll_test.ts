import assert from "node:assert/strict";
import { VkFatalError } from "../src/errors.ts";
import { createVkApi } from "../src/vk/api.ts";
import {
  type Batch,
  createPoller,
  decodePollServer,
  encodePollServer,
  type PollFault,
  type PollObserver,
} from "../src/vk/long_poll.ts";
import { type FakeVk, type PollFaultScript, startFakeVk } from "./support/fake_vk.ts";
import { numberedEvents } from "./support/raw_events.ts";

const FAST = { minMs: 5, maxMs: 20 };

function recorder() {
  const seen = { historyLost: 0, faults: [] as PollFault[], states: [] as string[] };
  const observer: PollObserver = {
    state: (_g, s) => seen.states.push(s),
    historyLost: () => seen.historyLost++,
    fault: (_g, kind) => seen.faults.push(kind),
  };
  return { seen, observer };
}

/** Polls until `until` holds on what was received, then stops; returns every batch. */
async function collect(
  vk: FakeVk,
  until: (updates: unknown[]) => boolean,
  opts: {
    observer?: PollObserver;
    initialTs?: string | null;
    wait?: number;
    graceMs?: number;
    onBatch?: (b: Batch) => void;
  } = {},
) {
  const controller = new AbortController();
  const batches: Batch[] = [];
  const api = createVkApi({ token: "test-token", apiUrl: vk.apiUrl, backoff: FAST });
  const poller = createPoller({
    groupId: 1,
    api,
    wait: opts.wait ?? 1,
    graceMs: opts.graceMs ?? 300,
    backoff: FAST,
    initialTs: opts.initialTs === undefined ? "0" : opts.initialTs,
    signal: controller.signal,
    ...(opts.observer ? { observer: opts.observer } : {}),
  });
  const timer = setTimeout(() => controller.abort(), 15_000);
  try {
    for await (const batch of poller) {
      batches.push(batch);
      opts.onBatch?.(batch);
      if (until(batches.flatMap((b) => b.updates))) break;
    }
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return { batches, updates: batches.flatMap((b) => b.updates) as { n: number }[] };
}

Deno.test("createPoller() yields batches in order and advances ts", async () => {
  await using vk = await startFakeVk();
  vk.push(numberedEvents(0, 250));
  const { batches, updates } = await collect(vk, (u) => u.length >= 250);
  assert.deepEqual(updates.map((u) => u.n), [...Array(250).keys()]);
  assert.deepEqual(batches.map((b) => [b.ts, b.updates.length]), [["100", 100], ["200", 100], [
    "250",
    50,
  ]]);
  assert.deepEqual(vk.pollRequests.map((r) => r.ts), ["0", "100", "200"]);
});

Deno.test("createPoller() starts from initialTs when given one", async () => {
  await using vk = await startFakeVk();
  vk.push(numberedEvents(0, 10));
  const { updates } = await collect(vk, (u) => u.length >= 4, { initialTs: "6" });
  assert.deepEqual(updates.map((u) => u.n), [6, 7, 8, 9]);
});

Deno.test("createPoller() without initialTs starts from VK's current ts", async () => {
  await using vk = await startFakeVk();
  vk.push(numberedEvents(0, 5));
  setTimeout(() => vk.push(numberedEvents(5, 1)), 200);
  const { updates } = await collect(vk, (u) => u.length >= 1, { initialTs: null });
  assert.deepEqual(updates.map((u) => u.n), [5]);
  assert.equal(vk.pollRequests[0]?.ts, "5");
});

Deno.test("createPoller() continues from the answer's ts on failed: 1 and reports lost history", async () => {
  await using vk = await startFakeVk();
  const { seen, observer } = recorder();
  vk.push(numberedEvents(0, 3));
  vk.pollFault([{ failed: 1 }]);
  setTimeout(() => vk.push(numberedEvents(3, 2)), 100);
  const { updates } = await collect(vk, (u) => u.length >= 2, { observer });
  assert.equal(seen.historyLost, 1);
  assert.deepEqual(updates.map((u) => u.n), [3, 4]);
  assert.equal(
    vk.pollRequests[1]?.ts,
    "3",
    "the second poll uses the ts from the failed: 1 answer",
  );
  assert.equal(vk.keysIssued(), 1, "failed: 1 needs no new key");
});

Deno.test("createPoller() fetches a new key and keeps its ts on failed: 2", async () => {
  await using vk = await startFakeVk();
  vk.push(numberedEvents(0, 3));
  let scripted = false;
  const { updates } = await collect(vk, (u) => u.length >= 6, {
    onBatch: () => {
      if (scripted) return;
      scripted = true;
      vk.pollFault([{ failed: 2 }]);
      vk.push(numberedEvents(3, 3));
    },
  });
  assert.deepEqual(updates.map((u) => u.n), [0, 1, 2, 3, 4, 5]);
  assert.equal(vk.keysIssued(), 2);
  const [, failedAt, afterNewKey] = vk.pollRequests;
  assert.equal(failedAt?.ts, "3");
  assert.equal(afterNewKey?.ts, "3", "ts is kept across the new key");
  assert.notEqual(afterNewKey?.key, failedAt?.key);
});

Deno.test("createPoller() fetches a new key and ts on failed: 3", async () => {
  await using vk = await startFakeVk();
  const { seen, observer } = recorder();
  vk.push(numberedEvents(0, 3));
  let scripted = false;
  const { updates } = await collect(vk, (u) => u.some((e) => (e as { n: number }).n === 7), {
    observer,
    onBatch: () => {
      if (scripted) return;
      scripted = true;
      vk.pollFault([{ failed: 3 }]);
      vk.push(numberedEvents(3, 2)); // before the new ts: VK's fresh ts starts after these
      setTimeout(() => vk.push(numberedEvents(5, 3)), 150);
    },
  });
  assert.deepEqual(updates.map((u) => u.n), [0, 1, 2, 5, 6, 7]);
  assert.equal(vk.keysIssued(), 2);
  assert.ok(seen.faults.includes("failed_3"));
  assert.equal(vk.pollRequests.at(-1)?.ts, "5");
});

Deno.test("createPoller() advances ts on answers with empty updates", async () => {
  await using vk = await startFakeVk();
  vk.settings.set(1, { message_new: 1, message_typing_state: 0 });
  vk.push([{ type: "message_typing_state" }, { type: "message_typing_state" }]);
  const { batches } = await collect(vk, () => true);
  assert.deepEqual(batches.map((b) => [b.ts, b.updates.length]), [["2", 0]]);
  vk.push(numberedEvents(2, 1));
  const { updates } = await collect(vk, (u) => u.length > 0, { initialTs: batches[0]!.ts });
  assert.deepEqual(updates.map((u) => u.n), [2]);
});

Deno.test("createPoller() recovers from each poll-server fault without losing or repeating a batch", async (t) => {
  const cases: [string, PollFaultScript, PollFault][] = [
    ["HTTP 500", { status: 500 }, "http"],
    ["HTTP 403", { status: 403 }, "http"],
    ["a hang past wait + grace", "hang", "timeout"],
    ["a reset connection", "reset", "network"],
    ["a body that is not JSON", "garbage", "json"],
    ["a body without ts", "no_ts", "no_ts"],
  ];
  for (const [name, fault, kind] of cases) {
    await t.step(name, async () => {
      await using vk = await startFakeVk();
      const { seen, observer } = recorder();
      vk.push(numberedEvents(0, 3));
      let scripted = false;
      const { updates } = await collect(vk, (u) => u.length >= 6, {
        observer,
        onBatch: () => {
          if (scripted) return;
          scripted = true;
          vk.pollFault([fault, fault]);
          vk.push(numberedEvents(3, 3));
        },
      });
      assert.deepEqual(updates.map((u) => u.n), [0, 1, 2, 3, 4, 5]);
      // Deno's fetch retries by itself a request whose reused connection was reset, so a
      // reset may reach the poller once rather than twice.
      assert.ok(
        seen.faults.length >= 1 && seen.faults.every((f) => f === kind),
        `faults: ${seen.faults}`,
      );
      const [first, ...rest] = vk.pollRequests.map((r) => r.ts);
      assert.equal(first, "0");
      assert.deepEqual(rest, ["3", "3", "3"], "the same ts is retried until it succeeds");
    });
  }
});

Deno.test("createPoller() refetches the poll server, keeping ts, after repeated failures", async () => {
  await using vk = await startFakeVk();
  vk.push(numberedEvents(0, 2));
  let scripted = false;
  const { updates } = await collect(vk, (u) => u.length >= 4, {
    onBatch: () => {
      if (scripted) return;
      scripted = true;
      vk.pollFault(Array(5).fill({ status: 502 }));
      vk.push(numberedEvents(2, 2));
    },
  });
  assert.deepEqual(updates.map((u) => u.n), [0, 1, 2, 3]);
  assert.equal(vk.keysIssued(), 2, "a new server after five failures");
  assert.deepEqual(new Set(vk.pollRequests.slice(1).map((r) => r.ts)), new Set(["2"]));
});

Deno.test("createPoller() stops with a clear error on VK error 5 (bad token)", async () => {
  await using vk = await startFakeVk({ tokens: { 1: "another-token" } });
  const { seen, observer } = recorder();
  const error = await collect(vk, () => true, { observer }).then(() => null, (e) => e);
  assert.ok(error instanceof VkFatalError, `expected VkFatalError, got ${error}`);
  assert.match(error.message, /error 5 .*token is invalid/);
  assert.doesNotMatch(error.message, /test-token/);
  assert.ok(seen.states.includes("fatal"));
  assert.equal(vk.calls.get("groups.getLongPollServer"), 1, "no retry of a fatal error");
});

Deno.test("createPoller() retries getLongPollServer on API errors 6 and 10", async () => {
  await using vk = await startFakeVk();
  vk.apiFault("groups.getLongPollServer", [{ error_code: 6 }, { error_code: 10 }, { status: 502 }]);
  vk.push(numberedEvents(0, 1));
  const { updates } = await collect(vk, (u) => u.length >= 1);
  assert.deepEqual(updates.map((u) => u.n), [0]);
  assert.equal(vk.calls.get("groups.getLongPollServer"), 4);
});

Deno.test("createPoller() continues with a handed-over key, and fetches a new one only when VK says so", async () => {
  await using vk = await startFakeVk();
  const api = createVkApi({ token: "test-token", apiUrl: vk.apiUrl, backoff: FAST });
  // The previous holder's key, as it kept it in the store.
  const kept = decodePollServer(
    encodePollServer(await api.call("groups.getLongPollServer", { group_id: 1 }), Date.now()),
    Date.now(),
  );
  vk.push(numberedEvents(0, 3));
  vk.pollFault([{ failed: 2 }]);
  const controller = new AbortController();
  const fetched: string[] = [];
  const seen: unknown[] = [];
  for await (
    const batch of createPoller({
      groupId: 1,
      api,
      wait: 1,
      backoff: FAST,
      initialTs: "0",
      initialServer: kept,
      onServer: (server) => (fetched.push(server.key), Promise.resolve()),
      signal: controller.signal,
    })
  ) {
    seen.push(...batch.updates);
    if (seen.length >= 3) break;
  }
  controller.abort();
  const [first, second] = vk.pollRequests;
  assert.equal(first!.key, kept!.key, "the first poll used the handed-over key");
  assert.equal(second!.ts, "0", "after failed: 2, the same ts with a new key");
  assert.deepEqual(fetched, [second!.key], "one new key, handed on");
  assert.equal(vk.keysIssued(), 2);
  assert.equal(seen.length, 3);
  assert.equal(decodePollServer(encodePollServer(kept!, Date.now() - 3_600_001), Date.now()), null);
});
