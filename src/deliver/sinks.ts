/**
 * The deliverer of a routes file: one sink per destination, the dead letter and the retry
 * policy, each sink built by its kind (`kinds/registry.ts`) with its own connection.
 * @module
 */
import type { Routes } from "../config/routes.ts";
import type { Metrics } from "../status/metrics.ts";
import type { StateStore } from "../store/state_store.ts";
import type { Tracer } from "../status/trace.ts";
import { createDeliverer, type Deliverer, type DeliveryObserver } from "./deliverer.ts";
import { createSink, type RouterSinkContext } from "./kinds/registry.ts";

/** The deliverer for a routes file: one sink per destination, its dead letter and retry policy. */
export function createRoutedDeliverer(
  routes: Routes,
  options: {
    store: StateStore;
    metrics: Metrics;
    scheduleS: readonly number[];
    context: RouterSinkContext;
    observer?: DeliveryObserver;
    tracer?: Tracer;
    honourPauses?: boolean;
  },
): Deliverer {
  const context: RouterSinkContext = { markers: options.store, ...options.context };
  return createDeliverer({
    sinks: new Map([...routes.destinations].map(([name, d]) => [name, createSink(d, context)])),
    store: options.store,
    deadLetterSink: routes.deadLetter ? createSink(routes.deadLetter, context) : null,
    metrics: options.metrics,
    attempts: routes.retry.attempts,
    maxAgeS: routes.retry.maxAgeS,
    scheduleS: options.scheduleS,
    ...(options.observer ? { observer: options.observer } : {}),
    ...(options.tracer ? { tracer: options.tracer } : {}),
    ...(options.honourPauses === false ? { honourPauses: false } : {}),
  });
}
