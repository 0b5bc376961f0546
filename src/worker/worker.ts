/**
 * The Callback API pipeline as a stateless request handler: the router's graph
 * (`router.ts`), built once per isolate, with every piece of state in Redis over Upstash
 * REST and nothing left running between requests. Each request runs in its own scope
 * (deadlines end with it).
 *
 * Upstash bills every command and each REST round trip adds its latency, so a callback
 * is one round trip in the steady state: validate, transform, enrich and route (no
 * Redis); webhooks (HTTP); then one pipeline with the effectively-once append of each
 * Redis destination (which counts itself into the shared counters) and one script that
 * adds the request's other counters, recent events and timeline part (the status page's
 * charts) and answers when the first parked
 * delivery is due. Only when one is due does the callback retry a few, and only what is
 * left to count after that (failures, parking, retries) costs a second call. Parked
 * deliveries are also retried by `POST /tasks/retry` for a platform's cron.
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { type Config, loadConfig } from "../config/config.ts";
import { BUILT_IN_ROUTES, loadRoutesFile, parseRoutes, type Routes } from "../config/routes.ts";
import { checkRoutesAgainstConfig } from "../config/startup_checks.ts";
import { ConfigError, errorMessage } from "../errors.ts";
import { createSnapshots } from "../http/snapshot.ts";
import { buildRouter, type RouterProfile, storeReadiness } from "../router.ts";
import { createBacklogWatch } from "../status/backlog_watch.ts";
import { scriptsOn } from "../redis/scripts.ts";
import { UnitOfWork } from "../util/unit_of_work.ts";
import { RequestScope } from "./request_scope.ts";
import {
  flushShared,
  loadShared,
  loadTimeline,
  nextDueOf,
  sharedCall,
  tallyOf,
} from "./shared_state.ts";
import denoJson from "../../deno.json" with { type: "json" };

const log = getLogger(["vk-event-router", "worker"]);

/** Parked deliveries retried by a callback that finds some due: bounded, so VK gets its answer fast. */
export const RETRIES_PER_CALLBACK = 5;
/** Webhooks are tried once per request, briefly: VK wants an answer within seconds. */
export const WORKER_WEBHOOK_TIMEOUT_MS = 2_500;

/** A request must answer within seconds: one try at everything, short deadlines. */
function workerProfile(config: Config): RouterProfile {
  return {
    vkAttempts: 1,
    // The lookup deadline follows the VK timeout: a lookup never outlives the request.
    vkTimeoutMs: Math.max(config.enrichDeadlineMs, 100),
    enrichSlackMs: 50,
    maxHttpTimeoutMs: WORKER_WEBHOOK_TIMEOUT_MS,
    redisRetry: false,
    honourPauses: false,
  };
}

/** A configured worker. */
export interface Worker {
  config: Config;
  routes: Routes;
  /**
   * Answers one request; `info` is what the platform knows of the connection (its
   * `remoteAddr` is the client address the login throttle counts by, unless `TRUST_PROXY`).
   */
  handle(request: Request, info?: Deno.ServeHandlerInfo): Promise<Response>;
}

/** How often the open `/readyz` may ask Upstash at most: it bills every request. */
export const READINESS_CACHE_MS = 1_000;

/** `work`'s answer, asked at most once per `ms`: callers in between (concurrent ones too) share it. */
function atMostEvery<T>(ms: number, work: () => Promise<T>): () => Promise<T> {
  let last: { at: number; answer: Promise<T> } | null = null;
  return () => {
    const now = Date.now();
    if (last === null || now - last.at >= ms) last = { at: now, answer: work() };
    return last.answer;
  };
}

/** What the worker is built with; tests count or replace the builder. */
export interface WorkerDeps {
  buildRouter?: typeof buildRouter;
}

/**
 * Validates the environment for worker mode (Upstash required, long poll off) and builds
 * the router once.
 * @throws {ConfigError} naming every problem.
 */
export async function createWorker(
  env: Readonly<Record<string, string | undefined>>,
  deps: WorkerDeps = {},
): Promise<Worker> {
  // Every problem at once: the missing Upstash connection beside those of the environment.
  const problems: string[] = [];
  let loaded: Config | null = null;
  try {
    loaded = loadConfig(env, { callbackOnly: "the serverless worker" });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.issues);
  }
  const upstashNamed = env.UPSTASH_REDIS_REST_URL || env.UPSTASH_REDIS_REST_TOKEN;
  if (loaded ? loaded.redis?.kind !== "upstash" : !upstashNamed) {
    problems.push(
      "UPSTASH_REDIS_REST_URL: required by the serverless worker, with UPSTASH_REDIS_REST_TOKEN: it keeps all its state in Upstash (REDIS_URL is not used there)",
    );
  }
  if (!loaded || problems.length > 0) throw new ConfigError(problems);
  const config = loaded;
  const routes = config.routesFile
    ? await loadRoutesFile(config.routesFile, env)
    : parseRoutes(BUILT_IN_ROUTES);
  checkRoutesAgainstConfig(routes, config);
  const groupIds = config.communities.map((c) => c.groupId);
  const prefix = config.redisPrefix;

  const router = await (deps.buildRouter ?? buildRouter)({
    config,
    routes,
    profile: workerProfile(config),
    io: { timeoutSignal: RequestScope.timeoutSignal },
    tallyOf: (destination) => tallyOf(prefix, destination),
    http: ({ redis, store, deliverer, pipeline, metrics, timeline, status, backlogs: sources }) => {
      const shared = () => loadShared(redis!.redis, prefix, groupIds);
      const backlogs = createBacklogWatch(sources);
      return {
        async accept(update) {
          const prepared = await pipeline.prepare({
            updates: [update],
            receivedAt: Date.now(),
            source: "callback",
          });
          // The counters travel in the callback's round trip, built last to count its answers.
          const unit = new UnitOfWork();
          const shared = unit.channel(scriptsOn(redis!.redis)).add(() =>
            sharedCall(prefix, metrics.drain(), status.drainRecent(), timeline.drain())
          );
          try {
            await pipeline.commit(prepared, unit);
          } finally {
            unit.cancel(new Error("The callback's commit failed before its round trip"));
          }
          const state = await shared;
          if (!state.ok) {
            log.warn("Cannot update the shared counters: {error}", { error: state.error });
            return;
          }
          const due = nextDueOf(state.value);
          if (due === null || due > Date.now()) return;
          await deliverer.retryDue(RETRIES_PER_CALLBACK).catch((error) =>
            log.warn("Retrying parked deliveries failed: {error}", { error: errorMessage(error) })
          );
        },
        snapshot: async (view) => {
          const [{ metrics, status }, timeline] = await Promise.all([
            shared(),
            loadTimeline(redis!.redis, prefix),
          ]);
          return await createSnapshots({
            version: denoJson.version,
            status,
            metrics,
            store,
            routes,
            enrichStats: () => ({ hits: 0, misses: 0, lookupsFailed: 0, deadlinesMissed: 0 }),
            timeline,
            backlogs,
          })(view);
        },
        samples: async () => (await shared()).metrics.samples(),
        readiness: atMostEvery(READINESS_CACHE_MS, () => storeReadiness(store)),
        retryTask: () => deliverer.retryDue(100),
      };
    },
  });
  const { metrics, timeline, status } = router;
  const redis = router.redis!.redis;

  function handle(request: Request, info?: Deno.ServeHandlerInfo): Promise<Response> {
    return RequestScope.run(async () => {
      const response = await router.app.fetch(request, info);
      // What the callback's round trip could not carry: failures, parking, retries, cron runs.
      await flushShared(redis, prefix, metrics.drain(), status.drainRecent(), timeline)
        .catch((error) =>
          log.warn("Cannot update the shared counters: {error}", { error: errorMessage(error) })
        );
      return response;
    });
  }

  return { config, routes, handle };
}
