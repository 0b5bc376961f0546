/**
 * The serverless entry point: `deno serve src/worker.ts`, or any platform that runs a
 * module's `export default { fetch }`. It handles `POST /callback`, `/healthz`, `/readyz`,
 * `/api/status`, `/metrics`, `POST /tasks/retry` and the dead-letter replay with the same
 * code as the long-running service, keeping all state in Upstash. Configuration is
 * checked when the module loads, so a wrong one fails the deployment, not a request.
 * @module
 */
import { configureLogging } from "./logging.ts";
import { warnAboutSecurity } from "./http/security_options.ts";
import { collectSecrets } from "./router.ts";
import { createWorker } from "./worker/worker.ts";

const worker = await createWorker(Deno.env.toObject());
await configureLogging(
  { ...worker.config.log, format: worker.config.log.format ?? "json" },
  collectSecrets(worker.config, worker.routes),
);
warnAboutSecurity(worker.config);

export default {
  fetch: (request: Request, info?: Deno.ServeHandlerInfo): Promise<Response> =>
    worker.handle(request, info),
} satisfies Deno.ServeDefaultExport;
