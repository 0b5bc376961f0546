/**
 * An Upstash-compatible REST gateway over a real Redis, so that the Upstash transport is
 * tested for real (there is no engine here for the usual SRH container). It implements
 * what `@upstash/redis` uses: POST `/`, `/pipeline` and `/multi-exec`, Bearer auth,
 * `{ result }` / `{ error }` answers, and base64 of strings when `Upstash-Encoding: base64`
 * is sent. A test fixture, not a product feature.
 * @module
 */
import { createClient } from "redis";

/** A running gateway. */
export interface UpstashGateway extends AsyncDisposable {
  url: string;
  token: string;
  /** Requests served, by path. */
  requests: Map<string, number>;
  /** While set, every request answers 500 (as a failing Upstash would). */
  setFailing(failing: boolean): void;
  close(): Promise<void>;
}

type Reply = unknown;

/** Starts a gateway on a free port of 127.0.0.1 in front of `redisUrl`. */
export async function startUpstashGateway(
  redisUrl: string,
  token = "gateway-token",
): Promise<UpstashGateway> {
  const client = createClient({
    url: redisUrl,
    disableOfflineQueue: true,
    socket: {
      reconnectStrategy: (n: number) => Math.min(50 * 2 ** Math.min(n, 5), 1000),
      connectTimeout: 2000,
    },
  });
  client.on("error", () => {});
  await client.connect();
  let failing = false;
  const requests = new Map<string, number>();

  const encode = (value: Reply, base64: boolean): Reply => {
    if (!base64) return value;
    if (typeof value === "string") {
      return btoa(String.fromCharCode(...new TextEncoder().encode(value)));
    }
    if (Array.isArray(value)) return value.map((v) => encode(v, base64));
    return value;
  };
  const isCommandError = (e: unknown) =>
    ["SimpleError", "BlobError", "ErrorReply"].includes((e as Error)?.constructor?.name);
  const asArgs = (command: unknown): string[] | null =>
    Array.isArray(command) && command.length > 0
      ? command.map((a) => typeof a === "string" ? a : JSON.stringify(a))
      : null;

  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const path = new URL(req.url).pathname;
    requests.set(path, (requests.get(path) ?? 0) + 1);
    if (req.method !== "POST") {
      return Response.json({ error: "Method not allowed" }, { status: 405 });
    }
    if (req.headers.get("authorization") !== `Bearer ${token}`) {
      return Response.json({ error: "Unauthorized" }, { status: 401 });
    }
    if (failing) return Response.json({ error: "Internal error (scripted)" }, { status: 500 });
    const base64 = req.headers.get("upstash-encoding")?.toLowerCase() === "base64";
    let body: unknown;
    try {
      body = await req.json();
    } catch {
      return Response.json({ error: "Invalid JSON body" }, { status: 400 });
    }
    if (!client.isReady) return Response.json({ error: "Redis is unreachable" }, { status: 500 });
    try {
      if (path === "/") {
        const args = asArgs(body);
        if (!args) return Response.json({ error: "Expected a command array" }, { status: 400 });
        try {
          return Response.json({ result: encode(await client.sendCommand(args), base64) });
        } catch (e) {
          if (isCommandError(e)) {
            return Response.json({ error: (e as Error).message }, { status: 400 });
          }
          throw e;
        }
      }
      if (path === "/pipeline" || path === "/multi-exec") {
        if (!Array.isArray(body) || body.some((c) => !asArgs(c))) {
          return Response.json({ error: "Expected an array of command arrays" }, { status: 400 });
        }
        const commands = body.map((c) => asArgs(c)!);
        if (path === "/pipeline") {
          const results = await Promise.all(commands.map(async (args) => {
            try {
              return { result: encode(await client.sendCommand(args), base64) };
            } catch (e) {
              if (isCommandError(e)) return { error: (e as Error).message };
              throw e;
            }
          }));
          return Response.json(results);
        }
        const multi = client.multi();
        for (const args of commands) multi.addCommand(args);
        try {
          const results = await multi.exec();
          return Response.json(results.map((r: Reply) => ({ result: encode(r, base64) })));
        } catch (e) {
          if (isCommandError(e) || /EXECABORT/.test((e as Error).message)) {
            return Response.json({ error: (e as Error).message }, { status: 400 });
          }
          throw e;
        }
      }
      return Response.json({ error: "Not found" }, { status: 404 });
    } catch (e) {
      return Response.json({ error: `Redis is unreachable: ${(e as Error).message}` }, {
        status: 500,
      });
    }
  });

  const close = async () => {
    await server.shutdown();
    client.destroy();
  };
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    token,
    requests,
    setFailing: (f) => failing = f,
    close,
    [Symbol.asyncDispose]: close,
  };
}
