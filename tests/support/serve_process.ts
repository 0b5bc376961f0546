/**
 * The serverless worker as `deno task serve` runs it (the task's own flags), for tests.
 * @module
 */
import assert from "node:assert/strict";
import { taskCommand } from "./tasks.ts";
import { waitFor } from "./wait.ts";
import { denoEnv } from "./service_process.ts";

const ROOT = decodeURIComponent(new URL("../../", import.meta.url).pathname);

/** A `deno serve` of the worker whose output is captured. */
export interface WorkerProcess extends AsyncDisposable {
  child: Deno.ChildProcess;
  exited: Promise<number>;
  output(): string;
  /** The listening URL, once deno serve printed it. */
  url(): Promise<string>;
}

/** `deno serve` with the `serve` task's flags, on `port` (a free one by default), in `cwd`. */
export async function serveWorker(
  env: Record<string, string>,
  cwd: string,
  port = "0",
): Promise<WorkerProcess> {
  const task = await taskCommand("serve");
  const words = task.split(/\s+/);
  assert.deepEqual(words.slice(0, 2), ["deno", "serve"]);
  const flags = words.slice(2, -1).map((w, i, all) => all[i - 1] === "--port" ? port : w);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["serve", ...flags, "--config", `${ROOT}deno.json`, `${ROOT}src/worker.ts`],
    cwd,
    env: { ...denoEnv(), NO_COLOR: "1", ...env },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const decoder = new TextDecoder();
  const drained = Promise.all([child.stdout, child.stderr].map(async (stream) => {
    for await (const chunk of stream) output += decoder.decode(chunk, { stream: true });
  }));
  const exited = child.status.then(async (s) => (await drained, s.code));
  return {
    child,
    exited,
    output: () => output,
    async url() {
      await waitFor(
        () => /Listening on http:\/\/[^\s/]+/.test(output) || output.includes("error"),
        "deno serve to listen",
        20_000,
      );
      const match = /Listening on (http:\/\/[^\s/]+)/.exec(output);
      if (!match) throw new Error(`deno serve did not start:\n${output}`);
      return match[1]!;
    },
    async [Symbol.asyncDispose]() {
      try {
        child.kill("SIGTERM");
      } catch { /* exited */ }
      await exited;
    },
  };
}
