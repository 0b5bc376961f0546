/**
 * The command line of a `deno.json` task, whichever form the task takes (a string, or the
 * object form with a `description`), so tests run exactly what `deno task` runs.
 * @module
 */

const CONFIG = new URL("../../deno.json", import.meta.url);

/** A task as `deno.json` may write it. */
type Task = string | { command: string; description?: string };

/** The command of task `name` in `deno.json`; throws when there is none. */
export async function taskCommand(name: string): Promise<string> {
  const tasks: Record<string, Task> = JSON.parse(await Deno.readTextFile(CONFIG)).tasks ?? {};
  const task = tasks[name];
  if (task === undefined) throw new Error(`deno.json has no task ${name}`);
  return typeof task === "string" ? task : task.command;
}
