/**
 * A `@upstash/redis` requester that speaks RESP to a plain Redis server. `@upstash/redis`
 * stays the one Redis API in the code; this swaps its transport. Transport failures throw
 * (as a failed `fetch` would), command errors come back as `{ error }` (as Upstash's REST
 * API answers).
 * @module
 */
import type { Requester, UpstashRequest, UpstashResponse } from "@upstash/redis";
import { getLogger } from "@logtape/logtape";
import { RespConnection, RespError, type RespValue } from "./resp_connection.ts";

const log = getLogger(["vk-event-router", "redis"]);

type Command = (string | number | boolean)[];

/** Options for {@linkcode createNativeRequester}. */
export interface NativeRequesterOptions {
  url: string;
  /** Per request (a whole pipeline counts as one). @default 5_000 */
  timeoutMs?: number;
}

/** A requester over a native connection, which must be closed. */
export interface NativeRequester extends Requester, AsyncDisposable {
  close(): Promise<void>;
}

/**
 * Connects on first use and again after any failure. A request that times out drops the
 * connection, so its late reply cannot be taken for another command's.
 */
export function createNativeRequester(options: NativeRequesterOptions): NativeRequester {
  const timeoutMs = options.timeoutMs ?? 5_000;
  const connection = new RespConnection({ url: options.url, connectTimeoutMs: timeoutMs });
  let down = false;

  const asArgs = (command: Command) => command.map(String);
  const item = (value: RespValue): UpstashResponse<unknown> =>
    value instanceof RespError ? { error: value.message } : { result: value };

  async function run(req: UpstashRequest): Promise<unknown> {
    const path = req.path?.[0];
    if (path === undefined) return item((await connection.send([asArgs(req.body as Command)]))[0]!);
    if (path === "pipeline") {
      return (await connection.send((req.body as Command[]).map(asArgs))).map(item);
    }
    if (path === "multi-exec") {
      const commands = (req.body as Command[]).map(asArgs);
      const replies = await connection.send([["MULTI"], ...commands, ["EXEC"]]);
      const exec = replies.at(-1);
      if (exec instanceof RespError) return [{ error: exec.message }];
      if (!Array.isArray(exec)) {
        return [{ error: "EXEC answered nothing (the transaction was aborted)" }];
      }
      return exec.map(item);
    }
    throw new Error(`The native Redis transport does not support /${req.path?.join("/")}`);
  }

  return {
    async request<TResult>(req: UpstashRequest): Promise<UpstashResponse<TResult>> {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const error = new Error(`Redis did not answer within ${timeoutMs} ms`);
          connection.reset(error);
          reject(error);
        }, timeoutMs);
      });
      try {
        const result = await Promise.race([run(req), timeout]) as UpstashResponse<TResult>;
        if (down) log.info("Redis connection restored");
        down = false;
        return result;
      } catch (error) {
        if (!down) {
          log.warn("Redis connection error: {message}", { message: (error as Error).message });
        }
        down = true;
        throw error;
      } finally {
        clearTimeout(timer);
      }
    },
    close() {
      connection.close();
      return Promise.resolve();
    },
    [Symbol.asyncDispose]() {
      return this.close();
    },
  };
}
