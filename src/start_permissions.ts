// deno-lint-ignore-file no-console -- a script whose output is the flags it prints
/**
 * Prints the `deno run` flags that grant the service exactly the paths it is configured
 * with: read access to `ROUTES_FILE`, read and write access to `DATA_DIR` and `LOG_DIR`.
 * `deno task start` and the Docker image splice its output into their command line
 * (`$(…)`), so a routes file mounted at `/etc/vk-router/routes.json` works while every
 * other path outside the working directory stays closed. It runs for a moment before the
 * service and is gone, so nothing stays resident and signals reach the service directly.
 * @module
 */
import { mergeEnv, parseDotEnv } from "./config/env_file.ts";

/** The variables that name paths, as `deno run --allow-env` must list them. */
export const PATH_VARIABLES = ["ROUTES_FILE", "DATA_DIR", "LOG_DIR"] as const;

/** The flags for `env`, and a line for each path that no flag can name. */
export function pathPermissionFlags(
  env: Readonly<Record<string, string | undefined>>,
): { flags: string[]; problems: string[] } {
  const problems: string[] = [];
  const path = (name: (typeof PATH_VARIABLES)[number]): string[] => {
    const value = env[name]?.trim();
    if (!value) return [];
    // The flags are split on whitespace, and Deno reads commas as list separators.
    if (/[\s,]/.test(value)) {
      problems.push(
        `error: ${name}: cannot grant access to ${JSON.stringify(value)}: ` +
          "the path has a space or a comma; rename it, or move it under the working directory",
      );
      return [];
    }
    return [value];
  };
  const written = [...path("DATA_DIR"), ...path("LOG_DIR")];
  const read = [...path("ROUTES_FILE"), ...written];
  return {
    flags: [
      ...(read.length > 0 ? [`--allow-read=${read.join(",")}`] : []),
      ...(written.length > 0 ? [`--allow-write=${written.join(",")}`] : []),
    ],
    problems,
  };
}

if (import.meta.main) {
  let dotEnv: Record<string, string> = {};
  try {
    dotEnv = parseDotEnv(await Deno.readTextFile(".env"));
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const real: Record<string, string> = {};
  for (const name of PATH_VARIABLES) {
    const value = Deno.env.get(name);
    if (value !== undefined) real[name] = value;
  }
  const { flags, problems } = pathPermissionFlags(mergeEnv(real, dotEnv));
  for (const problem of problems) console.error(problem);
  console.log(flags.join(" "));
}
