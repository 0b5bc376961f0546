/**
 * No Docker engine runs here, so the Dockerfile is held to its rules by reading it: the
 * pinned Deno, cached dependencies, a non-root user, no secrets baked in, exec-form
 * `deno run` with exactly the `start` task's permission flags, a health check, volumes.
 */
import assert from "node:assert/strict";
import { startTaskFlags } from "./support/service_process.ts";

const root = new URL("../", import.meta.url);
const dockerfile = await Deno.readTextFile(new URL("Dockerfile", root));
/** Instructions with continuation lines joined and comments dropped. */
const instructions = dockerfile.replace(/\\\n\s*/g, " ").split("\n").map((l) => l.trim()).filter((
  l,
) => l && !l.startsWith("#"));
const of = (name: string) =>
  instructions.filter((l) => l.startsWith(`${name} `)).map((l) => l.slice(name.length + 1).trim());

Deno.test("the Dockerfile pins the Deno version CI uses", async () => {
  const ci = await Deno.readTextFile(new URL(".ci/run", root));
  const ciVersion = /^DENO_VERSION=(\S+)$/m.exec(ci)?.[1];
  assert.ok(ciVersion, "CI pins a Deno version");
  assert.deepEqual(of("FROM"), [`denoland/deno:${ciVersion}`]);
});

Deno.test("the Dockerfile caches dependencies at build time from the lock file", () => {
  const runs = of("RUN").join("\n");
  assert.match(runs, /deno install --frozen/);
  assert.match(runs, /deno cache --frozen src\/main\.ts/);
  assert.ok(of("COPY").some((c) => /deno\.json deno\.lock/.test(c)));
});

Deno.test("the Dockerfile runs as the non-root deno user", () => {
  const users = of("USER");
  assert.deepEqual(users.at(-1), "deno");
  assert.ok(
    instructions.indexOf("USER deno") < instructions.findIndex((l) => l.startsWith("CMD ")),
  );
});

Deno.test("the Dockerfile bakes in no secret", () => {
  for (const line of [...of("ARG"), ...of("ENV")]) {
    assert.doesNotMatch(line, /TOKEN|SECRET|PASSWORD|KEY=/i, `a secret in: ${line}`);
  }
});

Deno.test("the container runs deno run directly, with exactly the start task's permission flags", async () => {
  const [cmd] = of("CMD");
  assert.ok(cmd, "a CMD");
  const argv = JSON.parse(cmd) as string[];
  assert.deepEqual(argv.slice(0, 2), ["deno", "run"], "exec form, deno run, not deno task");
  assert.equal(argv.at(-1), "src/main.ts");
  assert.deepEqual(argv.slice(2, -1), await startTaskFlags());
  assert.ok(!argv.some((a) => a === "-A" || a === "--allow-all"), "no blanket permissions");
});

Deno.test("the Dockerfile checks health, exposes 8080 and declares the volumes", () => {
  assert.match(of("HEALTHCHECK").join(" "), /\/healthz/);
  assert.deepEqual(of("EXPOSE"), ["8080"]);
  // The service listens on 127.0.0.1 by default; a container must take its published port.
  assert.match(of("ENV").join(" "), /(^|\s)HOST=0\.0\.0\.0(\s|$)/);
  const volumes = JSON.parse(of("VOLUME")[0]!);
  assert.deepEqual(volumes.sort(), ["/service/data", "/service/logs"]);
});

Deno.test(".dockerignore keeps secrets and test files out of the image", async () => {
  const ignore = (await Deno.readTextFile(new URL(".dockerignore", root))).split("\n");
  for (const entry of [".env", ".git", "tests", "data", "logs"]) {
    assert.ok(ignore.includes(entry), entry);
  }
});
