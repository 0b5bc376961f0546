// deno-lint-ignore-file no-console -- the profiler prints its tables
/**
 * CPU and heap profiles of the router under the end-to-end benchmark's load
 * (`bench/e2e.ts`: the same fake VK, workload, warm-up and routes file). `deno run` has no
 * `--cpu-prof` in Deno 2.9, and `--v8-flags=--prof` needs V8's own log processor, so the
 * profiles come over the inspector protocol: the router starts with `--inspect-wait` on a
 * free loopback port, this process connects, starts V8's sampling CPU profiler and its
 * sampling heap profiler as the events are about to be served, and stops them once every
 * event arrived. The heap profile keeps the objects collected since (what was allocated,
 * not what survived): the garbage a stage makes per event.
 *
 * Usage: deno run -A bench/profile.ts [--batch 100] [--events 100000] [--top 20]
 *   [--save DIR] [--baseline TREE]
 * `--save DIR` keeps `router.cpuprofile` and `router.heapprofile` (open them in DevTools);
 * `--baseline TREE` profiles another checkout's router instead.
 * Needs a Redis it may write to in `BENCH_REDIS_URL`, as every part of the benchmark.
 * @module
 */
import { parseArgs } from "node:util";
import { benchRedisUrl } from "./bench_env.ts";
import { eventsFor, run } from "./e2e.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    batch: { type: "string", default: "100" },
    events: { type: "string" },
    top: { type: "string", default: "20" },
    save: { type: "string" },
    baseline: { type: "string" },
  },
});
const BATCH = Number(values.batch);
const EVENTS = Number(values.events ?? eventsFor("router", BATCH, false));
const TOP = Number(values.top);
const REDIS_URL = benchRedisUrl();
const ROOT_PATH = decodeURIComponent(new URL("../", import.meta.url).pathname);

/** A V8 call frame, as the inspector protocol gives it. */
interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface CpuProfile {
  nodes: { id: number; callFrame: CallFrame; hitCount?: number; children?: number[] }[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

interface HeapNode {
  callFrame: CallFrame;
  selfSize: number;
  children: HeapNode[];
}

/** A minimal inspector-protocol client over the router's WebSocket. */
class Inspector {
  readonly #socket: WebSocket;
  readonly #pending = new Map<number, (message: Record<string, unknown>) => void>();
  #id = 0;

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.onmessage = (e) => {
      const message = JSON.parse(e.data as string);
      this.#pending.get(message.id)?.(message);
      this.#pending.delete(message.id);
    };
  }

  static async connect(port: number): Promise<Inspector> {
    for (let i = 0;; i++) {
      try {
        const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
        const socket = new WebSocket(targets[0].webSocketDebuggerUrl);
        await new Promise((resolve, reject) => {
          socket.onopen = resolve;
          socket.onerror = reject;
        });
        return new Inspector(socket);
      } catch (error) {
        if (i > 500) throw error;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }

  async send<T = unknown>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = ++this.#id;
    const answer = new Promise<Record<string, unknown>>((r) => this.#pending.set(id, r));
    this.#socket.send(JSON.stringify({ id, method, params }));
    const message = await answer;
    if (message.error) throw new Error(`${method}: ${JSON.stringify(message.error)}`);
    return message.result as T;
  }

  close(): void {
    this.#socket.close();
  }
}

/** `functionName file:line`, the file relative to the repository or the npm package's. */
function frameName({ functionName, url, lineNumber }: CallFrame): string {
  if (!url) return functionName || "(anonymous)";
  const file = url.replace(`file://${ROOT_PATH}`, "")
    .replace(/^.*\/node_modules\/(?:\.deno\/[^/]+\/node_modules\/)?/, "npm:")
    .replace(/^.*\/registry\.npmjs\.org\//, "npm:");
  return `${functionName || "(anonymous)"} ${file}:${lineNumber + 1}`;
}

/** Where a frame's code lives: the router's own, an npm package, Deno's runtime, V8. */
function category({ functionName, url }: CallFrame): string {
  if (!url) return functionName.startsWith("(") ? functionName : "(native)";
  if (url.startsWith(`file://${ROOT_PATH}src/`)) return "router src/";
  const npm = /(?:registry\.npmjs\.org|node_modules)\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (npm) return `npm:${npm[1]}`;
  if (url.startsWith("ext:") || url.startsWith("node:")) {
    return url.replace(/^(ext:[^/]+|node:[^/]+).*/, "$1");
  }
  return url;
}

const pct = (part: number, whole: number) => `${(100 * part / whole).toFixed(1).padStart(5)} %`;

/** Self and total time per function, and self time per category. */
function summariseCpu(profile: CpuProfile, events: number): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const categories = new Map<string, number>();
  let all = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i + 1] ?? 0;
    all += dt;
    const node = byId.get(id)!;
    const name = frameName(node.callFrame);
    self.set(name, (self.get(name) ?? 0) + dt);
    const cat = category(node.callFrame);
    categories.set(cat, (categories.get(cat) ?? 0) + dt);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const n = frameName(byId.get(at)!.callFrame);
      if (seen.has(n)) continue;
      seen.add(n);
      total.set(n, (total.get(n) ?? 0) + dt);
    }
  });
  const busy = all - (categories.get("(idle)") ?? 0);
  const top = (m: Map<string, number>, n: number, skip: (k: string) => boolean = () => false) =>
    [...m].filter(([k]) => !skip(k)).sort((a, b) => b[1] - a[1]).slice(0, n);
  const usPerEvent = (us: number) => `${(us / events).toFixed(2).padStart(6)} µs/event`;
  return [
    `CPU: ${(all / 1e6).toFixed(2)} s profiled, ${(busy / 1e6).toFixed(2)} s busy (${
      usPerEvent(busy).trim()
    }); shares are of busy time`,
    "",
    "By where the code lives (self time):",
    ...top(categories, 15, (k) => k === "(idle)").map(([k, us]) =>
      `  ${pct(us, busy)}  ${usPerEvent(us)}  ${k}`
    ),
    "",
    `Top ${TOP} functions by self time:`,
    ...top(self, TOP, (k) => k === "(idle)").map(([k, us]) =>
      `  ${pct(us, busy)}  ${usPerEvent(us)}  ${k}`
    ),
    "",
    `Top ${TOP} of the router's own functions by total time (callees included):`,
    ...top(total, TOP, (k) => !k.includes(" src/")).map(([k, us]) =>
      `  ${pct(us, busy)}  ${usPerEvent(us)}  ${k}`
    ),
  ].join("\n");
}

/** Bytes allocated per function (self) and per category, per event. */
function summariseHeap(head: HeapNode, events: number): string {
  const self = new Map<string, number>();
  const categories = new Map<string, number>();
  let all = 0;
  const walk = (node: HeapNode) => {
    if (node.selfSize > 0) {
      const name = frameName(node.callFrame);
      self.set(name, (self.get(name) ?? 0) + node.selfSize);
      const cat = category(node.callFrame);
      categories.set(cat, (categories.get(cat) ?? 0) + node.selfSize);
      all += node.selfSize;
    }
    for (const c of node.children) walk(c);
  };
  walk(head);
  const top = (m: Map<string, number>, n: number) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n);
  const perEvent = (bytes: number) => `${(bytes / events).toFixed(0).padStart(6)} B/event`;
  return [
    `Allocated (sampled, collected objects included): ${(all / 2 ** 20).toFixed(0)} MB, ${
      perEvent(all).trim()
    }`,
    "",
    "By where the code lives:",
    ...top(categories, 12).map(([k, b]) => `  ${pct(b, all)}  ${perEvent(b)}  ${k}`),
    "",
    `Top ${TOP} allocating functions (self):`,
    ...top(self, TOP).map(([k, b]) => `  ${pct(b, all)}  ${perEvent(b)}  ${k}`),
  ].join("\n");
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

interface HeapUsage {
  usedSize: number;
  totalSize: number;
}

const port = freePort();
let inspector: Inspector | null = null;
let cpu: CpuProfile | null = null;
let heap: HeapNode | null = null;
const usage: Record<string, HeapUsage> = {};
const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MB`;
const heapNow = async (when: string) => {
  await inspector!.send("HeapProfiler.collectGarbage");
  usage[when] = await inspector!.send<HeapUsage>("Runtime.getHeapUsage");
};

const row = await run(values.baseline ? "baseline" : "router", BATCH, EVENTS, {
  redisUrl: REDIS_URL,
  ...(values.baseline ? { baseline: values.baseline.replace(/\/$/, "") } : {}),
  hooks: {
    flags: [`--inspect-wait=127.0.0.1:${port}`],
    spawned: async () => {
      inspector = await Inspector.connect(port);
      await inspector.send("Profiler.enable");
      await inspector.send("HeapProfiler.enable");
      await inspector.send("Runtime.runIfWaitingForDebugger");
    },
    loading: async () => {
      await heapNow("idle");
      await inspector!.send("Profiler.setSamplingInterval", { interval: 250 });
      await inspector!.send("Profiler.start");
      await inspector!.send("HeapProfiler.startSampling", {
        samplingInterval: 16_384,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: true,
      });
    },
    loaded: async () => {
      cpu = (await inspector!.send<{ profile: CpuProfile }>("Profiler.stop")).profile;
      heap = (await inspector!.send<{ profile: { head: HeapNode } }>("HeapProfiler.stopSampling"))
        .profile.head;
      await heapNow("loaded");
      inspector!.close();
    },
  },
});
// The warm-up events are profiled too.
const profiled = EVENTS + 2_000;
console.log(
  `Router under the e2e load, batch ${BATCH}: ${EVENTS} measured events (+2,000 warm-up), ${
    row.events_per_s.toFixed(0)
  } events/s with the profilers on, p99 ${row.p99_warm_added_latency_ms.toFixed(1)} ms warm`,
);
console.log(
  `Memory: RSS idle ${row.idle_rss_mb.toFixed(0)} MB, peak ${
    row.peak_rss_mb.toFixed(0)
  } MB; V8 heap after a full GC: idle ${mb(usage.idle!.usedSize)} used of ${
    mb(usage.idle!.totalSize)
  }, after the load ${mb(usage.loaded!.usedSize)} used of ${mb(usage.loaded!.totalSize)}\n`,
);
console.log(summariseCpu(cpu!, profiled));
console.log();
console.log(summariseHeap(heap!, profiled));
if (values.save) {
  await Deno.mkdir(values.save, { recursive: true });
  await Deno.writeTextFile(`${values.save}/router.cpuprofile`, JSON.stringify(cpu));
  await Deno.writeTextFile(`${values.save}/router.heapprofile`, JSON.stringify({ head: heap }));
}
