/**
 * Leaves stay leaves: the modules of `src/` form layers, and an import (type imports
 * included) only ever goes to the module's own layer or a lower one, and never round in a
 * cycle. Read from the module graph that `deno info --json` reports for every module of
 * `src/` (the kinds' tests and harnesses aside), so a new module is checked too.
 *
 * The layers, lowest first. A path ending in `/` is a folder; the longest match places a
 * module.
 *
 * | layer            | modules                                                             |
 * |------------------|---------------------------------------------------------------------|
 * | 0 leaves         | `util/`, `errors.ts`, `redact.ts`                                   |
 * | 1 clients, model | `redis/`, `vk/`, `events/`, `route/`                                |
 * | 2 contract, state| `deliver/types.ts`, `deliver/signing.ts`, `deliver/kinds/kind.ts`, `store/`, `status/` |
 * | 3 kinds          | `deliver/kinds/` (each kind, its connection, the registry)          |
 * | 4 configuration  | `config/`                                                           |
 * | 5 stages         | `ingest/`, `enrich/`, `lease/`, `deliver/`, `vk/settings_check.ts`  |
 * | 6 flow           | `pipeline.ts`, `replay.ts`, `workbench.ts`                          |
 * | 7 faces          | `http/`, `status/status.ts`, `status/observer.ts`                   |
 * | 8 composition    | `router.ts`, `service.ts`, `worker/`, `worker.ts`, `main.ts`, `mod.ts`, `logging.ts`, `start_permissions.ts`, `start_failure.ts` |
 *
 * Why this order: the contract a kind implements and the state it reports to sit below the
 * kinds; the configuration parses into the kinds' and rules' own types, so it sits above
 * them; the stages run on the configuration; the pipeline and replay join the stages; the
 * HTTP face, the service's status and the observer show them; only the composition root knows everything.
 */
import assert from "node:assert/strict";
import { isTestSource } from "../scripts/production_deps.ts";

/** The layer table above, lowest first. */
export const LAYERS: readonly (readonly [name: string, paths: readonly string[]])[] = [
  ["leaves", ["util/", "errors.ts", "redact.ts"]],
  ["clients and model", ["redis/", "vk/", "events/", "route/"]],
  ["contract and state", [
    "deliver/types.ts",
    "deliver/signing.ts",
    "deliver/kinds/kind.ts",
    "store/",
    "status/",
  ]],
  ["kinds", ["deliver/kinds/"]],
  ["configuration", ["config/"]],
  ["stages", ["ingest/", "enrich/", "lease/", "deliver/", "vk/settings_check.ts"]],
  ["flow", ["pipeline.ts", "replay.ts", "workbench.ts"]],
  ["faces", ["http/", "status/status.ts", "status/observer.ts"]],
  ["composition", [
    "router.ts",
    "service.ts",
    "worker/",
    "worker.ts",
    "main.ts",
    "mod.ts",
    "logging.ts",
    "start_permissions.ts",
    "start_failure.ts",
  ]],
];

const ROOT = new URL("../", import.meta.url);
const SRC = new URL("src/", ROOT);

/** The layer of a module (a path under `src/`): the index of its longest matching entry. */
export function layerOf(path: string): number {
  let best = { layer: -1, length: -1 };
  LAYERS.forEach(([, paths], layer) => {
    for (const p of paths) {
      const hit = p.endsWith("/") ? path.startsWith(p) : path === p;
      if (hit && p.length > best.length) best = { layer, length: p.length };
    }
  });
  return best.layer;
}

/** Every module of `src/` but tests and test harnesses, as paths under `src/`. */
async function sourceModules(dir = SRC, base = ""): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = `${base}${entry.name}`;
    if (entry.isDirectory) {
      found.push(...await sourceModules(new URL(`${entry.name}/`, dir), `${path}/`));
    } else if (/\.tsx?$/.test(entry.name) && !isTestSource(entry.name)) found.push(path);
  }
  return found;
}

/** Imports between modules of `src/` (type imports included), from `deno info --json`. */
export async function moduleGraph(): Promise<Map<string, Set<string>>> {
  const modules = await sourceModules();
  // One entry that imports every module, so that one `deno info` reads the whole graph.
  const dir = await Deno.makeTempDir();
  try {
    const entry = `${dir}/all.ts`;
    await Deno.writeTextFile(
      entry,
      modules.map((m) => `import ${JSON.stringify(new URL(m, SRC).href)};\n`).join(""),
    );
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", "--config", new URL("deno.json", ROOT).pathname, entry],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    const graph = JSON.parse(new TextDecoder().decode(stdout)) as {
      modules: {
        specifier: string;
        dependencies?: { code?: { specifier: string }; type?: { specifier: string } }[];
      }[];
    };
    const edges = new Map<string, Set<string>>();
    const local = (specifier: string | undefined) =>
      specifier?.startsWith(SRC.href) && /\.tsx?$/.test(specifier)
        ? specifier.slice(SRC.href.length)
        : null;
    for (const m of graph.modules) {
      const from = local(m.specifier);
      if (from === null) continue;
      const to = new Set<string>();
      for (const d of m.dependencies ?? []) {
        for (const target of [local(d.code?.specifier), local(d.type?.specifier)]) {
          if (target !== null) to.add(target);
        }
      }
      edges.set(from, to);
    }
    return edges;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Imports that go to a higher layer, one line each. */
export function upwardImports(edges: ReadonlyMap<string, ReadonlySet<string>>): string[] {
  const name = (layer: number) => `${layer} ${LAYERS[layer]?.[0] ?? "(no layer)"}`;
  return [...edges].flatMap(([from, targets]) =>
    [...targets].filter((to) => layerOf(to) > layerOf(from)).map((to) =>
      `src/${from} (layer ${name(layerOf(from))}) imports src/${to} (layer ${name(layerOf(to))})`
    )
  );
}

/** The import cycles (strongly connected components of more than one module). */
export function importCycles(edges: ReadonlyMap<string, ReadonlySet<string>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1) cycles.push(component.sort());
  };
  for (const v of edges.keys()) if (!index.has(v)) visit(v);
  return cycles;
}

/** For a cycle, its imports that stay inside it: what to cut. */
function cycleImports(cycle: readonly string[], edges: ReadonlyMap<string, ReadonlySet<string>>) {
  const inside = new Set(cycle);
  return cycle.flatMap((from) =>
    [...edges.get(from) ?? []].filter((to) => inside.has(to)).map((to) => `${from} -> ${to}`)
  );
}

Deno.test("every module of src/ has a layer", async () => {
  const unplaced = (await sourceModules()).filter((m) => layerOf(m) < 0);
  assert.deepEqual(unplaced, [], "add these to the layer table");
});

Deno.test("no module of src/ imports from a higher layer, nor round in a cycle", async () => {
  const edges = await moduleGraph();
  assert.ok(edges.size > 50, `the graph was read: ${edges.size} modules`);
  assert.ok(edges.get("router.ts")?.has("pipeline.ts"), "imports were read");
  const cycles = importCycles(edges).map((c) =>
    `cycle of ${c.length} modules: ${cycleImports(c, edges).join(", ")}`
  );
  assert.deepEqual([...upwardImports(edges), ...cycles], []);
});

Deno.test("the checks find an upward import and a cycle", () => {
  const edges = new Map([
    ["util/time.ts", new Set(["config/config.ts"])],
    ["config/config.ts", new Set(["util/time.ts"])],
  ]);
  assert.deepEqual(upwardImports(edges), [
    "src/util/time.ts (layer 0 leaves) imports src/config/config.ts (layer 4 configuration)",
  ]);
  assert.deepEqual(importCycles(edges), [["config/config.ts", "util/time.ts"]]);
});
