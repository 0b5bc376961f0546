// deno-lint-ignore-file no-console -- a build script that reports what it did
/**
 * Drops from `deno.json` and `deno.lock` the imports that `src/` never uses (the test-only
 * packages) and, from the lock's `npm` section, every package the kept ones do not reach,
 * for the Docker image (so scanners reading its lock see only what it can load): Deno caches every package that the import map and the
 * lock file name, whatever the entry point, and `--cached-only` wants them all. After this,
 * `deno install --frozen --entrypoint src/main.ts` caches the production packages only, at
 * the versions locked. Only the image's copy is rewritten: `deno run --no-config
 * --allow-read=. --allow-write=deno.json,deno.lock scripts/production_deps.ts`.
 * @module
 */

/** The parts of `deno.json` this reads. */
export interface DenoConfig {
  imports?: Record<string, string>;
  compilerOptions?: { jsxImportSource?: string };
  [key: string]: unknown;
}

/** A package of a version 5 lock file's `npm` section. */
export interface LockedPackage {
  dependencies?: string[];
  optionalDependencies?: string[];
  [key: string]: unknown;
}

/** The parts of a version 5 `deno.lock` this rewrites. */
export interface DenoLock {
  specifiers?: Record<string, string>;
  /** `name@version[_peer…]` → the package; its dependencies are `name` or `name@version…`. */
  npm?: Record<string, LockedPackage>;
  workspace?: { dependencies?: string[]; [key: string]: unknown };
  [key: string]: unknown;
}

/** `npm:@scope/name@1.2.3` → `@scope/name`. */
function packageName(specifier: string): string {
  return specifier.replace(/^npm:/, "").replace(/^(@?[^@]+)@.*$/, "$1");
}

/**
 * The keys of the lock's `npm` section that `specifiers` (`npm:name@range`, as the lock's
 * `specifiers` map names them) reach through their dependencies: what the kept imports
 * can load, and so the only packages a scanner reading the image's lock should see.
 */
export function reachablePackages(lock: DenoLock, specifiers: Iterable<string>): Set<string> {
  const packages = lock.npm ?? {};
  const keys = Object.keys(packages);
  /** A dependency is `name` (its one locked version) or `name@version…` (a key itself). */
  const resolve = (dependency: string): string[] =>
    dependency in packages
      ? [dependency]
      : keys.filter((k) =>
        k.startsWith(`${dependency}@`) && /^\d/.test(k.slice(dependency.length + 1))
      );
  const reached = new Set<string>();
  const queue = [...specifiers].flatMap((s) => {
    const version = lock.specifiers?.[s];
    return version === undefined ? [] : [`${packageName(s)}@${version}`];
  });
  while (queue.length > 0) {
    const key = queue.pop()!;
    if (reached.has(key) || !(key in packages)) continue;
    reached.add(key);
    const { dependencies = [], optionalDependencies = [] } = packages[key]!;
    for (const dependency of [...dependencies, ...optionalDependencies]) {
      queue.push(...resolve(dependency));
    }
  }
  return reached;
}

/** Bare specifiers in `import`, `export … from` and `import()` of TypeScript sources. */
export function bareSpecifiers(sources: Iterable<string>): Set<string> {
  const found = new Set<string>();
  for (const source of sources) {
    for (const [, specifier] of source.matchAll(/\b(?:from|import)\s*\(?\s*["']([^"']+)["']/g)) {
      if (!/^(?:\.|\/|[a-z]+:)/.test(specifier!)) found.add(specifier!);
    }
  }
  return found;
}

/** Whether import map `key` maps `specifier` (`"hono/"` maps every `"hono/…"`). */
function maps(key: string, specifier: string): boolean {
  return specifier === key || specifier.startsWith(key.endsWith("/") ? key : `${key}/`);
}

/** `npm:/hono@4.13.19/` (a prefix entry's target) as the lock file names it: `npm:hono@4.13.19`. */
function lockSpecifier(target: string): string {
  return target.replace(/^npm:\/?/, "npm:").replace(/\/$/, "");
}

/** `config` and `lock` without the imports that no specifier in `used` maps to. */
export function pruneUnusedImports(
  config: DenoConfig,
  lock: DenoLock,
  used: ReadonlySet<string>,
): { config: DenoConfig; lock: DenoLock; dropped: string[] } {
  const jsx = config.compilerOptions?.jsxImportSource;
  const specifiers = jsx ? new Set([...used, `${jsx}/jsx-runtime`]) : used;
  const imports = Object.entries(config.imports ?? {});
  const isUsed = ([key]: [string, string]) => [...specifiers].some((s) => maps(key, s));
  const kept = imports.filter(isUsed);
  const dropped = imports.filter((entry) => !isUsed(entry));
  const keptTargets = new Set(kept.map(([, target]) => lockSpecifier(target)));
  const gone = new Set(
    dropped.map(([, target]) => lockSpecifier(target)).filter((t) => !keptTargets.has(t)),
  );
  const reached = reachablePackages(lock, keptTargets);
  return {
    config: { ...config, imports: Object.fromEntries(kept) },
    lock: {
      ...lock,
      ...(lock.npm && {
        npm: Object.fromEntries(Object.entries(lock.npm).filter(([key]) => reached.has(key))),
      }),
      ...(lock.specifiers && {
        specifiers: Object.fromEntries(
          Object.entries(lock.specifiers).filter(([s]) => !gone.has(s)),
        ),
      }),
      ...(lock.workspace && {
        workspace: {
          ...lock.workspace,
          dependencies: (lock.workspace.dependencies ?? []).filter((s) => !gone.has(s)),
        },
      }),
    },
    dropped: dropped.map(([key]) => key),
  };
}

/**
 * Whether a file under `src/` is a test or a test harness (`*_test.ts`, `testing.ts`): a
 * destination kind's folder keeps them beside its module, and neither the image nor its
 * dependencies include them.
 */
export function isTestSource(name: string): boolean {
  return /_test\.tsx?$|^testing\.tsx?$/.test(name);
}

/** The text of every TypeScript file under `dir` but the tests and test harnesses. */
export async function* sourcesUnder(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) yield* sourcesUnder(path);
    else if (/\.tsx?$/.test(entry.name) && !isTestSource(entry.name)) {
      yield await Deno.readTextFile(path);
    }
  }
}

if (import.meta.main) {
  const sources: string[] = [];
  for await (const source of sourcesUnder("src")) sources.push(source);
  const { config, lock, dropped } = pruneUnusedImports(
    JSON.parse(await Deno.readTextFile("deno.json")),
    JSON.parse(await Deno.readTextFile("deno.lock")),
    bareSpecifiers(sources),
  );
  await Deno.writeTextFile("deno.json", `${JSON.stringify(config, null, 2)}\n`);
  await Deno.writeTextFile("deno.lock", `${JSON.stringify(lock, null, 2)}\n`);
  console.log(`Dropped the imports src/ does not use: ${dropped.join(", ") || "none"}`);
}
