/**
 * Runs `deno task bench` (`bench/run.ts`) as a user does, against the test Redis
 * (`BENCH_REDIS_URL`), with a `REDIS_URL` that nothing answers: a part that reached for
 * it instead would fail.
 * @module
 */
import { TEST_REDIS_URL } from "./redis.ts";
import { taskCommand } from "./tasks.ts";

/** The bench's exit code and what it printed on stderr. */
export async function runBench(args: string[]): Promise<{ code: number; stderr: string }> {
  const [program, ...taskArgs] = (await taskCommand("bench")).split(/\s+/);
  if (program !== "deno") throw new Error("The bench task no longer runs deno");
  const root = new URL("../../", import.meta.url);
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [...taskArgs, ...args],
    cwd: root,
    env: { BENCH_REDIS_URL: TEST_REDIS_URL, REDIS_URL: "redis://127.0.0.1:1" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  return { code, stderr: new TextDecoder().decode(stderr) };
}
