/**
 * The contract every destination kind with a server of its own keeps, run against each
 * kind harness (`src/deliver/kinds/<kind>/testing.ts`) on real servers: what arrives
 * (ids, types, the same body as a Redis list item), order per community, retries and dead
 * letters, a server down at start and one restarted while events flow. The router is the
 * real graph (`startService`, `buildRouter`), configured as a user would.
 */
import assert from "node:assert/strict";
import { loadConfig } from "../src/config/config.ts";
import { parseRoutes } from "../src/config/routes.ts";
import { buildRouter, verifyDestinations } from "../src/router.ts";
import { startService } from "../src/service.ts";
import { startFakeVk } from "./support/fake_vk.ts";
import { harnessUrl, type KindHarness, kindHarnesses } from "./support/kind_harness.ts";
import { TEST_REDIS_URL, testRedis } from "./support/redis.ts";
import { waitFor } from "./support/wait.ts";

/** A raw VK event of community `group`; its id says which it is. */
function raw(n: number, group: number) {
  return {
    type: "message_new",
    event_id: `g${group}-${n}`,
    group_id: group,
    object: { message: { from_id: 5, peer_id: 5, text: n % 4 === 0 ? `/cmd ${n}` : `m${n}` } },
  };
}

/** The router's environment for one test: a private prefix, the kind's server, a fake VK. */
function routerEnv(harness: KindHarness, url: string, prefix: string, apiUrl: string) {
  return {
    VK_TOKEN: "test-token",
    VK_GROUP_ID: "1,2",
    VK_API_URL: apiUrl,
    VK_LONGPOLL_WAIT: "1",
    REDIS_URL: TEST_REDIS_URL,
    REDIS_PREFIX: `${prefix}router:`,
    RETRY_SCHEDULE_S: "0.2",
    ENRICH_DEADLINE_MS: "50",
    PORT: "0",
    [harness.connectionVariable]: url,
  };
}

for (const harness of await kindHarnesses()) {
  Deno.test(`${harness.kind}: the destination contract on a real server`, async (t) => {
    const sharedUrl = harnessUrl(harness);
    await using redis = testRedis();
    await using vk = await startFakeVk({ tokens: { 1: "test-token", 2: "test-token" } });
    const id = () => `${redis.prefix.replace(/\W/g, "")}-${crypto.randomUUID().slice(0, 6)}`;
    const routesTo = (destination: Record<string, unknown>, attempts = 20) =>
      parseRoutes({
        destinations: {
          target: destination,
          reference: { kind: "redis-list", key: `${redis.prefix}reference`, push: "rpush" },
        },
        rules: [{ to: ["target", "reference"] }],
        retry: { attempts, max_age_s: 3600 },
      });

    await t.step(
      "ids, types and bodies arrive as a Redis list holds them, in order per community",
      async () => {
        await using target = await harness.provision(sharedUrl, id());
        await using router = await buildRouter({
          config: loadConfig(routerEnv(harness, sharedUrl, redis.prefix, vk.apiUrl)),
          routes: routesTo(target.destination),
        });
        assert.deepEqual(await verifyDestinations(router), [], "the start-up check passes");
        for (let batch = 0; batch < 3; batch++) {
          const updates = Array.from(
            { length: 40 },
            (_, i) => raw(batch * 20 + (i >> 1), 1 + (i % 2)),
          );
          await router.pipeline.handle({ updates, receivedAt: Date.now() });
        }
        const arrived = await target.read();
        const reference = await redis.handle.redis.lrange(`${redis.prefix}reference`, 0, -1);
        assert.equal(arrived.length, 120);
        assert.deepEqual(
          arrived.map((a) => a.body).sort(),
          [...reference].sort(),
          "the same bodies",
        );
        for (const a of arrived) {
          const event = JSON.parse(a.body);
          assert.equal(a.eventId, event.event_id);
          assert.equal(a.eventType, event.event_type);
        }
        assert.ok(arrived.some((a) => a.eventType === "command_call"));
        for (const group of [1, 2]) {
          const ids = arrived.map((a) => JSON.parse(a.body)).filter((e) => e.group_id === group)
            .map((e) => e.event_id);
          assert.deepEqual(
            ids,
            Array.from({ length: 60 }, (_, n) => `g${group}-${n}`),
            `group ${group}`,
          );
        }
      },
    );

    await t.step(
      "a down server: parked and retried, then delivered; dead letters after the attempts",
      async () => {
        await using server = await harness.startServer();
        await using target = await harness.provision(server.url, id());
        await using router = await buildRouter({
          config: loadConfig(routerEnv(harness, server.url, `${redis.prefix}retry:`, vk.apiUrl)),
          routes: routesTo(target.destination, 3),
        });
        await server.stop();
        await router.pipeline.handle({
          updates: [0, 1, 2].map((n) => raw(n, 1)),
          receivedAt: Date.now(),
        });
        assert.equal(await router.store.parkedCount(), 3, "parked, not lost");
        await server.start();
        await waitFor(async () => await router.readiness() === null, "the reconnect", 20_000);
        await waitFor(
          async () => {
            await router.deliverer.retryDue();
            return await router.store.parkedCount() === 0;
          },
          "the retries to deliver",
          20_000,
        );
        assert.deepEqual((await target.read()).map((a) => a.eventId), ["g1-0", "g1-1", "g1-2"]);

        await server.stop();
        await router.pipeline.handle({
          updates: [3, 4].map((n) => raw(n, 2)),
          receivedAt: Date.now(),
        });
        await waitFor(
          async () => {
            await router.deliverer.retryDue();
            return await router.store.deadLetterCount() === 2;
          },
          "two dead letters",
          20_000,
        );
        const letters = await router.store.takeDeadLetters(10);
        assert.deepEqual(letters.map((l) => [l.event_id, l.destination, l.attempts]), [
          ["g2-3", "target", 3],
          ["g2-4", "target", 3],
        ]);
        assert.ok(letters.every((l) => l.last_error.length > 0), "each says why");
        assert.equal(await router.store.parkedCount(), 0);
      },
    );

    await t.step(
      "a server down at start: a warning, not a stop; deliveries go through once it is up",
      async () => {
        await using server = await harness.startServer();
        await using target = await harness.provision(server.url, id());
        await server.stop();
        await using router = await buildRouter({
          config: loadConfig(routerEnv(harness, server.url, `${redis.prefix}down:`, vk.apiUrl)),
          routes: routesTo(target.destination),
        });
        const warnings = await verifyDestinations(router);
        assert.equal(warnings.length, 1, "one warning for the one destination");
        assert.match(warnings[0]!, /^Cannot check destination "target" \(.+\) at start: /);
        assert.ok(await router.readiness(), "not ready while the server is down");
        await router.pipeline.handle({ updates: [raw(0, 1)], receivedAt: Date.now() });
        assert.equal(await router.store.parkedCount(), 1);
        await server.start();
        await waitFor(
          async () => await router.readiness() === null,
          "ready once the server is up",
          20_000,
        );
        await waitFor(
          async () => {
            await router.deliverer.retryDue();
            return await router.store.parkedCount() === 0;
          },
          "the parked event to be delivered",
          20_000,
        );
        assert.deepEqual((await target.read()).map((a) => a.eventId), ["g1-0"]);
      },
    );

    await t.step("a server restarted while 300 events flow: every event arrives", async () => {
      await using server = await harness.startServer();
      await using target = await harness.provision(server.url, id());
      const prefix = `${redis.prefix}flow:`;
      await redis.handle.redis.set(`${prefix}router:checkpoint:1`, "0");
      const service = await startService({
        config: loadConfig({
          ...routerEnv(harness, server.url, prefix, vk.apiUrl),
          VK_GROUP_ID: "1",
        }),
        // Retries outlast the outage and the server's start (a RabbitMQ node boots in seconds).
        routes: routesTo(target.destination, 200),
      });
      try {
        for (let n = 0; n < 300; n++) {
          vk.push([raw(n, 1)], 1);
          if (n === 100) await server.stop();
          if (n === 200) {
            await new Promise((r) => setTimeout(r, 1500)); // a real outage, not a blip
            await server.start();
          }
          if (n % 10 === 0) await new Promise((r) => setTimeout(r, 5));
        }
        const count = async () =>
          target.count ? await target.count() : (await target.read()).length;
        await waitFor(async () => (await count().catch(() => 0)) >= 300, "300 events", 30_000);
      } finally {
        await service.stop();
      }
      const ids = (await target.read()).map((a) => a.eventId);
      assert.equal(new Set(ids).size, 300, "every event");
      if (harness.guarantee === "exactly-once") assert.equal(ids.length, 300, "no duplicates");
    });
  });
}
