/**
 * What the test suite needs on the machine and cannot install by itself: a `redis-server`
 * binary, and Chromium where the npm-shipped one (`@sparticuz/chromium`, a test-only
 * package) cannot run. Each check answers with one line that says what to install, so a
 * bare machine fails with that line instead of a stack trace from deep inside a test.
 * @module
 */

/** Where a system Chromium usually is, per platform, when `CHROMIUM_PATH` is not set. */
export const USUAL_CHROMIUM_PATHS: readonly string[] = Deno.build.os === "darwin"
  ? ["/Applications/Chromium.app/Contents/MacOS/Chromium"]
  : ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"];

/** Whether the npm-shipped Chromium (`@sparticuz/chromium`, Linux x86-64 only) can run here. */
const NPM_CHROMIUM_RUNS = Deno.build.os === "linux" && Deno.build.arch === "x86_64";

/** How the browser test launches Chromium. */
export interface ChromiumLaunch {
  executablePath: string;
  /** Flags the build needs beyond the test's own. */
  args: string[];
  /** Variables the build needs (its own libraries and fonts). */
  env: Record<string, string>;
  /** Said in the test's name of what ran: the path, or the npm package. */
  source: string;
}

/** Whether `path` is an executable file. */
async function executable(path: string): Promise<boolean> {
  try {
    const info = await Deno.stat(path);
    return info.isFile && (info.mode === null || (info.mode & 0o111) !== 0);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/**
 * The system Chromium to use: `CHROMIUM_PATH` when set (even when wrong: an explicit
 * choice is never second-guessed), else the first usual path that holds one; `null` when
 * there is none.
 */
export async function systemChromium(
  candidates: readonly string[] = USUAL_CHROMIUM_PATHS,
): Promise<string | null> {
  const explicit = Deno.env.get("CHROMIUM_PATH");
  if (explicit !== undefined) return explicit;
  for (const path of candidates) if (await executable(path)) return path;
  return null;
}

/**
 * `null` when the browser test has a Chromium (a system one, or the npm-shipped one where
 * it runs), else the line that says what to install.
 */
export async function missingChromium(
  candidates: readonly string[] = USUAL_CHROMIUM_PATHS,
): Promise<string | null> {
  const path = await systemChromium(candidates);
  if (path !== null ? await executable(path) : NPM_CHROMIUM_RUNS) return null;
  return chromiumMissingLine(path ?? candidates.join(", "));
}

/** The line that says Chromium is not at `where` and what to install. */
export function chromiumMissingLine(where: string): string {
  return `Cannot find Chromium at ${where}: install it ` +
    `(Debian/Ubuntu: apt-get install chromium; macOS: brew install --cask chromium) or set ` +
    `CHROMIUM_PATH to its executable`;
}

/** Where the npm-shipped Chromium is unpacked once per version, outside the repository. */
function npmChromiumCache(version: string): string {
  const base = Deno.env.get("XDG_CACHE_HOME") ?? `${Deno.env.get("HOME") ?? "/tmp"}/.cache`;
  return `${base}/vk-event-router/sparticuz-chromium-${version}`;
}

/** Decompresses the Brotli file `source` into `target`, or through `tar -x` into it. */
async function unbrotli(source: string, target: string, untar: boolean): Promise<void> {
  const { createReadStream } = await import("node:fs");
  const { createBrotliDecompress } = await import("node:zlib");
  const { Readable } = await import("node:stream");
  const decompressed = Readable.toWeb(createReadStream(source).pipe(createBrotliDecompress()));
  if (!untar) {
    const file = await Deno.open(target, { write: true, createNew: true, mode: 0o755 });
    return await (decompressed as ReadableStream<Uint8Array>).pipeTo(file.writable);
  }
  await Deno.mkdir(target, { recursive: true });
  const tar = new Deno.Command("tar", { args: ["-x", "-C", target], stdin: "piped" }).spawn();
  await (decompressed as ReadableStream<Uint8Array>).pipeTo(tar.stdin);
  if (!(await tar.status).success) throw new Error(`tar could not unpack ${source}`);
}

/**
 * The npm-shipped Chromium, unpacked on first use (about 5 s, 200 MB) into a cache folder
 * per version: the browser itself, its fonts, and the few libraries (NSS, NSPR, expat)
 * that a machine without a system Chromium may lack. A half-unpacked folder is never used:
 * each is unpacked beside its place and renamed into it.
 */
async function npmChromium(): Promise<ChromiumLaunch> {
  const { default: chromium } = await import("@sparticuz/chromium");
  const packageUrl = import.meta.resolve("@sparticuz/chromium");
  const bin = decodeURIComponent(new URL("../bin/", packageUrl).pathname);
  const version = /@sparticuz\/chromium\/([^/]+)\//.exec(packageUrl)?.[1] ??
    /chromium@([^/]+)/.exec(packageUrl)?.[1] ?? "current";
  const cache = npmChromiumCache(version);
  if (!await executable(`${cache}/chromium`)) {
    await Deno.mkdir(`${cache}/..`, { recursive: true });
    const staging = `${cache}.${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
    await Deno.mkdir(staging);
    await unbrotli(`${bin}chromium.br`, `${staging}/chromium`, false);
    await unbrotli(`${bin}fonts.tar.br`, staging, true);
    await unbrotli(`${bin}al2023.tar.br`, staging, true);
    await unbrotli(`${bin}swiftshader.tar.br`, staging, true);
    try {
      await Deno.rename(staging, cache);
    } catch {
      // Another run unpacked it meanwhile: use theirs.
      await Deno.remove(staging, { recursive: true });
    }
  }
  return {
    executablePath: `${cache}/chromium`,
    args: chromium.args,
    env: {
      LD_LIBRARY_PATH: [`${cache}/lib`, cache, Deno.env.get("LD_LIBRARY_PATH")]
        .filter(Boolean).join(":"),
      FONTCONFIG_PATH: `${cache}/fonts`,
    },
    source: `npm:@sparticuz/chromium@${version}`,
  };
}

/**
 * How to launch Chromium for the browser test: a system one when there is one (preferred:
 * it is what people browse with), else the npm-shipped one.
 * @throws {Error} with {@linkcode missingChromium}'s line when there is none.
 */
export async function chromiumLaunch(
  candidates: readonly string[] = USUAL_CHROMIUM_PATHS,
): Promise<ChromiumLaunch> {
  const missing = await missingChromium(candidates);
  if (missing) throw new Error(missing);
  const path = await systemChromium(candidates);
  if (path !== null) return { executablePath: path, args: [], env: {}, source: path };
  return await npmChromium();
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
