// deno-lint-ignore-file no-console -- a script that prints its results
import process from "node:process";
/**
 * Soak check for the long-poll loop: many empty polls in a row against the fake VK, with
 * heap, RSS and CPU time sampled along the way. Flat figures mean the loop leaks nothing
 * per poll. Usage: deno run -A bench/soak_empty_polls.ts [polls]
 * @module
 */
import { createVkApi } from "../src/vk/api.ts";
import { createPoller } from "../src/vk/long_poll.ts";
import { startFakeVk } from "../tests/support/fake_vk.ts";

const polls = Number(Deno.args[0] ?? 20_000);
await using vk = await startFakeVk({ maxHoldMs: 1 });
const controller = new AbortController();
const poller = createPoller({
  groupId: 1,
  api: createVkApi({ token: "test-token", apiUrl: vk.apiUrl }),
  wait: 1,
  initialTs: "0",
  signal: controller.signal,
});

const samples: { polls: number; heapMb: number; rssMb: number; cpuMsPerPoll: number }[] = [];
let count = 0;

let lastCpuUsage = process.cpuUsage();
for await (const _batch of poller) {
  count++;
  vk.pollRequests.length = 0; // the fake records every poll; keep its memory out of the figures
  if (count % (polls / 10) === 0) {
    (globalThis as { gc?: () => void }).gc?.();
    const mem = Deno.memoryUsage();
    const cpu = process.cpuUsage(lastCpuUsage);
    lastCpuUsage = process.cpuUsage();
    samples.push({
      polls: count,
      heapMb: +(mem.heapUsed / 2 ** 20).toFixed(1),
      rssMb: +(mem.rss / 2 ** 20).toFixed(1),
      cpuMsPerPoll: +((cpu.user + cpu.system) / 1000 / (polls / 10)).toFixed(3),
    });
  }
  if (count >= polls) break;
}
controller.abort();
console.table(samples);
