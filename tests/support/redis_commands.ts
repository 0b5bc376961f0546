/**
 * Raw commands to the test Redis, for tests that inspect or tamper with what the router
 * keeps there (TTLs, hashes, scores) beyond the commands the router's client offers.
 * @module
 */
import { RespConnection, RespError, type RespValue } from "../../src/redis/resp_connection.ts";
import { TEST_REDIS_URL } from "./redis.ts";

/** A connection that sends one command at a time. */
export interface RedisCommands extends Disposable {
  /** Sends one command; rejects with Redis's error message when Redis refuses it. */
  send(...command: string[]): Promise<RespValue>;
}

/** Opens a connection to `url` (the test Redis by default). */
export function redisCommands(url: string = TEST_REDIS_URL): RedisCommands {
  const connection = new RespConnection({ url, connectTimeoutMs: 2000 });
  return {
    async send(...command) {
      const [reply] = await connection.send([command]);
      if (reply instanceof RespError) throw new Error(reply.message);
      return reply ?? null;
    },
    [Symbol.dispose]: () => connection.close(),
  };
}
