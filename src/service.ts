/**
 * The long-running service: the router's graph (`router.ts`) plus what runs in the
 * background: one long-poll ingestion loop per community, the retry worker, the settings
 * check and the HTTP server. This module owns start, stop and the `AbortController`.
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { Config } from "./config/config.ts";
import type { Routes } from "./config/routes.ts";
import { runRetryWorker } from "./deliver/deliverer.ts";
import { errorMessage, VkFatalError } from "./errors.ts";
import { runIngestion } from "./ingest/ingestion.ts";
import { buildRouter, type Router, type RouterCore } from "./router.ts";
import { withTimeout } from "./util/time.ts";
import { checkSettings } from "./vk/settings_check.ts";
import { warnAboutSecurity } from "./http/security_options.ts";

const log = getLogger(["vk-event-router", "service"]);

/** A running service. */
export interface Service extends AsyncDisposable {
  /** The router's graph: metrics, status, store, pipeline, ... */
  readonly router: Router;
  /** Settles when every ingestion loop has ended (all stopped or fatal). */
  readonly done: Promise<void>;
  /** Communities whose loop stopped for good, with the reason. */
  readonly fatal: Map<number, string>;
  /** Where the status page and callback endpoint listen, e.g. `http://127.0.0.1:8080`. */
  readonly url: string;
  /** Stops taking events, finishes the batch in flight, closes connections. */
  stop(): Promise<void>;
}

/** What {@linkcode startService} needs; I/O is injectable for tests. */
export interface ServiceOptions {
  config: Config;
  routes: Routes;
  fetch?: typeof fetch;
  /** Keep the router's own state in the embedded store even when Redis is configured (the demo). */
  embeddedStore?: boolean;
}

/** Starts the service. */
export async function startService(options: ServiceOptions): Promise<Service> {
  const { config, routes } = options;
  const controller = new AbortController();
  const router = await buildRouter({
    config,
    routes,
    embeddedStore: options.embeddedStore ?? false,
    ...(options.fetch ? { io: { fetch: options.fetch } } : {}),
    http: (core) => ({
      readiness: () => readiness(core),
      stopping: () => controller.signal.aborted,
    }),
  });
  const { store, observer, pipeline } = router;
  log.info("State store: {kind}", {
    kind: store.kind === "redis" ? `Redis (${router.redis!.kind})` : `Deno KV in ${config.dataDir}`,
  });

  if (config.vk.longPoll) {
    for (const c of config.communities) {
      checkSettings(router.apiFor(c.token!), c.groupId, routes).then(
        (warnings) => {
          for (const warning of warnings) {
            log.warn("{warning}", { warning });
            router.status.warn(c.groupId, warning);
          }
        },
        (error) =>
          log.warn("Cannot check the long-poll settings of community {groupId}: {error}", {
            groupId: c.groupId,
            error: errorMessage(error),
          }),
      );
    }
  }

  const fatal = new Map<number, string>();
  const loops = !config.vk.longPoll ? [] : config.communities.map(async (community) => {
    try {
      await runIngestion({
        poller: {
          groupId: community.groupId,
          api: router.apiFor(community.token!),
          wait: config.vk.wait,
          graceMs: config.vk.graceMs,
          observer,
          ...(options.fetch ? { fetch: options.fetch } : {}),
        },
        store,
        checkpointEveryMs: 250,
        handler: pipeline,
        signal: controller.signal,
        onCheckpoint: observer.checkpoint,
      });
    } catch (error) {
      const reason = errorMessage(error);
      fatal.set(community.groupId, reason);
      router.status.error(reason);
      if (error instanceof VkFatalError) log.fatal("{reason}", { reason });
      else {
        log.fatal("Long poll of community {groupId} crashed: {reason}", {
          groupId: community.groupId,
          reason,
        });
      }
    }
  });
  const done = Promise.all(loops).then(() => {});
  const retries = runRetryWorker(router.deliverer, controller.signal);

  const server = Deno.serve(
    { hostname: config.host, port: config.port, onListen() {} },
    router.app.fetch,
  );
  const host = config.host.includes(":") ? `[${config.host}]` : config.host;
  const url = `http://${host}:${server.addr.port}`;
  log.info(`Status page at ${url}/`, { url });
  warnAboutSecurity(config);

  let stopping: Promise<void> | null = null;
  const stop = () =>
    stopping ??= (async () => {
      log.info("Stopping: finishing the batch in flight");
      controller.abort(new DOMException("The service is stopping", "AbortError"));
      await done;
      await retries;
      await server.shutdown();
      await router.close();
      log.info("Stopped");
    })();

  return { router, done, fatal, url, stop, [Symbol.asyncDispose]: stop };
}

/** Ready when the store answers and every community polls (or takes callbacks only). */
async function readiness(router: RouterCore): Promise<string | null> {
  const storeDown = await withTimeout(router.store.ping(), 1000).then(
    () => null,
    (e) => `state store: ${errorMessage(e)}`,
  );
  if (storeDown) return storeDown;
  for (const c of router.status.communities.values()) {
    if (c.state !== "polling" && c.state !== "callback-only") {
      return `community ${c.groupId}: ${c.state}${c.detail ? ` (${c.detail})` : ""}`;
    }
  }
  return null;
}
