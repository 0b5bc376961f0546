/**
 * The service's lifecycle: opens the store and connections, wires the pipeline, runs one
 * ingestion loop per community and the retry worker, and stops them in order. Everything
 * it wires is built elsewhere; this module owns start, stop and the `AbortController`.
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { Config } from "./config/config.ts";
import type { Routes } from "./config/routes.ts";
import { type Deliverer, runRetryWorker } from "./deliver/deliverer.ts";
import { createReplay } from "./deliver/replay.ts";
import { createRoutedDeliverer } from "./deliver/sinks.ts";
import { createVkDirectory } from "./enrich/directory.ts";
import { createEnricher, type Enricher, type EnricherStats } from "./enrich/enricher.ts";
import { errorMessage, VkFatalError } from "./errors.ts";
import { runIngestion } from "./ingest.ts";
import { createPipeline, type Pipeline } from "./pipeline.ts";
import { connectRedis, type RedisHandle } from "./redis/connection.ts";
import { createApp } from "./http/app.tsx";
import { createSnapshots } from "./http/snapshot.ts";
import { Metrics } from "./status/metrics.ts";
import { ServiceStatus } from "./status/status.ts";
import { openKvStore } from "./store/kv_store.ts";
import { createRedisStore } from "./store/redis_store.ts";
import type { StateStore } from "./store/state_store.ts";
import { createVkApi, type VkApi } from "./vk/api.ts";
import type { PollObserver } from "./vk/long_poll.ts";
import { checkSettings } from "./vk/settings_check.ts";
import denoJson from "../deno.json" with { type: "json" };
import { createRateLimiter, type RateLimiter } from "./vk/rate_limiter.ts";

const log = getLogger(["vk-event-router", "service"]);

/** A running service. */
export interface Service extends AsyncDisposable {
  /** Settles when every ingestion loop has ended (all stopped or fatal). */
  readonly done: Promise<void>;
  /** Communities whose loop stopped for good, with the reason. */
  readonly fatal: Map<number, string>;
  readonly metrics: Metrics;
  readonly pipeline: Pipeline;
  readonly deliverer: Deliverer;
  readonly store: StateStore;
  readonly status: ServiceStatus;
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
  const fetchOption = options.fetch ? { fetch: options.fetch } : {};
  const metrics = new Metrics();
  const status = new ServiceStatus(config.communities.map((c) => c.groupId), config.vk.longPoll);
  const redis: RedisHandle | null = config.redis
    ? connectRedis(config.redis, { timeoutMs: config.redisTimeoutMs })
    : null;
  const store: StateStore = redis && !options.embeddedStore
    ? createRedisStore(redis.redis, config.redisPrefix)
    : await openKvStore(config.dataDir);
  log.info("State store: {kind}", {
    kind: store.kind === "redis" ? `Redis (${redis!.kind})` : `Deno KV in ${config.dataDir}`,
  });

  const deliverer = createRoutedDeliverer(routes, {
    store,
    metrics,
    scheduleS: config.retryScheduleS,
    context: { redis: redis?.redis ?? null, prefix: config.redisPrefix, ...fetchOption },
  });

  const limiters = new Map<string, RateLimiter>();
  const apiFor = (token: string): VkApi => {
    let limiter = limiters.get(token);
    if (!limiter) limiters.set(token, limiter = createRateLimiter());
    return createVkApi({
      token,
      apiUrl: config.vk.apiUrl,
      version: config.vk.apiVersion,
      limiter,
      onRequest: (method) => metrics.inc("vk_router_vk_api_calls_total", { method }),
      ...fetchOption,
    });
  };
  const enrichers = new Map<number, Enricher>();
  for (const c of config.communities) {
    if (c.token) {
      enrichers.set(
        c.groupId,
        createEnricher({
          directory: createVkDirectory(apiFor(c.token)),
          deadlineMs: config.enrichDeadlineMs,
        }),
      );
    }
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

  const observer: PollObserver = {
    state: (groupId, state, detail) => status.state(groupId, state, detail),
    historyLost(groupId) {
      metrics.inc("vk_router_history_lost_total", { group_id: groupId });
      status.historyLost(groupId);
    },
    fault(groupId, kind, message) {
      metrics.inc("vk_router_poll_faults_total", { group_id: groupId, kind });
      status.fault(groupId, kind, message);
    },
  };

  if (config.vk.longPoll) {
    for (const c of config.communities) {
      checkSettings(apiFor(c.token!), c.groupId, routes).then(
        (warnings) => {
          for (const warning of warnings) {
            log.warn("{warning}", { warning });
            status.warn(c.groupId, warning);
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
          api: apiFor(community.token!),
          wait: config.vk.wait,
          graceMs: config.vk.graceMs,
          observer,
          ...fetchOption,
        },
        store,
        checkpointEveryMs: 250,
        handler: {
          prepare: (batch) => pipeline.prepare(batch.updates, batch.receivedAt),
          commit: (prepared) => pipeline.commit(prepared),
          merge: (prepared) => pipeline.merge(prepared),
        },
        signal: controller.signal,
        onCheckpoint: (groupId, ts) =>
          metrics.set("vk_router_checkpoint_ts", { group_id: groupId }, Number(ts)),
      });
    } catch (error) {
      const reason = errorMessage(error);
      fatal.set(community.groupId, reason);
      status.error(reason);
      if (error instanceof VkFatalError) log.fatal("{reason}", { reason });
      else {log.fatal("Long poll of community {groupId} crashed: {reason}", {
          groupId: community.groupId,
          reason,
        });}
    }
  });
  const done = Promise.all(loops).then(() => {});
  const retries = runRetryWorker(deliverer, controller.signal);

  const enrichStats = (): EnricherStats => {
    const total: EnricherStats = { hits: 0, misses: 0, lookupsFailed: 0, deadlinesMissed: 0 };
    for (const e of enrichers.values()) {
      for (const k of Object.keys(total) as (keyof EnricherStats)[]) total[k] += e.stats[k];
    }
    return total;
  };
  const app = createApp({
    snapshot: createSnapshots({
      version: denoJson.version,
      status,
      metrics,
      store,
      routes,
      enrichStats,
    }),
    samples: () => Promise.resolve(metrics.samples()),
    readiness: async () => {
      const storeDown = await withTimeout(store.ping(), 1000).then(
        () => null,
        (e) => `state store: ${errorMessage(e)}`,
      );
      if (storeDown) return storeDown;
      for (const c of status.communities.values()) {
        if (c.state !== "polling" && c.state !== "callback-only") {
          return `community ${c.groupId}: ${c.state}${c.detail ? ` (${c.detail})` : ""}`;
        }
      }
      return null;
    },
    statusToken: config.statusToken,
    callback: {
      confirmation: config.callback.confirmation,
      secret: config.callback.secret,
      groupIds: config.communities.map((c) => c.groupId),
    },
    accept: (update) => pipeline.handle([update], Date.now()),
    replayDeadLetters: createReplay({
      store,
      deliverer,
      pipeline,
      deadLetter: routes.deadLetter,
      redis: redis?.redis ?? null,
    }),
    stopping: () => controller.signal.aborted,
  });
  const server = Deno.serve({ hostname: config.host, port: config.port, onListen() {} }, app.fetch);
  const url = `http://${
    config.host.includes(":") ? `[${config.host}]` : config.host
  }:${server.addr.port}`;
  log.info(`Status page at ${url}/`, { url });

  let stopping: Promise<void> | null = null;
  const stop = () =>
    stopping ??= (async () => {
      log.info("Stopping: finishing the batch in flight");
      controller.abort(new DOMException("The service is stopping", "AbortError"));
      await done;
      await retries;
      await server.shutdown();
      await store.close();
      await redis?.close();
      log.info("Stopped");
    })();

  return {
    done,
    fatal,
    metrics,
    pipeline,
    deliverer,
    store,
    status,
    url,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

/** Rejects when `promise` takes longer than `ms`. */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) =>
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)
  );
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
