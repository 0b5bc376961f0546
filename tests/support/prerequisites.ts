/**
 * What the test suite needs on the machine and cannot install by itself: a `redis-server`
 * binary and Chromium. Each check answers with one line that says what to install, so a
 * bare machine fails with that line instead of a stack trace from deep inside a test.
 * @module
 */

/** Where the browser test finds Chromium: `CHROMIUM_PATH`, else the platform's usual place. */
export function chromiumPath(): string {
  return Deno.env.get("CHROMIUM_PATH") ??
    (Deno.build.os === "darwin"
      ? "/Applications/Chromium.app/Contents/MacOS/Chromium"
      : "/usr/bin/chromium");
}

/** `null` when Chromium is there, else the line that says what to install. */
export async function missingChromium(path: string = chromiumPath()): Promise<string | null> {
  try {
    const info = await Deno.stat(path);
    if (info.isFile && (info.mode === null || (info.mode & 0o111) !== 0)) return null;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return `Cannot find Chromium at ${path}: install it (Debian/Ubuntu: apt-get install chromium; ` +
    `macOS: brew install --cask chromium) or set CHROMIUM_PATH to its executable`;
}

/** The line that says how to install `redis-server`. */
export const REDIS_SERVER_MISSING =
  "Cannot find redis-server on PATH: install it (Debian/Ubuntu: apt-get install redis-server; " +
  "macOS: brew install redis)";

/** `null` when `redis-server` runs, else {@linkcode REDIS_SERVER_MISSING}. */
export async function missingRedisServer(): Promise<string | null> {
  try {
    const { success } = await new Deno.Command("redis-server", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).output();
    return success ? null : REDIS_SERVER_MISSING;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return REDIS_SERVER_MISSING;
    throw error;
  }
}

/** Whether `promtool` (Debian package `prometheus`) runs: the alert-rule checks need it. */
export async function hasPromtool(): Promise<boolean> {
  return await new Deno.Command("promtool", { args: ["--version"], stdout: "null", stderr: "null" })
    .output().then((o) => o.success, () => false);
}
