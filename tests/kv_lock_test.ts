/**
 * The embedded store serves one process: a second one on the same DATA_DIR cannot
 * coordinate with the first, so it is refused at start rather than polling twice.
 */
import assert from "node:assert/strict";
import { ConfigError } from "../src/errors.ts";
import { openKvStore } from "../src/store/kv_store.ts";
import { startFakeVk } from "./support/fake_vk.ts";
import { spawnService } from "./support/service_process.ts";
import { waitFor } from "./support/wait.ts";

Deno.test("openKvStore() refuses a DATA_DIR another store holds open, and takes it once closed", async () => {
  const dir = await Deno.makeTempDir();
  const first = await openKvStore(dir);
  await assert.rejects(
    () => openKvStore(dir),
    (e) =>
      e instanceof ConfigError &&
      e.issues.length === 1 &&
      e.issues[0]!.startsWith(`DATA_DIR: ${dir} is in use by another process (pid ${Deno.pid})`) &&
      /REDIS_URL to run several replicas/.test(e.issues[0]!),
  );
  await first.setCheckpoint(1, "5");
  await first.close();
  const second = await openKvStore(dir);
  assert.equal(await second.getCheckpoint(1), "5");
  await second.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a second service on the same DATA_DIR exits 2; after the first dies, a new one starts", async () => {
  await using vk = await startFakeVk({ tokens: { 42: "tok-42" } });
  const dir = await Deno.makeTempDir({ prefix: "vk-router-lock-" });
  const env = {
    VK_TOKEN: "tok-42",
    VK_GROUP_ID: "42",
    VK_API_URL: vk.apiUrl,
    VK_LONGPOLL_WAIT: "1",
    DATA_DIR: "./data",
    PORT: "0",
  };
  {
    await using first = await spawnService(env, dir);
    await first.url();
    await using second = await spawnService(env, dir);
    assert.equal(await second.exited, 2);
    assert.match(
      second.output(),
      /^error: DATA_DIR: \.\/data is in use by another process \(pid \d+\); .*set REDIS_URL to run several replicas$/m,
    );
    first.child.kill("SIGKILL"); // a crash leaves no stale lock: the system drops it
    await first.exited;
  }
  await using third = await spawnService(env, dir);
  await third.url();
  const polls = vk.calls.get("a_check") ?? 0;
  await waitFor(() => (vk.calls.get("a_check") ?? 0) > polls, "the restarted service to poll");
  assert.equal(await third.stop("SIGTERM"), 0);
  await Deno.remove(dir, { recursive: true });
});
