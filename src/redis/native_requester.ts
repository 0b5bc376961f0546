/**
 * A `@upstash/redis` requester that speaks RESP to a plain Redis server through
 * node-redis. `@upstash/redis` stays the one Redis API in the code; this swaps its
 * transport. Transport failures throw (as a failed `fetch` would), command errors come
 * back as `{ error }` (as Upstash's REST API answers).
 * @module
 */
import type { Requester, UpstashRequest, UpstashResponse } from "@upstash/redis";
import { createClient } from "redis";
import { getLogger } from "@logtape/logtape";

const log = getLogger(["vk-event-router", "redis"]);

type Command = (string | number)[];

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

/** Connects lazily and reconnects for ever with capped backoff; commands fail fast while it is down. */
export function createNativeRequester(options: NativeRequesterOptions): NativeRequester {
  const timeoutMs = options.timeoutMs ?? 5_000;
  const client = createClient({
    url: options.url,
    disableOfflineQueue: true,
    socket: {
      connectTimeout: timeoutMs,
      reconnectStrategy: (retries: number) => Math.min(50 * 2 ** Math.min(retries, 6), 2_000),
    },
  });
  let lastError = "";
  client.on("error", (error: Error) => {
    const message = error.message.replace(/\/\/[^@/]*@/, "//***@");
    if (message !== lastError) log.warn("Redis connection error: {message}", { message });
    lastError = message;
  });
  client.on("ready", () => {
    if (lastError) log.info("Redis connection restored");
    lastError = "";
  });
  const connecting = client.connect().catch(() => {});

  const send = async (command: Command): Promise<UpstashResponse<unknown>> => {
    try {
      return { result: await client.sendCommand(command.map(String)) };
    } catch (error) {
      if (isCommandError(error)) return { error: (error as Error).message };
      throw error;
    }
  };

  /** Resolves once the connection is ready; commands wait for it (bounded by the request timeout). */
  const ready = (): Promise<void> =>
    client.isReady
      ? Promise.resolve()
      : new Promise((resolve) => client.once("ready", () => resolve()));

  async function run(req: UpstashRequest): Promise<unknown> {
    await ready();
    const path = req.path?.[0];
    if (path === "pipeline") return await Promise.all((req.body as Command[]).map(send));
    if (path === "multi-exec") {
      const multi = client.multi();
      for (const command of req.body as Command[]) multi.addCommand(command.map(String));
      try {
        const results = await multi.exec();
        return results.map((result: unknown) => ({ result }));
      } catch (error) {
        if (isCommandError(error)) return [{ error: (error as Error).message }];
        throw error;
      }
    }
    if (path === undefined) return await send(req.body as Command);
    throw new Error(`The native Redis transport does not support /${req.path?.join("/")}`);
  }

  return {
    async request<TResult>(req: UpstashRequest): Promise<UpstashResponse<TResult>> {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`Redis did not answer within ${timeoutMs} ms`)),
          timeoutMs,
        );
      });
      try {
        return await Promise.race([run(req), timeout]) as UpstashResponse<TResult>;
      } finally {
        clearTimeout(timer);
      }
    },
    async close() {
      if (client.isOpen) client.destroy();
      await connecting;
    },
    [Symbol.asyncDispose]() {
      return this.close();
    },
  };
}

/** Redis answered with an error reply (the command ran and failed), as opposed to a transport failure. */
function isCommandError(error: unknown): boolean {
  const name = (error as Error)?.constructor?.name ?? "";
  return name === "SimpleError" || name === "BlobError" || name === "ErrorReply" ||
    name === "MultiErrorReply";
}
