/**
 * Runs one of `examples/` as its doc says (`deno run --allow-net --allow-env`), so a test
 * sees what a user would: the lines it prints, and how it ends on SIGTERM.
 * @module
 */

/** A running example. */
export interface ExampleProcess {
  /** The lines printed to stdout so far. */
  lines(): string[];
  /** Sends SIGTERM and waits: the exit code and everything printed to stderr. */
  stop(): Promise<{ code: number; stderr: string }>;
}

/** Starts `examples/<name>` with only `env` (and what Deno needs, which it inherits). */
export function runExample(name: string, env: Record<string, string>): ExampleProcess {
  const example = new URL(`../../examples/${name}`, import.meta.url);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-env", example.pathname],
    env,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  const reading = (async () => {
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) out += chunk;
  })();
  return {
    lines: () => out.split("\n").filter(Boolean),
    async stop() {
      child.kill("SIGTERM");
      const [status, stderr] = await Promise.all([
        child.status,
        new Response(child.stderr).text(),
        reading,
      ]);
      return { code: status.code, stderr };
    },
  };
}
