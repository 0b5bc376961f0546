/**
 * The Callback API pipeline as a stateless request handler: the same config, transforms,
 * routes, deliverer and Hono app as the long-running service, with every piece of state
 * in Redis over Upstash REST and nothing left running between requests. Parked
 * deliveries are retried a few at a time at the start of later callbacks, and by
 * `POST /tasks/retry` for a platform's cron.
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { connectRedis } from "../redis/connection.ts";
import { type Config, loadConfig } from "../config/config.ts";
import { BUILT_IN_ROUTES, loadRoutesFile, parseRoutes, type Routes } from "../config/routes.ts";
import { checkRoutesAgainstConfig } from "../config/startup_checks.ts";
import { createReplay } from "../deliver/replay.ts";
import { createRoutedDeliverer } from "../deliver/sinks.ts";
import { createVkDirectory } from "../enrich/directory.ts";
import { createEnricher, type Enricher } from "../enrich/enricher.ts";
import { TtlCache } from "../enrich/ttl_cache.ts";
import { ConfigError, errorMessage } from "../errors.ts";
import { createApp } from "../http/app.tsx";
import { createSnapshots } from "../http/snapshot.ts";
import { createPipeline } from "../pipeline.ts";
import { Metrics } from "../status/metrics.ts";
import { ServiceStatus } from "../status/status.ts";
import { createRedisStore } from "../store/redis_store.ts";
import { createVkApi } from "../vk/api.ts";
import { RequestScope } from "./request_scope.ts";
import { flushShared, loadShared } from "./shared_state.ts";
import denoJson from "../../deno.json" with { type: "json" };

const log = getLogger(["vk-event-router", "worker"]);

/** Parked deliveries retried at the start of a callback: bounded, so VK gets its answer fast. */
export const RETRIES_PER_CALLBACK = 5;
/** Webhooks are tried once per request, briefly: VK wants an answer within seconds. */
export const WORKER_WEBHOOK_TIMEOUT_MS = 2_500;

/** A configured worker. */
export interface Worker {
  config: Config;
  routes: Routes;
  handle(request: Request): Promise<Response>;
}

/**
 * Validates the environment for worker mode (Upstash required, long poll off) and returns
 * the handler.
 * @throws {ConfigError} naming every problem.
 */
export async function createWorker(
  env: Readonly<Record<string, string | undefined>>,
): Promise<Worker> {
  const config = loadConfig({ ...env, VK_LONGPOLL: "off" });
  if (config.redis?.kind !== "upstash") {
    throw new ConfigError([
      "UPSTASH_REDIS_REST_URL: required by the serverless worker, with UPSTASH_REDIS_REST_TOKEN: it keeps all its state in Upstash (REDIS_URL is not used there)",
    ]);
  }
  const upstash = config.redis;
  const routes = config.routesFile
    ? await loadRoutesFile(config.routesFile, env)
    : parseRoutes(BUILT_IN_ROUTES);
  checkRoutesAgainstConfig(routes, config);
  const groupIds = config.communities.map((c) => c.groupId);
  const nameCache = new TtlCache<string, unknown>({ maxEntries: 10_000 });

  async function handle(request: Request): Promise<Response> {
    const scope = new RequestScope();
    const { redis } = connectRedis(upstash, {
      timeoutMs: config.redisTimeoutMs,
      timeoutSignal: scope.timeoutSignal,
      retry: false,
    });
    const store = createRedisStore(redis, config.redisPrefix);
    const metrics = new Metrics();
    const status = new ServiceStatus(groupIds, false);
    const deliverer = createRoutedDeliverer(routes, {
      store,
      metrics,
      scheduleS: config.retryScheduleS,
      context: {
        redis,
        prefix: config.redisPrefix,
        maxWebhookTimeoutMs: WORKER_WEBHOOK_TIMEOUT_MS,
        timeoutSignal: scope.timeoutSignal,
      },
    });
    const enrichers = new Map<number, Enricher>();
    for (const c of config.communities) {
      if (!c.token) continue;
      const api = createVkApi({
        token: c.token,
        apiUrl: config.vk.apiUrl,
        version: config.vk.apiVersion,
        attempts: 1,
        timeoutMs: Math.max(config.enrichDeadlineMs, 100),
        timeoutSignal: scope.timeoutSignal,
        onRequest: (method) => metrics.inc("vk_router_vk_api_calls_total", { method }),
      });
      // The deadline equals the VK timeout: a lookup never outlives the request.
      enrichers.set(
        c.groupId,
        createEnricher({
          directory: createVkDirectory(api),
          cache: nameCache,
          deadlineMs: config.enrichDeadlineMs + 50,
        }),
      );
    }
    const pipeline = createPipeline({
      routes,
      deliverer,
      enricherFor: (groupId) => enrichers.get(groupId) ?? null,
      metrics,
      timezone: config.timezone,
      commandPrefixes: config.commandPrefixes,
      onEvent: (event, destinations) => status.event(event, destinations),
    });
    const shared = () => loadShared(redis, config.redisPrefix, groupIds);
    const app = createApp({
      snapshot: async (showText) => {
        const { metrics: totals, status: sharedStatus } = await shared();
        return await createSnapshots({
          version: denoJson.version,
          status: sharedStatus,
          metrics: totals,
          store,
          routes,
          enrichStats: () => ({ hits: 0, misses: 0, lookupsFailed: 0, deadlinesMissed: 0 }),
        })(showText);
      },
      samples: async () => (await shared()).metrics.samples(),
      readiness: () => store.ping().then(() => null, (e) => `Upstash: ${errorMessage(e)}`),
      statusToken: config.statusToken,
      callback: {
        confirmation: config.callback.confirmation,
        secret: config.callback.secret,
        groupIds,
      },
      accept: (update) => pipeline.handle([update], Date.now()),
      replayDeadLetters: createReplay({
        store,
        deliverer,
        pipeline,
        deadLetter: routes.deadLetter,
        redis,
      }),
      stopping: () => false,
      retryTask: () => deliverer.retryDue(100),
    });

    try {
      if (request.method === "POST" && new URL(request.url).pathname === "/callback") {
        await deliverer.retryDue(RETRIES_PER_CALLBACK).catch((error) =>
          log.warn("Opportunistic retries failed: {error}", { error: errorMessage(error) })
        );
      }
      const response = await app.fetch(request);
      await flushShared(redis, config.redisPrefix, metrics, status).catch((error) =>
        log.warn("Cannot update the shared counters: {error}", { error: errorMessage(error) })
      );
      return response;
    } finally {
      scope.end();
    }
  }

  return { config, routes, handle };
}
