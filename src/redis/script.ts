/**
 * Running a Lua script (leases, fenced writes, the shared rate limit): one `EVAL` in one
 * round trip, sent through the client's batch interface, which both transports serve.
 * @module
 */
import type { RedisClient } from "./connection.ts";

/** Runs `script` once with `keys` and `args`; resolves with its reply as Redis gives it. */
export async function runScript(
  redis: RedisClient,
  script: string,
  keys: string[],
  args: string[],
): Promise<unknown> {
  const [reply] = await redis.pipeline().eval(script, keys, args).exec();
  return reply;
}
