/// <reference lib="dom" />
/**
 * What a person sees: headless Chromium (the system's, else the npm-shipped one) opens the status page of a running
 * service fed by a simulated VK community, logs in with the token, watches the counters
 * rise, and checks at a laptop's and a phone's width that the page fits, every section
 * shows and the charts draw the traffic. `SCREENSHOT_DIR=docs` refreshes the README's
 * screenshots. Then it logs out.
 */
import assert from "node:assert/strict";
import { chromium, type Page } from "playwright-core";
import { chromiumLaunch } from "./support/prerequisites.ts";
import { spawnService } from "./support/service_process.ts";
import { startVkSimulator } from "./support/vk_simulator.ts";
import { waitFor } from "./support/wait.ts";

const STATUS_TOKEN = "let-me-in-let-me-in";
const GROUP = 42;

/** A webhook receiver on 127.0.0.1 that answers in 5–60 ms (slower when asked) and fails every 12th request. */
function startReceiver() {
  let requests = 0;
  const state = { slow: false };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    await req.body?.cancel();
    const n = ++requests;
    const delay = state.slow ? 120 + (n * 53) % 180 : 5 + (n * 37) % 55;
    await new Promise((r) => setTimeout(r, delay));
    return new Response(n % 12 === 0 ? "busy" : "ok", { status: n % 12 === 0 ? 503 : 200 });
  });
  return {
    state,
    url: `http://127.0.0.1:${server.addr.port}/hook`,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

/** What the page shows, read in the browser. */
function readLayout(page: Page) {
  return page.evaluate(() => {
    const bars = (id: string) =>
      [...document.querySelectorAll(`#${id} svg .bars rect`)].map((r) =>
        Number(r.getAttribute("height"))
      );
    const sections = [...document.querySelectorAll("main > section")].map((s) => {
      const box = s.getBoundingClientRect();
      return {
        title: s.querySelector("h2")?.textContent ?? "",
        left: box.left,
        right: box.right,
        height: box.height,
      };
    });
    return {
      scrollWidth: document.documentElement.scrollWidth,
      innerWidth: globalThis.innerWidth,
      sections,
      charts: document.querySelectorAll("svg.chart").length,
      eventBars: bars("chart-events"),
      errorBars: bars("chart-errors"),
      latencyMarks: [...document.querySelectorAll("#chart-latency svg .line path")]
        .map((p) => (p.getAttribute("d") ?? "").length),
      legend: [...document.querySelectorAll("#chart-events .legend li")].map((li) =>
        [...li.childNodes].filter((n) => n.nodeType === Node.TEXT_NODE)
          .map((n) => n.textContent).join("").trim()
      ),
      chartWidths: [...document.querySelectorAll("svg.chart")].map((svg) =>
        svg.getBoundingClientRect().width
      ),
    };
  });
}

Deno.test("the status page fits a laptop and a phone and charts the traffic, after logging in", async () => {
  // Never skipped: without Chromium this fails, with the one line that says what to install.
  const launch = await chromiumLaunch();
  await using simulator = await startVkSimulator({
    groupId: GROUP,
    token: "browser-token",
    rate: 0,
  });
  const vk = simulator.vk;
  vk.users.set(7, { id: 7, first_name: "Анна", last_name: "Иванова", domain: "anna" });
  await using receiver = startReceiver();
  const cwd = await Deno.makeTempDir({ prefix: "vk-router-browser-" });
  await using _cwd = { [Symbol.asyncDispose]: () => Deno.remove(cwd, { recursive: true }) };
  await Deno.writeTextFile(
    `${cwd}/routes.json`,
    JSON.stringify({
      destinations: {
        audit: { kind: "webhook", url: receiver.url, timeout_ms: 2000 },
        console: { kind: "log" },
      },
      rules: [
        {
          name: "commands and buttons to audit",
          when: { event_type: ["command_call", "button_pressed"] },
          to: ["audit"],
          continue: true,
        },
        { name: "everything to the log", to: ["console"] },
      ],
    }),
  );
  await using service = await spawnService({
    VK_TOKEN: "browser-token",
    VK_GROUP_ID: String(GROUP),
    VK_API_URL: vk.apiUrl,
    VK_LONGPOLL_WAIT: "1",
    STATUS_TOKEN,
    ROUTES_FILE: "routes.json",
    HOST: "127.0.0.1",
    PORT: "0",
  }, cwd);
  const url = await service.url();
  const api = async () =>
    await (await fetch(`${url}/api/status`, {
      headers: { authorization: `Bearer ${STATUS_TOKEN}` },
    })).json();
  await waitFor(() => (vk.calls.get("a_check") ?? 0) > 0, "the first poll");

  const browser = await chromium.launch({
    executablePath: launch.executablePath,
    env: { ...Deno.env.toObject(), ...launch.env },
    args: [
      ...launch.args,
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--no-first-run",
    ],
  });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await page.goto(`${url}/`);
    assert.match(page.url(), /\/login$/, "the page asks for the token first");
    await page.fill("input[name=token]", STATUS_TOKEN);
    await page.click("button[type=submit]");
    await page.waitForSelector("#events-total");
    const total = async () =>
      Number((await page.textContent("#events-total"))!.replace(/\D+/g, ""));
    assert.equal(await total(), 0);
    assert.match(await page.textContent("#chart-events") ?? "", /No traffic yet/);

    // Traffic in bursts over ~40 s, so that the 10-second buckets differ: a quiet start,
    // a peak with a slow webhook, a tail; a few invalid events and one long-poll fault.
    const bursts = [2, 4, 7, 5, 12, 18, 26, 22, 30, 14, 9, 16, 6, 11, 4, 8];
    let pushed = 0;
    for (const [i, size] of bursts.entries()) {
      receiver.state.slow = i >= 7 && i <= 9;
      simulator.burst(size);
      pushed += size;
      if (i % 5 === 2) {
        vk.push(
          [{ type: "message_new", event_id: `bad-${i}`, group_id: GROUP, object: {} }],
          GROUP,
        );
        pushed++;
      }
      if (i === 10) vk.pollFault([{ status: 502 }], GROUP);
      await new Promise((r) => setTimeout(r, 2_500));
    }
    receiver.state.slow = false;
    vk.push(
      Array.from({ length: 5 }, (_, i) => ({
        type: "message_new",
        event_id: `browser-${i}`,
        group_id: GROUP,
        object: {
          message: {
            from_id: 7,
            peer_id: 2000000001,
            text: `hello ${i}`,
            conversation_message_id: 10_000 + i,
          },
        },
      })),
      GROUP,
    );
    pushed += 5;

    let status = await api();
    await waitFor(
      async () => {
        status = await api();
        return status.events_received_total + status.events_rejected_total >= pushed &&
          status.recent_events.some((e: { text: string | null }) => e.text === "hello 4");
      },
      "every pushed event to be counted and the last one to show",
      30_000,
    );
    assert.ok(status.events_rejected_total >= 3, "the invalid events were rejected");
    const types = Object.keys(status.events_received).sort();
    assert.ok(types.length >= 4, `several event types: ${types}`);

    // Counters rise as events are validated; the recent-events list once they are routed.
    await page.reload();
    assert.equal(await total(), status.events_received_total);
    const events = (await page.textContent("#recent-events")) ?? "";
    assert.match(events, /Анна Иванова/);
    assert.match(events, /hello 4/, "an authorised viewer sees message texts");

    const dir = Deno.env.get("SCREENSHOT_DIR") ??
      await Deno.makeTempDir({ prefix: "vk-router-screenshot-" });
    for (const width of [1280, 390]) {
      await page.setViewportSize({ width, height: width > 500 ? 900 : 844 });
      await page.reload();
      const layout = await readLayout(page);
      assert.ok(
        layout.scrollWidth <= layout.innerWidth,
        `${width} px: the page is ${layout.scrollWidth} px wide, wider than the screen`,
      );
      // The webhook's 503s park a few deliveries: their section shows while they wait.
      assert.deepEqual(
        layout.sections.map((s) => s.title).filter((t) => t !== "Parked deliveries"),
        [
          "Activity",
          "Communities",
          "Enrichment",
          "Destinations",
          "Dead letters",
          "Events in, by type",
          "Recent errors",
          "Last 20 events",
        ],
      );
      for (const s of layout.sections) {
        assert.ok(s.height > 0 && s.left >= 0 && s.right <= width, `${width} px: ${s.title} shows`);
      }
      assert.equal(layout.charts, 3);
      for (const w of layout.chartWidths) assert.ok(w > 250, `${width} px: a chart ${w} px wide`);
      assert.ok(
        layout.eventBars.filter((h) => h > 0).length >= 3,
        `${width} px: bars in several buckets: ${layout.eventBars}`,
      );
      assert.ok(layout.errorBars.some((h) => h > 0), `${width} px: errors are charted`);
      assert.ok(layout.latencyMarks.some((n) => n > 0), `${width} px: latency is charted`);
      assert.deepEqual([...layout.legend].sort(), types, "the legend names every type received");

      const shot = `${dir}/status-page-${width}.png`;
      await page.screenshot({ path: shot, fullPage: true });
      assert.ok((await Deno.stat(shot)).size > 20_000, "a real screenshot was saved");
    }

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
