// deno-lint-ignore-file no-console -- a refused start is told on the console: logging may not exist yet
/**
 * How `start`, `serve` and `demo` refuse to start over an operator's mistake: one `error:`
 * line per problem, naming the variable, a closing line, exit code 2, and never a stack
 * trace (a stack is for bugs, which still show theirs).
 * @module
 */
import { ConfigError } from "./errors.ts";

/** The exit code of a start refused over the configuration. */
export const REFUSED = 2;

/**
 * Prints a {@linkcode ConfigError} as `error:` lines and what did not start; returns
 * {@linkcode REFUSED}. Rethrows anything else.
 */
export function refuseToStart(
  error: unknown,
  what = "The service",
  closing = `${what} did not start: fix the configuration above (see README.md, Configuration).`,
): number {
  if (!(error instanceof ConfigError)) throw error;
  for (const issue of error.issues) console.error(`error: ${issue}`);
  console.error(closing);
  return REFUSED;
}

/** How the listen address was given: the variables of `start`, or the flags of `deno serve`. */
export interface ListenNames {
  host: string;
  port: string;
}

/**
 * The `error:` line for a listen that failed through the operator's host or port, or
 * `null` for anything else (a bug).
 */
export function listenProblem(
  error: unknown,
  host: string,
  port: number | string,
  names: ListenNames = { host: "HOST", port: "PORT" },
): string | null {
  if (error instanceof Deno.errors.AddrInUse) {
    return `${names.port}: ${port} is in use on ${host} by another process: stop it, or choose another ${names.port}`;
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return `${names.port}: not allowed to listen on ${port}: ports below 1024 need privileges; choose another ${names.port}`;
  }
  if (error instanceof Deno.errors.AddrNotAvailable) {
    return `${names.host}: ${host} is not an address of this machine: use 127.0.0.1, 0.0.0.0 (every interface) or one of its own addresses`;
  }
  if (error instanceof Error && /failed to lookup address/i.test(error.message)) {
    return `${names.host}: cannot resolve ${host}: use an IP address such as 127.0.0.1 or 0.0.0.0, or a name this machine resolves`;
  }
  return null;
}
