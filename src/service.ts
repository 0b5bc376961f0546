/**
 * The service's lifecycle: opens the store and connections, runs one ingestion loop per
 * community, and stops them in order. Everything it wires is built elsewhere; this module
 * only owns start, stop and the `AbortController`.
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { Config } from "./config/config.ts";
import type { Routes } from "./config/routes.ts";
import { errorMessage, VkFatalError } from "./errors.ts";
import { type BatchHandler, runIngestion } from "./ingest.ts";
import { connectRedis, type RedisHandle } from "./redis/connection.ts";
import { openKvStore } from "./store/kv_store.ts";
import { createRedisStore } from "./store/redis_store.ts";
import type { StateStore } from "./store/state_store.ts";
import { createVkApi, type VkApi } from "./vk/api.ts";
import { createRateLimiter } from "./vk/rate_limiter.ts";
import type { Batch } from "./vk/long_poll.ts";

const log = getLogger(["vk-event-router", "service"]);

/** A running service. */
export interface Service extends AsyncDisposable {
  /** Settles when every ingestion loop has ended (all stopped or fatal). */
  readonly done: Promise<void>;
  /** Communities whose loop stopped for good, with the reason. */
  readonly fatal: Map<number, string>;
  /** Stops taking events, finishes the batch in flight, closes connections. */
  stop(): Promise<void>;
}

/** What {@linkcode startService} needs; I/O is injectable for tests. */
export interface ServiceOptions {
  config: Config;
  routes: Routes;
  fetch?: typeof fetch;
}

/** Starts the service. */
export async function startService(options: ServiceOptions): Promise<Service> {
  const { config } = options;
  const controller = new AbortController();
  const redis: RedisHandle | null = config.redis
    ? connectRedis(config.redis, { timeoutMs: config.redisTimeoutMs })
    : null;
  const store: StateStore = redis
    ? createRedisStore(redis.redis, config.redisPrefix)
    : await openKvStore(config.dataDir);
  log.info("State store: {kind}", {
    kind: redis ? `Redis (${redis.kind})` : `Deno KV in ${config.dataDir}`,
  });

  const handle: BatchHandler = (batch: Batch) => {
    for (const update of batch.updates) {
      log.info("Event {type} from community {groupId}: {event}", {
        type: (update as { type?: unknown })?.type,
        groupId: batch.groupId,
        event: JSON.stringify(update),
      });
    }
    return Promise.resolve();
  };

  const fatal = new Map<number, string>();
  const limiters = new Map<string, ReturnType<typeof createRateLimiter>>();
  const apiFor = (token: string): VkApi => {
    let limiter = limiters.get(token);
    if (!limiter) limiters.set(token, limiter = createRateLimiter());
    return createVkApi({
      token,
      apiUrl: config.vk.apiUrl,
      version: config.vk.apiVersion,
      limiter,
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
  };

  const loops = !config.vk.longPoll ? [] : config.communities.map(async (community) => {
    try {
      await runIngestion({
        poller: {
          groupId: community.groupId,
          api: apiFor(community.token!),
          wait: config.vk.wait,
          graceMs: config.vk.graceMs,
          ...(options.fetch ? { fetch: options.fetch } : {}),
        },
        store,
        handle,
        signal: controller.signal,
      });
    } catch (error) {
      const reason = errorMessage(error);
      fatal.set(community.groupId, reason);
      if (error instanceof VkFatalError) log.fatal("{reason}", { reason });
      else {log.fatal("Long poll of community {groupId} crashed: {reason}", {
          groupId: community.groupId,
          reason,
        });}
    }
  });
  const done = Promise.all(loops).then(() => {});

  let stopping: Promise<void> | null = null;
  const stop = () =>
    stopping ??= (async () => {
      log.info("Stopping: finishing the batch in flight");
      controller.abort(new DOMException("The service is stopping", "AbortError"));
      await done;
      await store.close();
      await redis?.close();
      log.info("Stopped");
    })();

  return { done, fatal, stop, [Symbol.asyncDispose]: stop };
}
