/**
 * Lua scripts sent by SHA, any number of calls in one request. Upstash bills each request's
 * commands and every REST round trip adds the network's latency, so the router's Redis work
 * is a few scripts that travel together. A script's text crosses the network once per
 * Redis: its first `EVALSHA` answers `NOSCRIPT`, and only those calls are sent again as
 * `EVAL`, which runs them and caches the script. `@upstash/redis`'s own `Script` helper
 * does the same for one call at a time, never inside a pipeline.
 * @module
 */
import { errorMessage } from "../errors.ts";
import type { Transport } from "../util/unit_of_work.ts";
import type { RedisClient } from "./connection.ts";

/**
 * A Lua script and its SHA-1, computed once. Scripts are `.lua` files beside the module
 * that runs them, imported as text (`import source from "./x.lua" with { type: "text" }`),
 * so they are part of the module graph (the image and `deno serve` carry them) and an
 * editor shows them as Lua. A line `--- @include name` is replaced by `parts[name]`: a
 * shared script around a part each user gives (the Redis kinds' append).
 */
export class LuaScript {
  readonly source: string;
  #sha: Promise<string> | null = null;

  constructor(source: string, parts: Readonly<Record<string, string>> = {}) {
    this.source = source.replace(/^--- @include (\S+).*$/gm, (_, name: string) => {
      const part = parts[name];
      if (part === undefined) {
        throw new Error(`The Lua script includes ${name}, which is not given`);
      }
      return part.trimEnd();
    });
  }

  /** The hex SHA-1 that `EVALSHA` names the script by. */
  sha(): Promise<string> {
    return this.#sha ??= crypto.subtle.digest("SHA-1", new TextEncoder().encode(this.source))
      .then((hash) =>
        [...new Uint8Array(hash)].map((b) => b.toString(16).padStart(2, "0")).join("")
      );
  }
}

/** One call of a script. */
export interface ScriptCall {
  script: LuaScript;
  keys: string[];
  args: string[];
}

/**
 * What one call answered: its value, or why there is none (Redis refused this call, or the
 * request failed and whether it ran is unknown).
 */
export type ScriptResult = { ok: true; value: unknown } | { ok: false; error: string };

/** The keys of a call, for an error line: which key a WRONGTYPE or OOM is about. */
function keysOf(call: ScriptCall): string {
  const shown = call.keys.slice(0, 3).map((k) => JSON.stringify(k)).join(", ");
  const more = call.keys.length > 3 ? ` and ${call.keys.length - 3} more` : "";
  return call.keys.length === 0 ? "no key" : `key ${shown}${more}`;
}

/** Sends one pipeline; a failed request answers an error for each of its calls. */
async function send(
  redis: RedisClient,
  calls: readonly { command: "evalsha" | "eval"; call: ScriptCall; sha: string }[],
): Promise<{ result: ScriptResult; noScript: boolean }[]> {
  const pipeline = redis.pipeline();
  for (const { command, call, sha } of calls) {
    if (command === "evalsha") pipeline.evalsha(sha, call.keys, call.args);
    else pipeline.eval(call.script.source, call.keys, call.args);
  }
  try {
    const answers = await pipeline.exec({ keepErrors: true });
    return answers.map(({ error, result }, i) => ({
      result: error
        ? { ok: false, error: `Redis refused the script on ${keysOf(calls[i]!.call)}: ${error}` }
        : { ok: true, value: result },
      noScript: error?.startsWith("NOSCRIPT") ?? false,
    }));
  } catch (error) {
    const result: ScriptResult = { ok: false, error: `Redis unreachable: ${errorMessage(error)}` };
    return calls.map(() => ({ result, noScript: false }));
  }
}

/**
 * Runs the calls in one pipeline (a second one only for scripts Redis did not know yet),
 * in order, each answering on its own; never throws. A pipeline is not a transaction:
 * every call runs even when another fails, and another client's commands may run between
 * them.
 */
export async function runScripts(
  redis: RedisClient,
  calls: readonly ScriptCall[],
): Promise<ScriptResult[]> {
  if (calls.length === 0) return [];
  const shas = await Promise.all(calls.map((c) => c.script.sha()));
  const first = await send(
    redis,
    calls.map((call, i) => ({ command: "evalsha" as const, call, sha: shas[i]! })),
  );
  const missing = first.flatMap(({ noScript }, i) => noScript ? [i] : []);
  if (missing.length > 0) {
    const again = await send(
      redis,
      missing.map((i) => ({ command: "eval" as const, call: calls[i]!, sha: shas[i]! })),
    );
    missing.forEach((i, j) => first[i] = again[j]!);
  }
  return first.map(({ result }) => result);
}

const transports = new WeakMap<RedisClient, Transport<ScriptCall, ScriptResult>>();

/**
 * The script calls of a client as a unit-of-work transport: the same transport for every
 * participant, so that their calls in one unit travel in one pipeline.
 */
export function scriptsOn(redis: RedisClient): Transport<ScriptCall, ScriptResult> {
  let transport = transports.get(redis);
  if (!transport) transports.set(redis, transport = { send: (calls) => runScripts(redis, calls) });
  return transport;
}

/** Runs one call on its own. @throws {Error} with Redis's answer when it failed. */
export async function runScript(redis: RedisClient, call: ScriptCall): Promise<unknown> {
  const [result] = await runScripts(redis, [call]);
  if (!result!.ok) throw new Error(result!.error);
  return result!.value;
}

/** Runs `script` with `keys` and `args` on its own. @throws {Error} as {@linkcode runScript}. */
export function evalScript(
  redis: RedisClient,
  script: LuaScript,
  keys: string[],
  args: string[],
): Promise<unknown> {
  return runScript(redis, { script, keys, args });
}
