/**
 * The real Redis the tests use (`TEST_REDIS_URL`), with a random key prefix per test so
 * runs never collide, and clean-up of that prefix. `deno task test` sets `TEST_REDIS_URL`
 * to a private redis-server it starts for the run (`tests/run.ts`); there is no default,
 * so a test never writes to a Redis that someone else started without being told to.
 * @module
 */
import { connectRedis, type RedisHandle } from "../../src/redis/connection.ts";
import { deleteKeys } from "./delete_keys.ts";

const url = Deno.env.get("TEST_REDIS_URL");
if (url === undefined) {
  throw new Error(
    "Cannot find the test Redis: TEST_REDIS_URL is not set; run the tests with " +
      "`deno task test`, which starts a private redis-server, or set TEST_REDIS_URL",
  );
}
/** The Redis URL tests talk to. */
export const TEST_REDIS_URL: string = url;

/** A connection plus a fresh key prefix; disposing deletes every key under the prefix. */
export interface TestRedis extends AsyncDisposable {
  handle: RedisHandle;
  prefix: string;
}

/** Opens a native connection to the test Redis with a random prefix. */
export function testRedis(): TestRedis {
  const handle = connectRedis({ kind: "native", url: TEST_REDIS_URL });
  const prefix = `test-${crypto.randomUUID().slice(0, 8)}:`;
  return {
    handle,
    prefix,
    async [Symbol.asyncDispose]() {
      await deleteKeys(handle, prefix);
      await handle.close();
    },
  };
}

export { deleteKeys } from "./delete_keys.ts";
