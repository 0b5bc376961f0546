/**
 * The HTTP face of the service, built by a factory so tests drive it with
 * `app.request()`: the status page, `/api/status`, `/metrics`, `/healthz`, `/readyz`,
 * login and logout, the dead-letter replay and the VK Callback API endpoint.
 *
 * Secure by default: without `STATUS_TOKEN` the page shows aggregates only and every
 * action answers 403 (`auth.ts`); logins are server-side sessions (`sessions.ts`),
 * throttled per address; every POST that carries the session cookie must come from this
 * site; request bodies have a size and a time limit; and every answer goes through the
 * same redaction as the logs.
 * @module
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { HTTPException } from "hono/http-exception";
import { secureHeaders } from "hono/secure-headers";
import { getLogger } from "@logtape/logtape";
import { errorMessage } from "../errors.ts";
import { createRedactor } from "../redact.ts";
import type { Sample } from "../status/metrics.ts";
import { withZeros } from "../status/families.ts";
import { renderPrometheus } from "../status/prometheus.ts";
import { refusal, requireToken, requireViewer, sameSecret } from "./auth.ts";
import { BODY_READ_TIMEOUT_MS, bodyReadTimeout } from "./body_timeout.ts";
import { createLoginThrottle, type LoginThrottle } from "./login_throttle.ts";
import { LoginPage, StatusPage } from "./page.tsx";
import { clientAddress, isHttps, publicOrigin } from "./request_info.ts";
import { createSessions, SESSION_COOKIE, type SessionStore } from "./sessions.ts";
import { snapshotGauges, type SnapshotView, type StatusSnapshot } from "./snapshot.ts";
import type { Replay } from "../replay.ts";
import { LockBusyError } from "../store/state_store.ts";
import type { Workbench } from "../workbench.ts";
import { createWorkbenchApi } from "./workbench_api.ts";

const log = getLogger(["vk-event-router", "http"]);

/** Why a cookie POST from elsewhere is refused. */
const CROSS_SITE_MESSAGE = "forbidden: a request with the session cookie must come from this site";

/** Largest Callback API body accepted. */
export const MAX_CALLBACK_BYTES = 1024 * 1024;
/** Largest login form accepted: a token and little else. */
export const MAX_LOGIN_BYTES = 4 * 1024;

/** What the app needs from the service. */
export interface AppDeps {
  snapshot: (view: SnapshotView) => Promise<StatusSnapshot>;
  /** Counter samples for `/metrics` (in-process, or read from Redis by the worker). */
  samples: () => Promise<Sample[]>;
  /** Every series known at start, at 0: `/metrics` shows each one before it first moves. */
  zeros?: readonly Sample[];
  /** Null when the store or a community is unhealthy, with the reason; null reason when ready. */
  readiness: () => Promise<string | null>;
  /** Null: the page shows aggregates only and actions are refused. */
  statusToken: string | null;
  /** Where login sessions are kept (the state store). */
  sessionStore: SessionStore;
  /** @default 12 h */
  sessionTtlMs?: number;
  /** Honour `X-Forwarded-*` headers: the service runs behind a reverse proxy. @default false */
  trustProxy?: boolean;
  /** Secret values redacted from every answer, besides the shapes that are always secret. */
  secrets: readonly string[];
  callback: { confirmation: string | null; secret: string | null; groupIds: readonly number[] };
  /** Takes one raw event through the pipeline; resolves once it is delivered or durably parked. */
  accept: (update: unknown) => Promise<void>;
  /** Re-queues dead letters through the pipeline; resolves with what it did; rejects with `LockBusyError` while one runs. */
  replayDeadLetters: Replay;
  /** Dead letters one by one, parked deliveries, retry-now, pause and resume (`/api/...`). */
  workbench?: Workbench;
  /** The routes file's destination names, for the workbench's routes. */
  destinationNames?: readonly string[];
  /** True once shutdown began: callbacks are refused so that VK redelivers later. */
  stopping: () => boolean;
  /** When set, `POST /tasks/retry` (authorised) runs one round of retries (the worker's cron). */
  retryTask?: () => Promise<number>;
  /** How long a callback or login body may take to arrive. @default BODY_READ_TIMEOUT_MS */
  bodyTimeoutMs?: number;
  /** Failed tries of the status token per address (form, bearer, cookie). @default 5 a minute */
  loginThrottle?: LoginThrottle;
}

/** Builds the app. */
export function createApp(deps: AppDeps): Hono {
  const app = new Hono();
  const token = deps.statusToken;
  const trustProxy = deps.trustProxy ?? false;
  const redactor = createRedactor(deps.secrets);
  const sessions = token === null ? null : createSessions({
    store: deps.sessionStore,
    token,
    ...(deps.sessionTtlMs === undefined ? {} : { ttlMs: deps.sessionTtlMs }),
  });
  const throttle = deps.loginThrottle ?? createLoginThrottle();
  const readBodyWithin = bodyReadTimeout(deps.bodyTimeoutMs ?? BODY_READ_TIMEOUT_MS);
  const view: SnapshotView = token === null ? "aggregates" : "full";
  const snapshot = async () => redactor.value(await deps.snapshot(view));

  app.onError((error, c) => {
    if (error instanceof HTTPException) {
      return error.res ? error.getResponse() : c.json({ error: error.message }, error.status);
    }
    if (error instanceof LockBusyError) {
      return c.json({ error: "a replay of the dead letters is running: try again later" }, 409);
    }
    log.error("Cannot answer {method} {path}: {error}", {
      method: c.req.method,
      path: c.req.path,
      error: redactor.text(errorMessage(error)),
    });
    return c.json({ error: "internal error" }, 500);
  });
  // The page is nobody's frame (its buttons act); no HSTS: TLS is the proxy's business.
  app.use("*", secureHeaders({ strictTransportSecurity: false }));
  // A POST that carries the session cookie must come from this site, whatever its content
  // type (Hono's `csrf` looks at form posts only): its Origin must be ours, or Sec-Fetch-Site
  // must say same-origin (as in Hono's check: under `Referrer-Policy: no-referrer` a browser
  // sends `Origin: null` with its own same-origin form posts). SameSite=Strict already keeps
  // the cookie off cross-site requests; this holds even where a browser does not.
  app.use("*", async (c, next) => {
    if (c.req.method === "GET" || c.req.method === "HEAD") return await next();
    if (getCookie(c, SESSION_COOKIE) === undefined) return await next();
    const origin = c.req.header("origin");
    const sameOrigin = origin === publicOrigin(c, trustProxy) ||
      c.req.header("sec-fetch-site") === "same-origin";
    if (!sameOrigin) throw new HTTPException(403, { message: CROSS_SITE_MESSAGE });
    return await next();
  });

  app.get("/healthz", (c) => c.text("ok"));
  app.get("/readyz", async (c) => {
    const reason = await deps.readiness();
    return reason === null ? c.text("ready") : c.text(`not ready: ${redactor.text(reason)}`, 503);
  });

  app.post(
    "/callback",
    readBodyWithin,
    bodyLimit({ maxSize: MAX_CALLBACK_BYTES, onError: (c) => c.text("payload too large", 413) }),
    async (c) => {
      const { confirmation, secret, groupIds } = deps.callback;
      if (confirmation === null) return c.text("not found", 404);
      if (deps.stopping()) return c.text("shutting down, retry later", 503);
      let body: unknown;
      try {
        body = JSON.parse(await c.req.text());
      } catch (error) {
        if (error instanceof HTTPException) throw error; // too slow: 408
        return c.text("body is not JSON", 400);
      }
      if (body === null || typeof body !== "object" || Array.isArray(body)) {
        return c.text("body is not a JSON object", 400);
      }
      const event = body as Record<string, unknown>;
      // VK always names the community, as a number: anything else is not VK.
      if (!groupIds.includes(event.group_id as number)) return c.text("unknown community", 403);
      if (event.type === "confirmation") return c.text(confirmation);
      if (
        secret !== null &&
        (typeof event.secret !== "string" || !sameSecret(event.secret, secret))
      ) {
        log.warn("Refused a callback with a wrong or missing secret");
        return c.text("forbidden", 403);
      }
      delete event.secret; // never carried into events or dead letters
      try {
        await deps.accept(event);
      } catch (error) {
        log.error("Cannot accept a callback event, VK will redeliver it: {error}", {
          error: redactor.text(errorMessage(error)),
        });
        return c.text("cannot accept the event now", 500);
      }
      return c.text("ok");
    },
  );

  app.get(
    "/login",
    (c) => token === null ? c.redirect("/", 303) : c.html(<LoginPage failed={false} />),
  );
  app.post(
    "/login",
    readBodyWithin,
    bodyLimit({ maxSize: MAX_LOGIN_BYTES, onError: (c) => c.text("payload too large", 413) }),
    async (c) => {
      if (token === null || sessions === null) return c.redirect("/", 303);
      const address = clientAddress(c, trustProxy);
      const early = refusal(c, throttle, address);
      if (early) return early;
      const form: Record<string, unknown> = await c.req.parseBody().catch((error) => {
        if (error instanceof HTTPException) throw error; // too slow: 408
        return {}; // not a form: no token
      });
      // From here to the verdict nothing awaits: the check and the failure are one step.
      const refused = refusal(c, throttle, address);
      if (refused) return refused;
      const submitted = typeof form.token === "string" ? form.token : "";
      if (!sameSecret(submitted, token)) {
        throttle.failed(address);
        log.warn("Refused a status-page login from {address}: wrong token", { address });
        return c.html(<LoginPage failed />, 401);
      }
      throttle.succeeded(address);
      setCookie(c, SESSION_COOKIE, await sessions.start(), {
        httpOnly: true,
        sameSite: "Strict",
        secure: isHttps(c, trustProxy),
        path: "/",
        maxAge: Math.floor(sessions.ttlMs / 1000),
      });
      log.info("Status-page login from {address}", { address });
      return c.redirect("/", 303);
    },
  );
  app.post("/logout", async (c) => {
    await sessions?.end(getCookie(c, SESSION_COOKIE));
    deleteCookie(c, SESSION_COOKIE, {
      httpOnly: true,
      sameSite: "Strict",
      secure: isHttps(c, trustProxy),
      path: "/",
    });
    return c.redirect(token === null ? "/" : "/login", 303);
  });

  // Everything below needs a session or the token when one is set.
  app.use("*", requireViewer(token, sessions, throttle, trustProxy));

  app.get("/", async (c) => {
    return c.html(
      <StatusPage
        s={await snapshot()}
        canReplay={token !== null}
        canLogout={token !== null}
        range={c.req.query("range")}
      />,
    );
  });
  app.get("/api/status", async (c) => c.json(await snapshot()));
  app.get("/metrics", async (c) => {
    const gauges = snapshotGauges(await deps.snapshot("aggregates"));
    const samples = withZeros(deps.zeros ?? [], [...await deps.samples(), ...gauges]);
    return c.text(redactor.text(renderPrometheus(samples)), 200, {
      "content-type": "text/plain; version=0.0.4; charset=utf-8",
    });
  });

  // Actions change state: they need STATUS_TOKEN, which the guard above then checked.
  const retryTask = deps.retryTask;
  if (retryTask) {
    app.post(
      "/tasks/retry",
      requireToken(token),
      async (c) => c.json({ retried: await retryTask() }),
    );
  }
  app.post("/dead-letters/replay", requireToken(token), async (c) => {
    const result = await deps.replayDeadLetters();
    if ((c.req.header("accept") ?? "").includes("text/html")) return c.redirect("/", 303);
    return c.json(result);
  });
  if (deps.workbench) {
    app.route(
      "/api",
      createWorkbenchApi(
        deps.workbench,
        new Set(deps.destinationNames ?? []),
        requireToken(token),
      ),
    );
  }
  return app;
}
