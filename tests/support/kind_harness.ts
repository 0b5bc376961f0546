/**
 * What a destination kind with its own server gives the shared tests and the bench: a
 * private server, an isolated target on it, a reader of what arrived there, and the floor
 * (the same client publishing as directly as it can). Each such kind's folder has a
 * `testing.ts` exporting `harness`; `tests/run.ts`, the contract tests, the crash test and
 * `bench/kinds.ts` find them by listing `src/deliver/kinds/` and never name a kind.
 * @module
 */

/** A server the test owns. */
export interface TestServer extends AsyncDisposable {
  url: string;
  /** Stops the server (SIGKILL by default: a crash, not a clean shutdown). */
  stop(signal?: Deno.Signal): Promise<void>;
  /** Starts it again on the same port with the same data. */
  start(): Promise<void>;
}

/** One message as the target holds it. */
export interface Arrived {
  eventId: string;
  eventType: string;
  body: string;
}

/** An isolated target on a server, and the routes-file entry that sends to it. */
export interface Provisioned extends AsyncDisposable {
  /** The routes-file destination entry (`{ kind, ... }`) that delivers to this target. */
  destination: Record<string, unknown>;
  /** Everything that arrived so far, in arrival order. */
  read(): Promise<Arrived[]>;
  /** How many messages arrived, where the server tells it cheaply (tests poll it); else `read`. */
  count?(): Promise<number>;
}

/** What the destination promises across crashes and retries. */
export type Guarantee = "exactly-once" | "at-least-once";

/** The shared tests' view of one kind. */
export interface KindHarness {
  /** The registry's kind name. */
  kind: string;
  /** The variable that names a server to use instead of a private one, e.g. `TEST_NATS_URL`. */
  testUrlVariable: string;
  /** The variable the service reads, e.g. `NATS_URL`. */
  connectionVariable: string;
  guarantee: Guarantee;
  /** Null when a private server can be started here, else the one line that says what to install. */
  missing(): Promise<string | null>;
  /** A private server on free ports; restartable, for restart tests. */
  startServer(): Promise<TestServer>;
  /** A fresh target on the server at `url`, unique per `id`, created and empty. */
  provision(url: string, id: string): Promise<Provisioned>;
  /**
   * The bench's floor: publishes `bodies` to `target` with the same client, as directly as
   * the client allows (all of them at once, acks or confirms awaited as the kind does).
   */
  floor(url: string, target: Provisioned, bodies: readonly string[]): Promise<void>;
}

const KINDS_DIR = new URL("../../src/deliver/kinds/", import.meta.url);

/** Every kind folder's harness (`src/deliver/kinds/<folder>/testing.ts`), in folder order. */
export async function kindHarnesses(): Promise<KindHarness[]> {
  const folders: string[] = [];
  for await (const entry of Deno.readDir(KINDS_DIR)) {
    if (!entry.isDirectory) continue;
    try {
      await Deno.stat(new URL(`${entry.name}/testing.ts`, KINDS_DIR));
      folders.push(entry.name);
    } catch { /* a kind without a server of its own */ }
  }
  folders.sort();
  return await Promise.all(folders.map(async (folder) => {
    const module = await import(new URL(`${folder}/testing.ts`, KINDS_DIR).href);
    return module.harness as KindHarness;
  }));
}

/**
 * The URL of each harness's server for this run (`tests/run.ts` sets the variables), or the
 * reason the tests of that kind cannot run: they fail with it rather than pass unseen.
 */
export function harnessUrl(harness: KindHarness): string {
  const url = Deno.env.get(harness.testUrlVariable);
  if (url === undefined) {
    throw new Error(
      `Cannot find the test server of ${harness.kind}: ${harness.testUrlVariable} is not set; ` +
        "run the tests with `deno task test`, which starts a private one, or set it",
    );
  }
  return url;
}
