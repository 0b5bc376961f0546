/**
 * What a person sees: headless Chromium (Debian's) opens the status page of a running
 * service fed by the fake VK, logs in with the token, watches the counters rise, and logs out.
 */
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { startFakeVk } from "./support/fake_vk.ts";
import { spawnService } from "./support/service_process.ts";
import { waitFor } from "./support/wait.ts";

const CHROMIUM = Deno.env.get("CHROMIUM_PATH") ?? "/usr/bin/chromium";

Deno.test("the status page shows events arriving, after logging in with the token", async () => {
  await using vk = await startFakeVk({ tokens: { 42: "browser-token" } });
  vk.users.set(7, { id: 7, first_name: "Анна", last_name: "Иванова", domain: "anna" });
  vk.chats.set(2000000001, "Test chat");
  await using service = await spawnService({
    VK_TOKEN: "browser-token",
    VK_GROUP_ID: "42",
    VK_API_URL: vk.apiUrl,
    VK_LONGPOLL_WAIT: "1",
    STATUS_TOKEN: "let-me-in-0123456789",
    HOST: "127.0.0.1",
    PORT: "0",
  });
  const url = await service.url();
  await waitFor(() => (vk.calls.get("a_check") ?? 0) > 0, "the first poll");

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--no-first-run",
    ],
  });
  try {
    const page = await browser.newPage();
    await page.goto(`${url}/`);
    assert.match(page.url(), /\/login$/, "the page asks for the token first");
    await page.fill("input[name=token]", "let-me-in-0123456789");
    await page.click("button[type=submit]");
    await page.waitForSelector("#events-total");
    const total = async () =>
      Number((await page.textContent("#events-total"))!.replace(/\D+/g, ""));
    assert.equal(await total(), 0);

    vk.push(
      Array.from({ length: 5 }, (_, i) => ({
        type: "message_new",
        event_id: `browser-${i}`,
        group_id: 42,
        object: {
          message: {
            from_id: 7,
            peer_id: 2000000001,
            text: `hello ${i}`,
            conversation_message_id: i,
          },
        },
      })),
      42,
    );
    // Counters rise as events are validated; the recent-events list once they are routed.
    let events = "";
    await waitFor(
      async () => {
        await page.reload();
        events = (await page.textContent("#recent-events")) ?? "";
        return await total() >= 5 && /hello 4/.test(events);
      },
      "the counter to reach 5 and the last event to show",
      15_000,
    );
    assert.match(events, /Анна Иванова/);
    assert.match(events, /hello 4/, "an authorised viewer sees message texts");

    const dir = Deno.env.get("SCREENSHOT_DIR") ??
      await Deno.makeTempDir({ prefix: "vk-router-screenshot-" });
    const shot = `${dir}/status-page.png`;
    await page.screenshot({ path: shot, fullPage: true });
    assert.ok((await Deno.stat(shot)).size > 10_000, "a real screenshot was saved");

    // Logging out ends the session on the server: the page asks for the token again.
    await page.click("text=Log out");
    await page.waitForURL(/\/login$/);
    await page.goto(`${url}/`);
    assert.match(page.url(), /\/login$/, "the old session no longer opens the page");
  } finally {
    await browser.close();
  }
  assert.equal(await service.stop(), 0);
});
