/**
 * The module graph of an entry point, as `deno info` reports it: what a cold start loads.
 * @module
 */

const ROOT_PATH = decodeURIComponent(new URL("../", import.meta.url).pathname);

/** What `deno info` says of an entry point. */
export interface ModuleGraph {
  /** Unique dependencies, npm packages included (`deno info`'s count). */
  dependencies: number;
  /** Total size of the graph, as `deno info` prints it (e.g. `5.97MB`). */
  size: string;
  /** Modules of this repository in the graph. */
  local_modules: number;
  local_bytes: number;
  /** The npm packages the graph reaches, `name@version`. */
  npm_packages: string[];
}

/** Runs `deno info` on `entry` (a path from the repository's root). */
export async function moduleGraph(entry: string): Promise<ModuleGraph> {
  const run = async (args: string[]) => {
    const { stdout, code } = await new Deno.Command(Deno.execPath(), {
      args: ["info", ...args, "--config", `${ROOT_PATH}deno.json`, `${ROOT_PATH}${entry}`],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "null",
    }).output();
    if (code !== 0) throw new Error(`deno info ${[...args, entry].join(" ")} failed`);
    return new TextDecoder().decode(stdout);
  };
  const text = await run([]);
  const json = JSON.parse(await run(["--json"])) as {
    modules: { local?: string; size?: number; npmPackage?: string }[];
  };
  // npmPackages lists the whole lock file's resolution; modules are what the graph reaches.
  const reached = new Set(
    json.modules.flatMap((m) => m.npmPackage ? [m.npmPackage.replace(/_.*$/, "")] : []),
  );
  const local = json.modules.filter((m) => m.local?.startsWith(ROOT_PATH));
  return {
    dependencies: Number(/dependencies:\s*(\d+)/.exec(text)?.[1]),
    size: /size:\s*(\S+)/.exec(text)?.[1] ?? "?",
    local_modules: local.length,
    local_bytes: local.reduce((n, m) => n + (m.size ?? 0), 0),
    npm_packages: [...reached].sort(),
  };
}
