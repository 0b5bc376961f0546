/**
 * The long-running service: the router's graph (`router.ts`) plus what runs in the
 * background: one long-poll ingestion loop per community (with the state in Redis, only
 * while this replica holds the community's lease), the retry worker, the settings check
 * and the HTTP server. This module owns start, stop and the `AbortController`.
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { Community, Config } from "./config/config.ts";
import type { Routes } from "./config/routes.ts";
import { runRetryWorker } from "./deliver/deliverer.ts";
import { CONNECTION_SPECS } from "./deliver/kinds/registry.ts";
import { ConfigError, errorMessage, VkFatalError } from "./errors.ts";
import { runIngestion } from "./ingest/ingestion.ts";
import { createLeaseCoordinator } from "./lease/coordinator.ts";
import { leasedApi, leasedFetch, leasedStore } from "./lease/fencing.ts";
import type { HeldLease } from "./lease/hold.ts";
import { createLeaseClient } from "./lease/lease.ts";
import { buildRouter, type Router, type RouterCore, verifyDestinations } from "./router.ts";
import { checkSettings, createSharedSettings } from "./vk/settings_check.ts";
import { configSummary } from "./config/summary.ts";
import { type Fleet, type ReplicaReport, REPORT_EVERY_MS } from "./status/fleet.ts";
import { assessHealth, RECENT_DEAD_LETTERS_MS } from "./status/health.ts";
import { failingNow, recentDeadLetters } from "./status/status.ts";
import { sleep } from "./util/time.ts";
import denoJson from "../deno.json" with { type: "json" };
import { type BoundedServer, serveBounded } from "./http/server.ts";
import { warnAboutSecurity } from "./http/security_options.ts";
import { listenProblem } from "./start_failure.ts";

const log = getLogger(["vk-event-router", "service"]);

/** How long a replica waits for the whole fleet to poll before its settings checks. */
const SETTINGS_AFTER_MS = 300_000;

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
    fleet: true,
    config,
    routes,
    embeddedStore: options.embeddedStore ?? false,
    ...(options.fetch ? { io: { fetch: options.fetch } } : {}),
    http: (core) => ({
      readiness: () => readiness(core),
      stopping: () => controller.signal.aborted,
    }),
  });
  // Listening comes before any poll, so a HOST or PORT mistake stops the start cleanly.
  const { metrics } = router;
  let server: BoundedServer;
  try {
    server = serveBounded({
      hostname: config.host,
      port: config.port,
      maxConnections: config.http.maxConnections,
      // Behind a trusted proxy every connection comes from the proxy: only the total is capped.
      maxPerAddress: config.trustProxy ? null : config.http.maxConnectionsPerAddress,
      idleTimeoutMs: config.http.idleTimeoutMs,
      observer: {
        refused: (reason) => metrics.inc("vk_router_http_connections_refused_total", { reason }),
        idleClosed: () => metrics.inc("vk_router_http_idle_closed_total"),
        acceptFailed: () => metrics.inc("vk_router_http_accept_errors_total"),
      },
    }, router.app.fetch);
  } catch (error) {
    await router.close();
    const problem = listenProblem(error, config.host, config.port);
    throw problem ? new ConfigError([problem], { cause: error }) : error;
  }
  const host = config.host.includes(":") ? `[${config.host}]` : config.host;
  const url = `http://${host}:${server.addr.port}`;
  const { store, observer, pipeline } = router;
  for (const spec of CONNECTION_SPECS.filter((spec) => router.connections.has(spec.name))) {
    log.info("Connection {name}: {where}", {
      name: spec.name,
      where: spec.describe(config.connections[spec.name]),
    });
  }
  try {
    for (const warning of await verifyDestinations(router)) log.warn("{warning}", { warning });
  } catch (error) {
    await router.close();
    throw error;
  }
  // The summary is the message itself (a property would be rendered quoted); braces escaped.
  const summary = configSummary(config, routes, store.kind === "kv");
  log.info(summary.replaceAll("{", "{{").replaceAll("}", "}}"), {
    instanceId: config.instanceId,
  });

  // With the state in Redis, several replicas may run: each community is polled by the
  // holder of its lease only. The embedded store serves one process (it refuses a second).
  const leases = config.vk.longPoll && store.kind === "redis" && router.redis
    ? createLeaseCoordinator({
      client: createLeaseClient({
        redis: router.redis.redis,
        prefix: config.redisPrefix,
        ttlMs: config.leaseTtlMs,
      }),
      instanceId: config.instanceId,
      communities: config.communities.map((c) => c.groupId),
      ttlMs: config.leaseTtlMs,
      observer,
    })
    : null;
  if (leases) {
    log.info(
      "Leases in Redis: this instance polls the communities whose lease it holds (TTL {ttl} s)",
      {
        ttl: config.leaseTtlMs / 1000,
      },
    );
  }

  // The settings check: with leases, by each community's owner, once per fleet (the result
  // is shared in Redis and every replica shows it); otherwise by this process at start.
  const shownSettings = new Set<number>();
  const showSettings = (groupId: number, warnings: readonly string[]) => {
    if (shownSettings.has(groupId)) return;
    shownSettings.add(groupId);
    for (const warning of warnings) {
      log.warn("{warning}", { warning });
      router.status.warn(groupId, warning);
    }
  };
  const checkFailed = (groupId: number) => (error: unknown) =>
    log.warn("Cannot check the long-poll settings of community {groupId}: {error}", {
      groupId,
      error: errorMessage(error),
    });
  const sharedSettings = leases
    ? createSharedSettings(router.redis!.redis, config.redisPrefix, routes)
    : null;
  if (config.vk.longPoll && !sharedSettings) {
    for (const c of config.communities) {
      checkSettings(router.apiFor(c.token!), c.groupId, routes).then(
        (warnings) => showSettings(c.groupId, warnings),
        checkFailed(c.groupId),
      );
    }
  }
  /**
   * With leases, once per TTL until every community is known: what the owners shared, and
   * whether the whole fleet polls. Only then does this replica check the communities it
   * holds, so that a start costs VK one call per community (its poll server) before every
   * community polls; after `SETTINGS_AFTER_MS` it checks anyway (a community that cannot poll).
   */
  const held = new Set<number>();
  const checking = new Set<number>();
  const learning = sharedSettings && (async () => {
    const groupIds = config.communities.map((c) => c.groupId);
    const since = Date.now();
    let polling = false;
    while (!controller.signal.aborted) {
      const unknown = groupIds.filter((g) => !shownSettings.has(g));
      if (unknown.length === 0) return;
      try {
        const read = await sharedSettings.read(unknown, polling ? [] : groupIds);
        for (const [g, warnings] of read.shared) showSettings(g, warnings);
        polling ||= read.polling || Date.now() - since >= SETTINGS_AFTER_MS;
      } catch { /* Redis is down: the leases say so; the next round asks again */ }
      for (const c of polling ? config.communities : []) {
        if (!held.has(c.groupId) || shownSettings.has(c.groupId) || checking.has(c.groupId)) {
          continue;
        }
        checking.add(c.groupId);
        sharedSettings.check(router.apiFor(c.token!), c.groupId).then(
          (warnings) => warnings && showSettings(c.groupId, warnings),
          checkFailed(c.groupId),
        ).finally(() => checking.delete(c.groupId));
      }
      await sleep(config.leaseTtlMs, controller.signal).catch(() => {});
    }
  })();

  /** One community's ingestion; under a lease, its polls and checkpoints are gated by it. */
  const ingest = (community: Community, signal: AbortSignal, lease: HeldLease | null) => {
    const api = router.apiFor(community.token!);
    const doFetch = options.fetch ?? fetch;
    return runIngestion({
      poller: {
        groupId: community.groupId,
        api: lease ? leasedApi(api, lease) : api,
        wait: config.vk.wait,
        graceMs: config.vk.graceMs,
        observer,
        fetch: lease ? leasedFetch(doFetch, lease) : doFetch,
      },
      store: lease ? leasedStore(store, lease) : store,
      checkpointEveryMs: 250,
      maxEventsInFlight: config.vk.maxEventsInFlight,
      handler: pipeline,
      signal,
      onCheckpoint: observer.checkpoint,
      onStuck: observer.stuck,
    });
  };

  const fatal = new Map<number, string>();
  const loops = !config.vk.longPoll ? [] : config.communities.map(async (community) => {
    try {
      if (leases) {
        await leases.run(
          community.groupId,
          (lease, signal) => {
            held.add(community.groupId);
            return ingest(community, signal, lease).finally(() => held.delete(community.groupId));
          },
          controller.signal,
        );
      } else {
        router.status.owner(community.groupId, config.instanceId, true);
        await ingest(community, controller.signal, null);
      }
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
  const reporting = router.fleet ? reportToFleet(router, router.fleet, controller.signal) : null;

  log.info(`Status page at ${url}/`, { url });
  warnAboutSecurity(config);

  let stopping: Promise<void> | null = null;
  const stop = () =>
    stopping ??= (async () => {
      log.info("Stopping: finishing the batch in flight");
      controller.abort(new DOMException("The service is stopping", "AbortError"));
      await done;
      await leases?.close();
      await learning;
      await reporting;
      await router.fleet?.leave(config.instanceId).catch(() => {});
      await retries;
      await server.shutdown();
      await router.close();
      log.info("Stopped");
    })();

  return { router, done, fatal, url, stop, [Symbol.asyncDispose]: stop };
}

/**
 * Ready when the store answers and every community polls, takes callbacks only, or is
 * polled by another replica (a healthy standby is ready).
 */
async function readiness(router: RouterCore): Promise<string | null> {
  const down = await router.readiness();
  if (down) return down;
  for (const c of router.status.communities.values()) {
    if (c.state !== "polling" && c.state !== "callback-only" && c.state !== "standby") {
      return `community ${c.groupId}: ${c.state}${c.detail ? ` (${c.detail})` : ""}`;
    }
  }
  return null;
}

/** This replica as the fleet view shows it: what it polls, its counts, its own verdict. */
function replicaReport(router: RouterCore): ReplicaReport {
  const { config, status, metrics } = router;
  const self = config.instanceId;
  const health = assessHealth({
    storeReachable: true, // it could write this report
    communities: [...status.communities.values()].map((c) => ({
      group_id: c.groupId,
      state: c.state,
      detail: c.detail,
      stuck_since: c.stuckSince,
      stuck_batch: c.stuckBatch,
    })),
    destinations: [...status.destinations].map(([name, d]) => ({
      name,
      state: failingNow(d) ? "failing" : "ok",
      last_error: d.lastError,
      recent_dead_letters: recentDeadLetters(d, Date.now(), RECENT_DEAD_LETTERS_MS),
      backlog_growing: false,
    })),
    parkedGrowing: false,
  });
  return {
    instance_id: self,
    version: denoJson.version,
    started_at: status.startedAt,
    communities: [...status.communities.values()]
      .filter((c) => c.owner === self && c.state !== "standby")
      .map((c) => c.groupId),
    events_received: metrics.sum("vk_router_events_received_total"),
    delivered: metrics.sum("vk_router_delivered_total"),
    failures: metrics.sum("vk_router_delivery_failures_total"),
    dead_lettered: metrics.sum("vk_router_dead_lettered_total"),
    health: health.status,
    reasons: health.reasons,
    destinations: Object.fromEntries(
      [...status.destinations].map(([name, d]) => [name, {
        ...d,
        deadLetteredAt: d.deadLetteredAt.filter((at) => Date.now() - at < RECENT_DEAD_LETTERS_MS),
      }]),
    ),
  };
}

/** Writes this replica's report every {@linkcode REPORT_EVERY_MS} until the signal aborts. */
async function reportToFleet(router: RouterCore, fleet: Fleet, signal: AbortSignal) {
  while (!signal.aborted) {
    await fleet.report(replicaReport(router)).catch((error) =>
      log.debug("Cannot write this replica's fleet report: {error}", { error: errorMessage(error) })
    );
    await sleep(REPORT_EVERY_MS, signal).catch(() => {});
  }
}
