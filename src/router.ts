/**
 * The composition root: the one place that builds the router's graph from the
 * configuration (connections, state store, sinks and deliverer, VK clients and enrichers,
 * pipeline, status, HTTP app). The long-running service (`service.ts`) and the serverless
 * worker (`worker/worker.ts`) are two thin shells around it: the service adds the
 * long-poll loops and the background retries, the worker a per-request scope.
 *
 * Data flows one way: ingestion (long poll or callback) -> pipeline (validate, transform,
 * enrich, route) -> deliverer -> sinks; the stages report to one observer.
 * @module
 */
import type { Hono } from "hono";
import type { Config } from "./config/config.ts";
import type { Routes } from "./config/routes.ts";
import type { Deliverer } from "./deliver/deliverer.ts";
import type { ConnectionIo, SinkContext } from "./deliver/kinds/kind.ts";
import { redisConnection } from "./deliver/kinds/redis_connection.ts";
import {
  type AnyConnectionSpec,
  backlogSources,
  CONNECTION_SPECS,
  type Connections,
  destinationConnection,
  destinationSecrets,
  verifyDestination,
} from "./deliver/kinds/registry.ts";
import { allDestinations } from "./config/startup_checks.ts";
import { ConfigError, errorMessage } from "./errors.ts";
import { distinctSecrets } from "./redact.ts";
import { createReplay } from "./replay.ts";
import { createWorkbench } from "./workbench.ts";
import { createRoutedDeliverer } from "./deliver/sinks.ts";
import { createVkDirectory } from "./enrich/directory.ts";
import { createCallbackBatcher } from "./ingest/callback_batcher.ts";
import { createEnricher, type Enricher, type EnricherStats } from "./enrich/enricher.ts";
import { type AppDeps, createApp } from "./http/app.tsx";
import { appSecurity } from "./http/security_options.ts";
import { createSnapshots } from "./http/snapshot.ts";
import { createPipeline, type Pipeline } from "./pipeline.ts";
import type { RedisHandle } from "./redis/connection.ts";
import { type BacklogSource, createBacklogWatch } from "./status/backlog_watch.ts";
import { KNOWN_RAW_TYPES, zeroSamples } from "./status/families.ts";
import { createFleet, type Fleet } from "./status/fleet.ts";
import { Metrics } from "./status/metrics.ts";
import { createTracer } from "./status/trace.ts";
import { createObserver, type RouterObserver } from "./status/observer.ts";
import { ServiceStatus } from "./status/status.ts";
import { Timeline } from "./status/timeline.ts";
import { openKvStore } from "./store/kv_store.ts";
import { createRedisStore } from "./store/redis_store.ts";
import type { StateStore } from "./store/state_store.ts";
import { defaultTimeoutSignal, type TimeoutSignal } from "./util/timeouts.ts";
import { withTimeout } from "./util/time.ts";
import { createVkApi, type VkApi } from "./vk/api.ts";
import { createRateLimiter, type RateLimiter } from "./vk/rate_limiter.ts";
import { createSharedRateLimiter, rateLimitKey } from "./vk/shared_rate_limiter.ts";
import denoJson from "../deno.json" with { type: "json" };

/** How the two shells differ in what they build. */
export interface RouterProfile {
  /** Attempts per VK API call. */
  vkAttempts: number;
  /** Deadline of one VK API request; null: the client's default. */
  vkTimeoutMs: number | null;
  /** Extra time a batch waits for names beyond the VK deadline. */
  enrichSlackMs: number;
  /** Cap on every webhook's timeout; null: the routes file's. */
  maxHttpTimeoutMs: number | null;
  /** Retry failed Upstash requests inside the client. */
  redisRetry: boolean;
  /**
   * Deliveries look paused destinations up (a store read at most once a second); the
   * worker, which pays per request, leaves that out. @default true
   */
  honourPauses?: boolean;
}

/** The long-running service: patient, with retries everywhere. */
export const SERVICE_PROFILE: RouterProfile = {
  vkAttempts: 4,
  vkTimeoutMs: null,
  enrichSlackMs: 0,
  maxHttpTimeoutMs: null,
  redisRetry: true,
};

/** Outside influences, injectable for tests and the worker. */
export interface RouterIo {
  fetch?: typeof fetch;
  /** Where every outgoing request's deadline comes from. @default AbortSignal.timeout */
  timeoutSignal?: TimeoutSignal;
}

/** What {@linkcode buildRouter} needs. */
export interface RouterOptions {
  config: Config;
  routes: Routes;
  profile?: RouterProfile;
  io?: RouterIo;
  /** Keep the router's own state in the embedded store even when Redis is configured (the demo). */
  embeddedStore?: boolean;
  /** Where Redis sinks count their appends (the worker's shared counters). */
  tallyOf?: SinkContext["tallyOf"];
  /** The shell's part of the HTTP app: readiness, shutdown, shared status, cron tasks. */
  http?: (router: RouterCore) => Partial<AppDeps>;
  /**
   * Show the fleet of replicas that share the state in Redis (the long-running service;
   * the shell writes this process's report into it). @default false
   */
  fleet?: boolean;
}

/** The built graph, before the HTTP app. */
export interface RouterCore {
  readonly config: Config;
  readonly routes: Routes;
  readonly metrics: Metrics;
  /** The status page's charts, fed by `metrics` (the worker drains it into Redis). */
  readonly timeline: Timeline;
  readonly status: ServiceStatus;
  /** Records what every stage reports into `status` and `metrics`. */
  readonly observer: RouterObserver;
  /** The open connections of the destination kinds, by spec name. */
  readonly connections: Connections;
  /** The Redis connection, when configured (the state store's too, unless embedded). */
  readonly redis: RedisHandle | null;
  readonly store: StateStore;
  /** The backlogs of the destinations that queue, each read by its kind. */
  readonly backlogs: readonly BacklogSource[];
  /** The replicas sharing the state in Redis; null without Redis or outside the service. */
  readonly fleet: Fleet | null;
  /** Null when the store and every open connection answer, else why not (for `/readyz`). */
  readiness(): Promise<string | null>;
  readonly deliverer: Deliverer;
  readonly pipeline: Pipeline;
  /**
   * The VK client of a token; one rate limiter per token, shared by its clients (and, with
   * the state in Redis, by every replica).
   */
  apiFor(token: string): VkApi;
  enrichStats(): EnricherStats;
}

/** The whole router: the graph and its HTTP face. */
export interface Router extends RouterCore, AsyncDisposable {
  readonly app: Hono;
  /** Closes the store and every connection. */
  close(): Promise<void>;
}

/** Builds the router. */
export async function buildRouter(options: RouterOptions): Promise<Router> {
  const { config, routes } = options;
  const profile = options.profile ?? SERVICE_PROFILE;
  const io = options.io ?? {};
  const timeoutSignal = io.timeoutSignal ?? defaultTimeoutSignal;
  const fetchOption = io.fetch ? { fetch: io.fetch } : {};
  const groupIds = config.communities.map((c) => c.groupId);

  const timeline = new Timeline(); // the status page's charts, fed by every metrics.inc/observe
  const metrics = new Metrics(timeline);
  const status = new ServiceStatus(groupIds, config.vk.longPoll);
  const tracer = createTracer(config.instanceId);
  const observer = createObserver(status, metrics);
  const open = await openConnections(config, routes, {
    timeoutSignal,
    requestTimeoutMs: config.redisTimeoutMs,
    retry: profile.redisRetry,
  });
  const connections: Connections = new Map([...open].map(([spec, conn]) => [spec.name, conn]));
  const redis = (connections.get(redisConnection.name) as RedisHandle | undefined) ?? null;
  const store = redis && !options.embeddedStore
    ? createRedisStore(redis.redis, config.redisPrefix)
    : await openKvStore(config.dataDir);
  const fleet = options.fleet && redis && store.kind === "redis"
    ? createFleet(redis.redis, config.redisPrefix)
    : null;

  const deliverer = createRoutedDeliverer(routes, {
    tracer,
    store,
    metrics,
    scheduleS: config.retryScheduleS,
    observer: status,
    ...(profile.honourPauses === false ? { honourPauses: false } : {}),
    context: {
      connections,
      prefix: config.redisPrefix,
      timeoutSignal,
      ...fetchOption,
      ...(profile.maxHttpTimeoutMs !== null ? { maxHttpTimeoutMs: profile.maxHttpTimeoutMs } : {}),
      ...(options.tallyOf ? { tallyOf: options.tallyOf } : {}),
    },
  });

  // With the state in Redis, replicas share each token's limit there (falling back to this
  // process's own limiter while Redis fails); otherwise this process is the only one.
  const limiterOf = (token: string): RateLimiter =>
    redis && store.kind === "redis"
      ? createSharedRateLimiter({
        redis: redis.redis,
        key: rateLimitKey(config.redisPrefix, token),
        fallback: createRateLimiter(),
      })
      : createRateLimiter();
  const limiters = new Map<string, RateLimiter>();
  const apiFor = (token: string): VkApi => {
    let limiter = limiters.get(token);
    if (!limiter) limiters.set(token, limiter = limiterOf(token));
    return createVkApi({
      token,
      apiUrl: config.vk.apiUrl,
      version: config.vk.apiVersion,
      limiter,
      attempts: profile.vkAttempts,
      timeoutSignal,
      onRequest: (method) => metrics.inc("vk_router_vk_api_calls_total", { method }),
      ...(profile.vkTimeoutMs !== null ? { timeoutMs: profile.vkTimeoutMs } : {}),
      ...fetchOption,
    });
  };
  // A cache per token, shared by the communities it serves: a user's name is the same in
  // each, and chat titles are kept per community inside it (chat peer ids are per community).
  const enrichers = new Map<number, Enricher>();
  const byToken = new Map<string, Enricher>();
  for (const c of config.communities) {
    if (!c.token) continue;
    let enricher = byToken.get(c.token);
    if (!enricher) {
      byToken.set(
        c.token,
        enricher = createEnricher({
          directory: createVkDirectory(apiFor(c.token)),
          deadlineMs: config.enrichDeadlineMs + profile.enrichSlackMs,
          maxEntries: config.enrichCacheMax,
        }),
      );
    }
    enrichers.set(c.groupId, enricher);
  }
  const enrichStats = (): EnricherStats => {
    const total: EnricherStats = { hits: 0, misses: 0, lookupsFailed: 0, deadlinesMissed: 0 };
    for (const e of byToken.values()) {
      for (const k of Object.keys(total) as (keyof EnricherStats)[]) total[k] += e.stats[k];
    }
    return total;
  };

  const pipeline = createPipeline({
    tracer,
    routes,
    deliverer,
    enricherFor: (groupId) => enrichers.get(groupId) ?? null,
    metrics,
    timezone: config.timezone,
    commandPrefixes: config.commandPrefixes,
    onEvents: observer.events,
  });

  const backlogs = backlogSources([...routes.destinations.values()], connections);
  const readiness = async (): Promise<string | null> => {
    const answers = await Promise.all([
      storeReadiness(store),
      // The store's answer already tells of the connection it keeps its state on.
      ...[...open].filter(([spec]) => !(spec === redisConnection && store.kind === "redis"))
        .map(([spec, conn]) => spec.ready(conn)),
    ]);
    return answers.find((a) => a !== null) ?? null;
  };

  const core: RouterCore = {
    config,
    routes,
    metrics,
    timeline,
    status,
    observer,
    connections,
    redis,
    store,
    backlogs,
    fleet,
    readiness,
    deliverer,
    pipeline,
    apiFor,
    enrichStats,
  };
  const replay = createReplay({
    tracer,
    store,
    deliverer,
    pipeline,
    deadLetter: routes.deadLetter,
    connections,
  });
  const workbench = createWorkbench({ store, deliverer, replay });
  const app = createApp({
    snapshot: createSnapshots({
      version: denoJson.version,
      instanceId: config.instanceId,
      status,
      metrics,
      store,
      routes,
      enrichStats,
      timeline,
      backlogs: createBacklogWatch(backlogs),
      ...(fleet ? { fleet: () => fleet.read() } : {}),
      workbench,
    }),
    samples: () => Promise.resolve([...metrics.samples(), ...metrics.histogramSamples()]),
    zeros: zeroSamples({
      destinations: [...routes.destinations.keys()],
      groupIds,
      rawTypes: KNOWN_RAW_TYPES,
    }),
    readiness,
    ...appSecurity(config, collectSecrets(config, routes), store),
    // Concurrent callbacks go on together: one script call and round trip for the lot (the
    // worker, whose requests each carry their own unit of work, takes them one by one).
    accept: createCallbackBatcher((batch) => pipeline.handle({ ...batch, source: "callback" })),
    replayDeadLetters: replay,
    workbench,
    destinationNames: [...routes.destinations.keys()],
    stopping: () => false,
    ...options.http?.(core),
  });

  let closing: Promise<void> | null = null;
  const close = () =>
    closing ??= (async () => {
      await store.close();
      await Promise.all([...open].map(([spec, conn]) => spec.close(conn)));
    })();
  return { ...core, app, close, [Symbol.asyncDispose]: close };
}

/** Null when the state store answers within a second, else why not (for `/readyz`). */
export function storeReadiness(store: StateStore): Promise<string | null> {
  return withTimeout(store.ping(), 1000).then(() => null, (e) => `state store: ${errorMessage(e)}`);
}

/**
 * Opens each configured connection that a destination needs, once; Redis whenever it is
 * configured, since the state store keeps its state there.
 */
async function openConnections(
  config: Config,
  routes: Routes,
  io: ConnectionIo,
): Promise<Map<AnyConnectionSpec, unknown>> {
  const needed = new Set(allDestinations(routes).map(destinationConnection));
  const specs = CONNECTION_SPECS.filter((spec) =>
    spec.name in config.connections && (needed.has(spec) || spec === redisConnection)
  );
  return new Map(
    await Promise.all(
      specs.map(async (spec) =>
        [spec, await spec.open(config.connections[spec.name], io)] as const
      ),
    ),
  );
}

/**
 * The kinds' live start-up checks of every destination. A server that cannot be asked is
 * a warning (returned), not a stop: deliveries retry until it comes.
 * @throws {ConfigError} naming every problem the servers showed.
 */
export async function verifyDestinations(router: RouterCore): Promise<string[]> {
  const warnings: string[] = [];
  const problems: string[] = [];
  await Promise.all(
    allDestinations(router.routes).map(async (d) => {
      try {
        problems.push(...await verifyDestination(d, router.connections));
      } catch (error) {
        warnings.push(
          `Cannot check destination ${JSON.stringify(d.name)} (${d.kind}) at start: ${
            errorMessage(error)
          }`,
        );
      }
    }),
  );
  if (problems.length > 0) throw new ConfigError(problems);
  return warnings;
}

/**
 * Every secret value the configuration holds, for redaction from every output: tokens,
 * keys, passwords, each connection's and each destination's own.
 */
export function collectSecrets(config: Config, routes: Routes | null): string[] {
  return distinctSecrets([
    ...config.communities.map((c) => c.token),
    config.callback.secret,
    config.statusToken,
    ...CONNECTION_SPECS.flatMap((spec) =>
      spec.name in config.connections ? spec.secrets(config.connections[spec.name]) : []
    ),
    ...(routes ? allDestinations(routes).flatMap(destinationSecrets) : []),
  ]);
}
