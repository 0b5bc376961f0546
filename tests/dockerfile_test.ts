/**
 * No Docker engine runs here, so the Dockerfile is held to its rules by reading it: the
 * pinned Deno, production dependencies cached from the lock file, a non-root user, no
 * secrets baked in, exactly the `start` task's command line run as `deno run` itself, a
 * health check, volumes.
 */
import assert from "node:assert/strict";
import {
  bareSpecifiers,
  isTestSource,
  pruneUnusedImports,
  sourcesUnder,
} from "../scripts/production_deps.ts";
import { moduleGraph } from "../bench/module_graph.ts";
import { taskCommand } from "./support/tasks.ts";

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

Deno.test("the Dockerfile caches the production dependencies at build time from the lock file", async () => {
  const runs = of("RUN").join("\n");
  assert.match(runs, /scripts\/production_deps\.ts/);
  assert.match(runs, /deno install --frozen --entrypoint src\/main\.ts src\/start_permissions\.ts/);
  assert.ok(of("COPY").some((c) => /deno\.json deno\.lock/.test(c)));
  for (const copy of of("COPY")) {
    for (const source of copy.split(/\s+/).filter((w) => !w.startsWith("--")).slice(0, -1)) {
      await Deno.stat(new URL(source, root)); // throws when the file is gone
    }
  }
});

Deno.test("a kind's tests and test harness beside its module stay out of the image", async () => {
  assert.deepEqual(
    ["nats_test.ts", "testing.ts", "mod.ts", "testing_tools.ts"].map(isTestSource),
    [true, true, false, false],
  );
  const ignored = (await Deno.readTextFile(new URL(".dockerignore", root))).split("\n");
  for (const pattern of ["src/**/*_test.ts", "src/**/testing.ts"]) {
    assert.ok(ignored.includes(pattern), `.dockerignore lacks ${pattern}`);
  }
});

Deno.test("the image drops exactly the imports that the service's module graph does not use", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", root)));
  const lock = JSON.parse(await Deno.readTextFile(new URL("deno.lock", root)));
  const sources: string[] = [];
  for await (const source of sourcesUnder(new URL("src", root).pathname)) sources.push(source);
  const pruned = pruneUnusedImports(config, lock, bareSpecifiers(sources));
  assert.deepEqual(pruned.dropped.sort(), [
    "@sparticuz/chromium",
    "@valibot/to-json-schema",
    "ajv",
    "fast-check",
    "ioredis",
    "playwright-core",
    "standardwebhooks",
  ]);
  const kept = Object.values(pruned.config.imports!).map((t) => t.replace(/^npm:\/?|\/$/g, ""));
  assert.deepEqual(
    [...new Set(pruned.lock.workspace!.dependencies!.map((d) => d.slice(4)))].sort(),
    [...new Set(kept)].sort(),
    "the lock file names the kept imports only",
  );
  // Deno's own module graph is the authority: every bare specifier in it must stay mapped.
  for (const entry of ["src/main.ts", "src/start_permissions.ts"]) {
    const info = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", entry],
      cwd: root,
      stdout: "piped",
    }).output();
    const graph = JSON.parse(new TextDecoder().decode(info.stdout)) as {
      modules: { dependencies?: { specifier: string }[] }[];
    };
    const bare = graph.modules.flatMap((m) => m.dependencies ?? []).map((d) => d.specifier)
      .filter((s) => !/^(?:\.|\/|[a-z]+:)/.test(s));
    const keys = Object.keys(pruned.config.imports!);
    for (const specifier of bare) {
      assert.ok(
        keys.some((k) => specifier === k || specifier.startsWith(k.endsWith("/") ? k : `${k}/`)),
        `${entry} imports ${specifier}, which the image would lack`,
      );
    }
  }
});

Deno.test("the image's lock file lists exactly the npm packages its module graph can load", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", root)));
  const lock = JSON.parse(await Deno.readTextFile(new URL("deno.lock", root)));
  const sources: string[] = [];
  for await (const source of sourcesUnder(new URL("src", root).pathname)) sources.push(source);
  const { lock: pruned } = pruneUnusedImports(config, lock, bareSpecifiers(sources));
  const locked = Object.keys(pruned.npm!);
  const name = (key: string) => key.replace(/^(@?[^@]+)@.*$/, "$1");
  for (const dev of ["playwright-core", "fast-check", "pure-rand", "@valibot/to-json-schema"]) {
    assert.ok(Object.keys(lock.npm).some((k) => name(k) === dev), `${dev} is in the full lock`);
    assert.ok(!locked.some((k) => name(k) === dev), `${dev} is in the image's lock`);
  }
  for (const dev of ["@sparticuz/chromium", "tar-fs", "standardwebhooks", "ajv"]) {
    assert.ok(!locked.some((k) => name(k) === dev), `${dev} is in the image's lock`);
  }
  // Deno's module graph of what the image runs is the authority for the packages it loads
  // itself; each one's own dependencies come along (the lock says which).
  const loaded = new Set<string>();
  for (const entry of ["src/main.ts", "src/start_permissions.ts"]) {
    for (const p of (await moduleGraph(entry)).npm_packages) loaded.add(p);
  }
  const roots = locked.filter((k) => loaded.has(k.replace(/_.*$/, "")));
  assert.deepEqual(roots.map((k) => k.replace(/_.*$/, "")).sort(), [...loaded].sort());
  const dependencies = new Set(
    locked.flatMap((k) => [
      ...(pruned.npm![k]!.dependencies ?? []),
      ...(pruned.npm![k]!.optionalDependencies ?? []),
    ]).map(name),
  );
  for (const key of locked) {
    assert.ok(
      loaded.has(key.replace(/_.*$/, "")) || dependencies.has(name(key)),
      `${key} is in the image's lock but nothing the image loads needs it`,
    );
  }
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

Deno.test("the container runs exactly the start task's command line, as deno run itself", async () => {
  const [cmd] = of("CMD");
  assert.ok(cmd, "a CMD");
  // Shell form for the task's `$(…)`; `exec` puts deno run in the shell's place for signals.
  assert.equal(cmd, `exec ${await taskCommand("start")}`);
  assert.match(cmd, /^exec deno run /, "deno run, not deno task");
  assert.ok(!/\s(?:-A|--allow-all)\b/.test(cmd), "no blanket permissions");
});

Deno.test("the Dockerfile checks health, exposes 8080 and declares the volumes", () => {
  assert.match(of("HEALTHCHECK").join(" "), /\/healthz/);
  assert.deepEqual(of("EXPOSE"), ["8080"]);
  // The service listens on 127.0.0.1 by default; a container must take its published port.
  assert.match(of("ENV").join(" "), /(^|\s)HOST=0\.0\.0\.0(\s|$)/);
  const volumes = JSON.parse(of("VOLUME")[0]!);
  assert.deepEqual(volumes.sort(), ["/service/data"]);
  // Logged once, to stdout: LOG_DIR (files as well) is for whoever asks for it.
  assert.doesNotMatch(of("ENV").join(" "), /(^|\s)LOG_DIR=/);
});

Deno.test(".dockerignore keeps secrets and test files out of the image", async () => {
  const ignore = (await Deno.readTextFile(new URL(".dockerignore", root))).split("\n");
  for (const entry of [".env", ".git", "tests", "data", "logs"]) {
    assert.ok(ignore.includes(entry), entry);
  }
});
