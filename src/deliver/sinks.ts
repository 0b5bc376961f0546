/**
 * Builds the sink of each destination of the routes file.
 * @module
 */
import type { Destination, Routes } from "../config/routes.ts";
import type { Metrics } from "../status/metrics.ts";
import type { StateStore } from "../store/state_store.ts";
import { createDeliverer, type Deliverer } from "./deliverer.ts";
import type { RedisClient } from "../redis/connection.ts";
import { createLogSink } from "./log_sink.ts";
import { createRedisListSink } from "./redis_list_sink.ts";
import type { Sink } from "./types.ts";
import { createWebhookSink } from "./webhook_sink.ts";
import type { TimeoutSignal } from "../util/timeouts.ts";

/** What sinks need from the running service. */
export interface SinkContext {
  redis: RedisClient | null;
  prefix: string;
  fetch?: typeof fetch;
  /** Caps every webhook timeout (the worker answers VK within seconds). */
  maxWebhookTimeoutMs?: number;
  timeoutSignal?: TimeoutSignal;
}

/** The sink of one destination. Redis-list destinations need `context.redis` (checked at start-up). */
export function createSink(destination: Destination, context: SinkContext): Sink {
  switch (destination.kind) {
    case "log":
      return createLogSink(destination.name);
    case "webhook":
      return createWebhookSink({
        name: destination.name,
        url: destination.url,
        secret: destination.secret,
        timeoutMs: Math.min(destination.timeoutMs, context.maxWebhookTimeoutMs ?? Infinity),
        ...(context.fetch ? { fetch: context.fetch } : {}),
        ...(context.timeoutSignal ? { timeoutSignal: context.timeoutSignal } : {}),
      });
    case "redis-list":
      if (!context.redis) {
        throw new Error(`Destination ${destination.name} needs a Redis connection`);
      }
      return createRedisListSink({
        name: destination.name,
        redis: context.redis,
        key: destination.key,
        push: destination.push,
        prefix: context.prefix,
      });
  }
}

/** The deliverer for a routes file: one sink per destination, its dead letter and retry policy. */
export function createRoutedDeliverer(
  routes: Routes,
  options: {
    store: StateStore;
    metrics: Metrics;
    scheduleS: readonly number[];
    context: SinkContext;
  },
): Deliverer {
  const { context } = options;
  return createDeliverer({
    sinks: new Map([...routes.destinations].map(([name, d]) => [name, createSink(d, context)])),
    store: options.store,
    deadLetterSink: routes.deadLetter ? createSink(routes.deadLetter, context) : null,
    metrics: options.metrics,
    attempts: routes.retry.attempts,
    maxAgeS: routes.retry.maxAgeS,
    scheduleS: options.scheduleS,
  });
}
