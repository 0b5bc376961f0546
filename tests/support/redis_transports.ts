/**
 * Both Redis transports over one redis-server URL: native `redis://`, and Upstash REST
 * through the local gateway. Suites that must hold for both loop over them.
 * @module
 */
import { connectRedis, type RedisHandle } from "../../src/redis/connection.ts";
import { startUpstashGateway } from "../../dev/upstash_gateway.ts";

/** An open connection of one transport; disposing closes it (and its gateway). */
export type OpenTransport = (redisUrl: string) => { handle: RedisHandle } & AsyncDisposable;

/** `[name, open]` for each transport. */
export function redisTransports(timeoutMs: number): [string, OpenTransport][] {
  return [
    ["native", (url) => {
      const handle = connectRedis({ kind: "native", url }, { timeoutMs });
      return { handle, [Symbol.asyncDispose]: () => handle.close() };
    }],
    ["upstash", (url) => {
      const gateway = startUpstashGateway(url);
      const handle = connectRedis({ kind: "upstash", url: gateway.url, token: gateway.token }, {
        timeoutMs,
      });
      return { handle, [Symbol.asyncDispose]: () => gateway.close() };
    }],
  ];
}
