// deno-lint-ignore-file no-console -- a development tool that tells the person at the terminal what runs where
/**
 * `deno task serve:local`: the serverless worker (`src/worker.ts` under `deno serve`, with
 * the `serve` task's flags) on this machine, with no Upstash account: its Upstash REST
 * calls go to a local Upstash-compatible gateway (`dev/upstash_gateway.ts`) in front of a
 * private redis-server started here on a free port (or the Redis `LOCAL_REDIS_URL` names;
 * never `REDIS_URL`). Both stop with it.
 *
 * The worker reads the rest of its configuration from the environment as usual; what a
 * try-out lacks gets a default, printed once: `VK_GROUP_ID` 1, `VK_CALLBACK_CONFIRMATION`
 * `local-confirmation`, and a random `VK_CALLBACK_SECRET` and `STATUS_TOKEN`. `PORT`
 * (default 8080; 0 picks a free one) is where it listens, on 127.0.0.1.
 * @module
 */
import { startUpstashGateway } from "./upstash_gateway.ts";
import { missingRedisServer } from "../tests/support/prerequisites.ts";
import { startRedisServer } from "../tests/support/redis_server.ts";
import { taskCommand } from "../tests/support/tasks.ts";

const ROOT = decodeURIComponent(new URL("../", import.meta.url).pathname);

/** A random token of letters and digits, as the worker's secrets want. */
function randomToken(prefix: string): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return prefix + [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function main(): Promise<number> {
  const explicit = Deno.env.get("LOCAL_REDIS_URL");
  if (explicit === undefined) {
    const missing = await missingRedisServer();
    if (missing) {
      console.error(`error: ${missing}`);
      return 2;
    }
  }
  await using server = explicit === undefined ? await startRedisServer({ durable: false }) : null;
  await using gateway = startUpstashGateway(explicit ?? server!.url, {
    token: randomToken("local-"),
  });

  const defaults: Record<string, string> = {
    VK_GROUP_ID: "1",
    VK_CALLBACK_CONFIRMATION: "local-confirmation",
    VK_CALLBACK_SECRET: randomToken("secret-"),
    STATUS_TOKEN: randomToken("status-"),
  };
  const env = Deno.env.toObject();
  const chosen = Object.entries(defaults).filter(([name]) => !env[name]);
  const [program, command, ...flags] = (await taskCommand("serve")).split(/\s+/);
  if (program !== "deno" || command !== "serve") throw new Error("The serve task changed shape");
  const port = Deno.env.get("PORT") ?? "8080";
  const args = flags.slice(0, -1).map((flag, i, all) => all[i - 1] === "--port" ? port : flag);

  console.error(
    `Upstash for this run: a local gateway at ${gateway.url} over ${
      server ? `a private redis-server (${server.url})` : "LOCAL_REDIS_URL"
    }`,
  );
  for (const [name, value] of chosen) console.error(`${name}=${value} (a default for this run)`);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["serve", ...args, "--config", `${ROOT}deno.json`, `${ROOT}${flags.at(-1)}`],
    env: {
      ...Object.fromEntries(chosen),
      UPSTASH_REDIS_REST_URL: gateway.url,
      UPSTASH_REDIS_REST_TOKEN: gateway.token,
    },
    stdin: "null",
  }).spawn();
  // A signal to this process alone is passed on; a terminal's Ctrl-C reaches both.
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => {
      try {
        child.kill(signal);
      } catch { /* already gone */ }
    });
  }
  return (await child.status).code;
}

// Deno.exit skips pending clean-up, so it comes only once main() has stopped the servers.
Deno.exit(await main());
