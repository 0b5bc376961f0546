/**
 * The serverless entry point: `deno serve src/worker.ts`, or any platform that runs a
 * module's `export default { fetch }`. It handles `POST /callback`, `/healthz`, `/readyz`,
 * `/api/status`, `/metrics`, `POST /tasks/retry` and the dead-letter replay with the same
 * code as the long-running service, keeping all state in Upstash. Configuration is
 * checked when the module loads, so a wrong one fails the deployment, not a request.
 * @module
 */
import { ConfigError } from "./errors.ts";
import { configureLogging } from "./logging.ts";
import { warnAboutSecurity } from "./http/security_options.ts";
import { collectSecrets } from "./router.ts";
import { listenProblem, REFUSED, refuseToStart } from "./start_failure.ts";
import { createWorker, type Worker } from "./worker/worker.ts";

// `deno serve` listens once this module has loaded: a taken --port or a bad --host would
// otherwise end in its stack trace. Anything else keeps the default (a crash with a stack).
globalThis.addEventListener("unhandledrejection", (event) => {
  const problem = listenProblem(event.reason, "the host", "the port", {
    host: "--host",
    port: "--port",
  });
  if (!problem) return;
  event.preventDefault();
  refuseToStart(new ConfigError([problem]), "The serverless worker");
  Deno.exit(REFUSED);
});

let worker: Worker;
try {
  worker = await createWorker(Deno.env.toObject());
} catch (error) {
  // A platform shows the lines in its deployment log; `deno serve` exits with them.
  Deno.exit(refuseToStart(error, "The serverless worker"));
}
await configureLogging(
  { ...worker.config.log, format: worker.config.log.format ?? "json" },
  collectSecrets(worker.config, worker.routes),
);
warnAboutSecurity(worker.config);

export default {
  fetch: (request: Request, info?: Deno.ServeHandlerInfo): Promise<Response> =>
    worker.handle(request, info),
} satisfies Deno.ServeDefaultExport;
