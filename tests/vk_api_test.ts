import assert from "node:assert/strict";
import { VkApiError, VkHttpError } from "../src/errors.ts";
import { createVkApi } from "../src/vk/api.ts";
import { createRateLimiter } from "../src/vk/rate_limiter.ts";
import { startFakeVk } from "./support/fake_vk.ts";

const FAST = { minMs: 1, maxMs: 5 };

Deno.test("createVkApi() posts form-encoded params with token and version", async () => {
  await using vk = await startFakeVk();
  vk.users.set(7, { id: 7, first_name: "Ann", last_name: "Lee", domain: "ann" });
  const api = createVkApi({ token: "test-token", apiUrl: vk.apiUrl });
  const users = await api.call<unknown[]>("users.get", { user_ids: [7, 8], fields: "domain" });
  assert.deepEqual(users, [{ id: 7, first_name: "Ann", last_name: "Lee", domain: "ann" }]);
});

Deno.test("createVkApi() throws VkApiError with code and method, and no token", async () => {
  await using vk = await startFakeVk();
  const api = createVkApi({ token: "wrong-secret-token", apiUrl: vk.apiUrl });
  const error = await api.call("users.get").catch((e) => e);
  assert.ok(error instanceof VkApiError);
  assert.equal(error.code, 5);
  assert.equal(error.method, "users.get");
  assert.doesNotMatch(`${error.message} ${error.stack}`, /wrong-secret-token/);
});

Deno.test("createVkApi() retries errors 6, 10 and 1 and HTTP 5xx, not others", async () => {
  await using vk = await startFakeVk();
  const api = createVkApi({ token: "test-token", apiUrl: vk.apiUrl, backoff: FAST, attempts: 5 });
  vk.apiFault("users.get", [{ error_code: 6 }, { error_code: 10 }, { error_code: 1 }, {
    status: 503,
  }]);
  assert.deepEqual(await api.call("users.get", { user_ids: 1 }), []);
  assert.equal(vk.calls.get("users.get"), 5);

  vk.apiFault("groups.getById", [{ error_code: 15 }]);
  const error = await api.call("groups.getById", { group_ids: 1 }).catch((e) => e);
  assert.ok(error instanceof VkApiError && error.code === 15);
  assert.equal(vk.calls.get("groups.getById"), 1);
});

Deno.test("createVkApi() gives up after its attempts with VkHttpError", async () => {
  await using vk = await startFakeVk();
  vk.setApiDown(true);
  const api = createVkApi({ token: "test-token", apiUrl: vk.apiUrl, backoff: FAST, attempts: 3 });
  const error = await api.call("users.get").catch((e) => e);
  assert.ok(error instanceof VkHttpError);
  assert.equal(error.status, 500);
  assert.equal(vk.calls.get("users.get"), 3);
});

Deno.test("createVkApi() times out a hanging request", async () => {
  await using vk = await startFakeVk();
  vk.apiFault("users.get", ["hang"]);
  const api = createVkApi({ token: "test-token", apiUrl: vk.apiUrl, timeoutMs: 100, attempts: 1 });
  const error = await api.call("users.get").catch((e) => e);
  assert.ok(error instanceof VkHttpError);
  assert.match(error.message, /timed out/);
});

Deno.test("createRateLimiter() allows at most perSecond starts in any second", async () => {
  let now = 0;
  const waits: number[] = [];
  const limiter = createRateLimiter({
    perSecond: 20,
    now: () => now,
    sleep: (ms) => {
      waits.push(ms);
      now += ms;
      return Promise.resolve();
    },
  });
  const starts: number[] = [];
  for (let i = 0; i < 50; i++) {
    await limiter.acquire();
    starts.push(now);
    now += 10;
  }
  for (let i = 20; i < starts.length; i++) {
    assert.ok(
      starts[i]! - starts[i - 20]! >= 1000,
      `start ${i} is within a second of start ${i - 20}`,
    );
  }
  assert.ok(waits.length > 0, "the limiter made callers wait");
});
