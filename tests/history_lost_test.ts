/**
 * `failed: 1` is an alarm only when the router could have lost something: after it resumed
 * from a checkpoint or took a batch, not when VK's own fresh ts is stale on a first connection.
 */
import assert from "node:assert/strict";
import { createVkApi } from "../src/vk/api.ts";
import { createPoller, type PollObserver } from "../src/vk/long_poll.ts";
import { ServiceStatus } from "../src/status/status.ts";
import { type FakeVk, startFakeVk } from "./support/fake_vk.ts";
import { numberedEvents } from "./support/raw_events.ts";
import { waitFor } from "./support/wait.ts";

const FAST = { minMs: 5, maxMs: 20 };

/** Pushes `events` once the fake has seen `polls` long polls (so VK's ts is set before them). */
function pushAfterPolls(vk: FakeVk, polls: number, events: unknown[]): Promise<void> {
  return waitFor(() => (vk.calls.get("a_check") ?? 0) >= polls, `${polls} polls`)
    .then(() => vk.push(events));
}

/** Polls with a real ServiceStatus as the observer until `count` updates arrived. */
async function pollInto(vk: FakeVk, initialTs: string | null, count: number, onBatch = () => {}) {
  const status = new ServiceStatus([1], true);
  const observer: PollObserver = status;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 15_000);
  let received = 0;
  try {
    for await (
      const batch of createPoller({
        groupId: 1,
        api: createVkApi({ token: "test-token", apiUrl: vk.apiUrl, backoff: FAST }),
        wait: 1,
        graceMs: 300,
        backoff: FAST,
        initialTs,
        observer,
        signal: controller.signal,
      })
    ) {
      received += batch.updates.length;
      onBatch();
      if (received >= count) break;
    }
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return status;
}

Deno.test("failed: 1 on a first connection's own ts is no alarm: nothing could be lost", async () => {
  await using vk = await startFakeVk();
  vk.push(numberedEvents(0, 3));
  vk.pollFault([{ failed: 1 }]);
  const pushed = pushAfterPolls(vk, 2, numberedEvents(3, 2));
  const status = await pollInto(vk, null, 2);
  await pushed;
  assert.equal(vk.calls.get("a_check"), 2, "the stale ts was answered with failed: 1");
  assert.equal(status.communities.get(1)!.historyLost, 0);
  assert.deepEqual(status.recentErrors, []);
});

Deno.test("failed: 1 after resuming from a checkpoint is an alarm", async () => {
  await using vk = await startFakeVk();
  vk.push(numberedEvents(0, 3));
  vk.pollFault([{ failed: 1 }]);
  const pushed = pushAfterPolls(vk, 2, numberedEvents(3, 2));
  const status = await pollInto(vk, "1", 2);
  await pushed;
  assert.equal(status.communities.get(1)!.historyLost, 1);
  assert.match(status.recentErrors[0]!.message, /failed: 1.*events may have been lost/);
});

Deno.test("failed: 1 after a batch of this run is an alarm, even when the run began without a checkpoint", async () => {
  await using vk = await startFakeVk();
  let batches = 0;
  let pushed = pushAfterPolls(vk, 1, numberedEvents(0, 1));
  const status = await pollInto(vk, null, 2, () => {
    if (++batches !== 1) return;
    vk.pollFault([{ failed: 1 }]);
    pushed = pushAfterPolls(vk, 3, numberedEvents(1, 1));
  });
  await pushed;
  assert.equal(status.communities.get(1)!.historyLost, 1);
  assert.equal(status.recentErrors.length, 1);
});
