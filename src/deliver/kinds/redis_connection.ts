/**
 * The Redis connection of the Redis kinds (`redis-list`, `redis-stream`): Upstash over
 * REST (`UPSTASH_REDIS_REST_URL` and `UPSTASH_REDIS_REST_TOKEN`, preferred when set) or a
 * `redis://` server (`REDIS_URL`). The composition root opens it once; the state store
 * uses the same connection when there is one.
 * @module
 */
import { connectRedis, type RedisConnection, type RedisHandle } from "../../redis/connection.ts";
import { shownUrl, urlPassword } from "../../redact.ts";
import { errorMessage } from "../../errors.ts";
import { withTimeout } from "../../util/time.ts";
import type { ConnectionSpec } from "./kind.ts";

/** An http(s) URL without trailing slashes, or null after reporting why not. */
function httpUrl(name: string, value: string, problems: string[]): string | null {
  if (URL.canParse(value) && /^https?:$/.test(new URL(value).protocol)) {
    return value.replace(/\/+$/, "");
  }
  problems.push(`${name}: expected an http(s) URL, got ${shownUrl(value)}`);
  return null;
}

/** `REDIS_URL`, or Upstash's two variables. */
export const redisConnection: ConnectionSpec<RedisConnection, RedisHandle> = {
  name: "redis",
  variables: ["REDIS_URL", "UPSTASH_REDIS_REST_URL", "UPSTASH_REDIS_REST_TOKEN"],
  howToConfigure: "set REDIS_URL, or UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN",
  configure(env, problems) {
    const value = (name: string) => env[name]?.trim() || undefined;
    const [url, restUrl, restToken] = this.variables.map(value);
    const native =
      url !== undefined && URL.canParse(url) && /^rediss?:$/.test(new URL(url).protocol)
        ? url
        : null;
    if (url !== undefined && native === null) {
      problems.push("REDIS_URL: expected a redis:// or rediss:// URL");
    }
    if (restUrl !== undefined || restToken !== undefined) {
      if (restUrl === undefined) {
        problems.push("UPSTASH_REDIS_REST_URL: required with UPSTASH_REDIS_REST_TOKEN");
        return null;
      }
      const checked = httpUrl("UPSTASH_REDIS_REST_URL", restUrl, problems);
      if (restToken === undefined) {
        problems.push("UPSTASH_REDIS_REST_TOKEN: required with UPSTASH_REDIS_REST_URL");
        return null;
      }
      return checked === null ? null : { kind: "upstash", url: checked, token: restToken };
    }
    return native === null ? null : { kind: "native", url: native };
  },
  secrets: (config) =>
    [config.kind === "upstash" ? config.token : null, urlPassword(config.url)]
      .filter((s): s is string => s !== null),
  describe: (config) =>
    `${config.kind === "upstash" ? "Upstash" : "Redis"} at ${shownUrl(config.url)}`,
  open: (config, io) =>
    Promise.resolve(connectRedis(config, {
      timeoutMs: io.requestTimeoutMs,
      timeoutSignal: io.timeoutSignal,
      retry: io.retry,
    })),
  close: (conn) => conn.close(),
  ready: (conn) =>
    withTimeout(conn.redis.ping(), 1000).then(() => null, (e) => `Redis: ${errorMessage(e)}`),
};
