/// <reference lib="dom" />
/**
 * A machine with no system Chromium still runs the browser test: the npm-shipped one
 * (`@sparticuz/chromium`) is unpacked and launched by playwright-core, and renders a page
 * with Cyrillic text, as the status page has.
 */
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { chromiumLaunch, missingChromium } from "./support/prerequisites.ts";

Deno.test({
  name: "without a system Chromium the npm-shipped one renders a page with Cyrillic text",
  ignore: !(Deno.build.os === "linux" && Deno.build.arch === "x86_64"),
  async fn() {
    // As on a bare machine: no CHROMIUM_PATH, nothing at the usual paths.
    const explicit = Deno.env.get("CHROMIUM_PATH");
    Deno.env.delete("CHROMIUM_PATH");
    try {
      const nowhere = ["/nonexistent/chromium"];
      assert.equal(await missingChromium(nowhere), null, "the runner does not ask to install it");
      const launch = await chromiumLaunch(nowhere);
      assert.match(launch.source, /^npm:@sparticuz\/chromium@\d/);
      const browser = await chromium.launch({
        executablePath: launch.executablePath,
        env: { ...Deno.env.toObject(), ...launch.env },
        args: launch.args,
      });
      try {
        const page = await browser.newPage();
        await page.setContent(
          '<p><span id="wide">шшшшшш</span> <span id="narrow">гггггг</span></p>',
        );
        const [wide, narrow] = await page.evaluate(() =>
          ["wide", "narrow"].map((id) => document.getElementById(id)!.getBoundingClientRect().width)
        );
        // Real glyphs differ in width; missing ones are all the same box (or nothing).
        assert.ok(narrow! > 0 && wide! > narrow! * 1.2, `widths ${wide} and ${narrow}`);
        assert.equal(await page.evaluate(() => navigator.userAgent.includes("Chrome")), true);
      } finally {
        await browser.close();
      }
    } finally {
      if (explicit !== undefined) Deno.env.set("CHROMIUM_PATH", explicit);
    }
  },
});
