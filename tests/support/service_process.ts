/**
 * Runs the real service as `deno task start` does (the same permission flags, read from
 * deno.json), in a temporary working directory with only the environment a test gives.
 * @module
 */
import { taskCommand } from "./tasks.ts";

const ROOT = new URL("../../", import.meta.url);
const ROOT_PATH = decodeURIComponent(ROOT.pathname);

/**
 * The `deno run` flags of the `start` task for a service with `env` in `cwd`: its `$(…)`
 * (the path permissions) is run and spliced in as `deno task` does.
 */
export async function startTaskFlags(
  env: Record<string, string> = {},
  cwd: string = ROOT_PATH,
): Promise<string[]> {
  let task = await taskCommand("start");
  const substitution = /\$\(([^)]*)\)/.exec(task);
  if (substitution) {
    const [program, ...args] = substitution[1]!.trim().split(/\s+/);
    if (program !== "deno") throw new Error(`Unexpected start task: ${task}`);
    const output = await new Deno.Command(Deno.execPath(), {
      args: args.map((a) => a.endsWith(".ts") ? `${ROOT_PATH}${a}` : a),
      cwd,
      env: { ...denoEnv(), ...env },
      clearEnv: true,
      stderr: "inherit",
    }).output();
    if (!output.success) throw new Error(`The start task's ${substitution[0]} failed`);
    task = task.replace(substitution[0], new TextDecoder().decode(output.stdout));
  }
  const words = task.split(/\s+/).filter(Boolean);
  assertStartTask(words);
  return words.slice(2, -1);
}

/** What Deno itself needs from the environment. */
/** What a child Deno needs of this environment (PATH, HOME, its cache and temp dirs). */
export function denoEnv(): Record<string, string> {
  const inherited: Record<string, string> = {};
  for (const name of ["PATH", "HOME", "DENO_DIR", "TMPDIR"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) inherited[name] = value;
  }
  return inherited;
}

function assertStartTask(words: string[]) {
  if (words[0] !== "deno" || words[1] !== "run" || words.at(-1) !== "src/main.ts") {
    throw new Error(`Unexpected start task: ${words.join(" ")}`);
  }
}

/** A running service process whose output is captured. */
export interface ServiceProcess extends AsyncDisposable {
  child: Deno.ChildProcess;
  /** Everything printed so far (stdout and stderr). */
  output(): string;
  /** Resolves with the exit code. */
  exited: Promise<number>;
  /** Sends a signal and waits for the exit code. */
  stop(signal?: Deno.Signal): Promise<number>;
  /** The status page's base URL, once the service logged it. */
  url(): Promise<string>;
}

/**
 * Spawns the service with `env` (nothing inherited but what Deno itself needs); with
 * `maxOpenFiles`, under that file descriptor limit (`ulimit -n`, through bash).
 */
export async function spawnService(
  env: Record<string, string>,
  cwd?: string,
  maxOpenFiles?: number,
): Promise<ServiceProcess> {
  const dir = cwd ?? await Deno.makeTempDir({ prefix: "vk-router-test-" });
  // PORT 0 unless a test asks for one: a free port, never whatever else listens on 8080.
  const fullEnv = { ...denoEnv(), NO_COLOR: "1", LOG_FORMAT: "json", PORT: "0", ...env };
  const deno = [
    Deno.execPath(),
    "run",
    ...await startTaskFlags(fullEnv, dir),
    "--config",
    `${ROOT_PATH}deno.json`,
    `${ROOT_PATH}src/main.ts`,
  ];
  const [program, ...args] = maxOpenFiles === undefined
    ? deno
    : ["bash", "-c", `ulimit -n ${maxOpenFiles} && exec "$@"`, "bash", ...deno];
  const child = new Deno.Command(program!, {
    args,
    cwd: dir,
    env: fullEnv,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const decoder = new TextDecoder();
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) text += decoder.decode(chunk, { stream: true });
  };
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)]);
  const exited = child.status.then(async (s) => {
    await drained;
    return s.code;
  });
  const stop = async (signal: Deno.Signal = "SIGTERM") => {
    try {
      child.kill(signal);
    } catch { /* already exited */ }
    return await exited;
  };
  const url = async () => {
    for (let i = 0; i < 500; i++) {
      const match = /"url":"(http:\/\/[^"]+)"/.exec(text);
      if (match) return match[1]!;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`The service logged no status page URL:\n${text}`);
  };
  return {
    child,
    output: () => text,
    exited,
    stop,
    url,
    async [Symbol.asyncDispose]() {
      await stop("SIGKILL");
      if (!cwd) await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
