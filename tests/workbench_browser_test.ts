/// <reference lib="dom" />
/**
 * The workbench as an operator uses it, in headless Chromium at a laptop's and a phone's
 * width, on two replicas sharing one Redis: the degraded badge and its reason, the fleet
 * (each replica, the standby labelled), a dead letter replayed and another deleted from
 * their rows, a destination's parked delivery retried now, and the destination paused and
 * resumed. Every page fits the screen.
 */
import assert from "node:assert/strict";
import { chromium, type Page } from "playwright-core";
import { startFakeVk } from "./support/fake_vk.ts";
import { chromiumLaunch } from "./support/prerequisites.ts";
import { TEST_REDIS_URL, testRedis } from "./support/redis.ts";
import { spawnService } from "./support/service_process.ts";
import { waitFor } from "./support/wait.ts";

/** Headless Chromium as the status page's browser test launches it. */
async function launchBrowser() {
  const launch = await chromiumLaunch(); // never skipped: it throws the line to install it
  return await chromium.launch({
    executablePath: launch.executablePath,
    env: { ...Deno.env.toObject(), ...launch.env },
    args: [...launch.args, "--no-sandbox", "--disable-gpu", "--no-first-run"],
  });
}
const TOKEN = "workbench-browser-token";
const auth = { authorization: `Bearer ${TOKEN}` };

const message = (id: string) => ({
  type: "message_new",
  event_id: id,
  group_id: 42,
  object: { message: { from_id: 7, peer_id: 7, text: id, conversation_message_id: 1 } },
});

/** Whether the page is no wider than the screen. */
const fits = (page: Page) =>
  page.evaluate(() => document.documentElement.scrollWidth <= globalThis.innerWidth);

Deno.test("the workbench in a browser at 1280 and 390 px: health, fleet, dead letters, retry now, pause and resume", async () => {
  await using redis = testRedis();
  const hook = { status: 200, received: [] as string[] };
  await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (r) => {
    const id = JSON.parse(await r.text()).event_id as string;
    hook.received.push(`${id}:${hook.status}`);
    return new Response(hook.status === 200 ? "ok" : "the hook says no", { status: hook.status });
  });
  await using vk = await startFakeVk({ tokens: { 42: "wbb-token" } });
  const dir = await Deno.makeTempDir({ prefix: "vk-router-workbench-browser-" });
  await using _dir = { [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
  await Deno.writeTextFile(
    `${dir}/routes.json`,
    JSON.stringify({
      destinations: {
        hook: { kind: "webhook", url: `http://127.0.0.1:${server.addr.port}/in` },
      },
      rules: [{ to: ["hook"] }],
    }),
  );
  const env = {
    VK_TOKEN: "wbb-token",
    VK_GROUP_ID: "42",
    VK_API_URL: vk.apiUrl,
    VK_LONGPOLL_WAIT: "1",
    ROUTES_FILE: "routes.json",
    REDIS_URL: TEST_REDIS_URL,
    REDIS_PREFIX: `${redis.prefix}router:`,
    LEASE_TTL_S: "2",
    RETRY_SCHEDULE_S: "3600", // parked deliveries wait for the operator
    STATUS_TOKEN: TOKEN,
    HOST: "127.0.0.1",
    PORT: "0",
  };
  await using a = await spawnService({ ...env, INSTANCE_ID: "replica-a" }, dir);
  await using b = await spawnService({ ...env, INSTANCE_ID: "replica-b" }, dir);
  const urls = [await a.url(), await b.url()];
  const api = async (path: string, url = urls[0]) =>
    await (await fetch(`${url}${path}`, { headers: auth })).json();
  await waitFor(
    async () => {
      for (const url of urls) {
        if ((await api("/api/status", url)).fleet?.replicas.length !== 2) return false;
      }
      return (await api("/api/status")).fleet.totals.communities_polled === 1;
    },
    "both replicas in the fleet, one polling",
    30_000,
  );
  const standbyUrl =
    (await api("/api/status")).fleet.replicas.find((r: { standby: boolean }) => r.standby)
        .instance_id === "replica-a"
      ? urls[0]
      : urls[1];

  /** Pushes an event while the hook answers `status`, and waits for its fate. */
  const send = async (id: string, status: number, fate: "dead" | "parked" | "delivered") => {
    hook.status = status;
    vk.push([message(id)], 42);
    await waitFor(
      async () => {
        if (fate === "dead") {
          return (await api("/api/dead-letters")).items.some((l: { event_id: string }) =>
            l.event_id === id
          );
        }
        if (fate === "parked") {
          return (await api("/api/parked")).items.some((p: { event_id: string }) =>
            p.event_id === id
          );
        }
        return hook.received.includes(`${id}:200`);
      },
      `${id} ${fate}`,
      20_000,
    );
  };

  const browser = await launchBrowser();
  try {
    for (const width of [1280, 390]) {
      const w = `${width} px`;
      await send(`replay-${width}`, 400, "dead");
      await send(`delete-${width}`, 400, "dead");
      await send(`parked-${width}`, 503, "parked");
      // The owner's attempts reach the standby's health with its next fleet report (5 s).
      const codes = async () =>
        (await api("/api/status", standbyUrl)).health.reasons.map((r: { code: string }) => r.code);
      await waitFor(async () => (await codes()).includes("destination_failing"), "failing", 15_000);

      const context = await browser.newContext({
        viewport: { width, height: width > 500 ? 900 : 844 },
      });
      const page = await context.newPage();
      await page.goto(`${standbyUrl}/`);
      await page.fill("input[name=token]", TOKEN);
      await page.click("button[type=submit]");
      await page.waitForSelector("#health");

      // The badge says degraded, and why.
      assert.equal((await page.textContent("#health"))?.trim(), "degraded", w);
      const reasons = await page.textContent("#health-reasons") ?? "";
      assert.match(reasons, /Destination hook is failing: HTTP 503/, w);
      assert.ok(await page.isVisible("#health-reasons"), `${w}: the reasons show`);

      // The fleet: both replicas, this one on standby.
      assert.equal((await page.textContent("#standby"))?.trim(), "standby", w);
      assert.equal(await page.locator("#fleet tr.replica").count(), 2, w);
      assert.match(await page.textContent("#fleet") ?? "", /polls 42/, w);
      assert.ok(await fits(page), `${w}: the page fits`);
      await page.screenshot({ path: `${dir}/workbench-${width}.png`, fullPage: true });

      // A dead letter replayed from its row, once the hook is back.
      hook.status = 200;
      const row = (id: string) => page.locator(`tr.dead-letter:has-text("${id}")`);
      assert.equal(await row(`replay-${width}`).count(), 1, w);
      assert.match(
        await row(`replay-${width}`).textContent() ?? "",
        /HTTP 400 from .*the hook says no/,
      );
      await row(`replay-${width}`).locator("button[name=replay]").click();
      await page.waitForSelector("#health");
      assert.equal(await row(`replay-${width}`).count(), 0, `${w}: the replayed letter is gone`);
      assert.ok(hook.received.includes(`replay-${width}:200`), `${w}: and delivered`);

      // Another deleted: gone, and never sent again.
      await row(`delete-${width}`).locator("button[name=delete]").click();
      await page.waitForSelector("#health");
      assert.equal(await row(`delete-${width}`).count(), 0, `${w}: the deleted letter is gone`);
      assert.ok(!hook.received.includes(`delete-${width}:200`), w);

      // The parked delivery, retried now from the destination's row.
      const destination = page.locator('tr.destination[data-destination="hook"]');
      assert.equal(await page.locator(`tr.parked:has-text("parked-${width}")`).count(), 1, w);
      await destination.locator("button[name=retry-now]").click();
      await page.waitForSelector("#health");
      assert.ok(hook.received.includes(`parked-${width}:200`), `${w}: retried now`);
      assert.equal(await page.locator(`tr.parked:has-text("parked-${width}")`).count(), 0, w);

      // Paused: said everywhere, deliveries parked untried; resumed: they go.
      await destination.locator("button[name=pause]").click();
      await page.waitForSelector("#health");
      assert.match(await destination.textContent() ?? "", /paused/, w);
      assert.match(await page.textContent("#health-reasons") ?? "", /hook is paused/, w);
      assert.equal(await destination.locator("button[name=resume]").count(), 1, w);
      await send(`paused-${width}`, 200, "parked");
      assert.ok(!hook.received.some((r) => r.startsWith(`paused-${width}:`)), `${w}: untried`);
      await page.reload();
      assert.ok(await fits(page), `${w}: the page fits with the paused destination`);
      await destination.locator("button[name=resume]").click();
      await page.waitForSelector("#health");
      assert.ok(hook.received.includes(`paused-${width}:200`), `${w}: sent on resume`);
      assert.equal(await destination.locator("button[name=pause]").count(), 1, w);
      assert.doesNotMatch(
        await page.textContent("#health-reasons") ?? "",
        /is failing|is paused/,
        `${w}: the hook delivers again`,
      );
      assert.ok(await fits(page), `${w}: the page fits`);
      await context.close();
      // The other replica learns of the resume within a second (PAUSED_CACHE_MS).
      await new Promise((r) => setTimeout(r, 1_100));
    }
  } finally {
    await browser.close();
  }
  assert.equal(await a.stop(), 0);
  assert.equal(await b.stop(), 0);
});

Deno.test("without a token the page fits 390 px: the counts-only banner wraps", async () => {
  await using vk = await startFakeVk({ tokens: { 42: "open-token" } });
  await using service = await spawnService({
    VK_TOKEN: "open-token",
    VK_GROUP_ID: "42",
    VK_API_URL: vk.apiUrl,
    VK_LONGPOLL_WAIT: "1",
    HOST: "127.0.0.1",
    PORT: "0",
  });
  const url = await service.url();
  const browser = await launchBrowser();
  try {
    for (const width of [390, 1280]) {
      const page = await browser.newPage({ viewport: { width, height: 844 } });
      await page.goto(`${url}/`);
      const notice = page.locator("#aggregates-notice");
      assert.match(await notice.textContent() ?? "", /set STATUS_TOKEN/);
      const box = (await notice.boundingBox())!;
      assert.ok(box.x >= 0 && box.x + box.width <= width, `${width} px: the banner stays inside`);
      assert.ok(await fits(page), `${width} px: the page fits without a token`);
      assert.equal(await page.locator("#dead-letters").count(), 0, "no letters without a token");
      await page.close();
    }
  } finally {
    await browser.close();
  }
});
