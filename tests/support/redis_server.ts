/**
 * A private `redis-server` on a free port. By default it keeps an append-only file so that
 * its data survives a stop and start: tests use it to take Redis down and bring it back.
 * The test runner (`tests/run.ts`) starts one without it for the whole suite.
 * @module
 */
import { freePort, startChildServer } from "./child_server.ts";
import { REDIS_SERVER_MISSING } from "./prerequisites.ts";

/** A redis-server the test owns. */
export interface RedisServer extends AsyncDisposable {
  url: string;
  port: number;
  /** Stops the server (SIGKILL by default: a crash, not a clean shutdown). */
  stop(signal?: Deno.Signal): Promise<void>;
  /** Starts it again on the same port with the same data. */
  start(): Promise<void>;
}

/** Options of {@linkcode startRedisServer}. */
export interface RedisServerOptions {
  /**
   * Write every command to an append-only file, synced at once, so that data survives
   * a SIGKILL and restart. Off, nothing touches the disk and writes are faster.
   * @default {true}
   */
  durable?: boolean;
}

/** Starts a redis-server; `redis-server` must be on PATH (CI installs it). */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const durable = options.durable ?? true;
  const dir = await Deno.makeTempDir({ prefix: "vk-router-redis-" });
  const port = freePort();
  const command = new Deno.Command("redis-server", {
    args: [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--dir",
      dir,
      "--save",
      "",
      ...(durable ? ["--appendonly", "yes", "--appendfsync", "always"] : ["--appendonly", "no"]),
      "--daemonize",
      "no",
      "--loglevel",
      "warning",
    ],
    stdout: "null",
    stderr: "null",
  });
  const server = await startChildServer({
    dir,
    spawn: () => command.spawn(),
    missing: REDIS_SERVER_MISSING,
    async ready() {
      for (let i = 0; i < 200; i++) {
        try {
          const conn = await Deno.connect({ hostname: "127.0.0.1", port });
          await conn.write(new TextEncoder().encode("PING\r\n"));
          const buf = new Uint8Array(64);
          const n = await conn.read(buf);
          conn.close();
          if (n && new TextDecoder().decode(buf.subarray(0, n)).startsWith("+PONG")) return;
        } catch { /* not up yet */ }
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(`Cannot start redis-server on port ${port}: no answer to PING within 5 s`);
    },
  });
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop: server.stop,
    start: server.start,
    [Symbol.asyncDispose]: server[Symbol.asyncDispose],
  };
}
