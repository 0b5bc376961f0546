/**
 * The HTTP face of the service, built by a factory so tests drive it with
 * `app.request()`: the status page, `/api/status`, `/metrics`, `/healthz`, `/readyz`,
 * the login form, the dead-letter replay and the VK Callback API endpoint.
 * @module
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { getCookie, setCookie } from "hono/cookie";
import { getLogger } from "@logtape/logtape";
import { errorMessage } from "../errors.ts";
import type { Sample } from "../status/metrics.ts";
import { renderPrometheus } from "../status/prometheus.ts";
import { constantTimeEqual, isAuthorised, SESSION_COOKIE, sessionValue } from "./auth.ts";
import { LoginPage, StatusPage } from "./page.tsx";
import { snapshotGauges, type StatusSnapshot } from "./snapshot.ts";

const log = getLogger(["vk-event-router", "http"]);

/** Largest Callback API body accepted. */
export const MAX_CALLBACK_BYTES = 1024 * 1024;

/** What the app needs from the service. */
export interface AppDeps {
  snapshot: (showText: boolean) => Promise<StatusSnapshot>;
  /** Counter samples for `/metrics` (in-process, or read from Redis by the worker). */
  samples: () => Promise<Sample[]>;
  /** Null when the store or a community is unhealthy, with the reason; null reason when ready. */
  readiness: () => Promise<string | null>;
  statusToken: string | null;
  callback: { confirmation: string | null; secret: string | null; groupIds: readonly number[] };
  /** Takes one raw event through the pipeline; resolves once it is delivered or durably parked. */
  accept: (update: unknown) => Promise<void>;
  /** Re-queues dead letters through the pipeline; resolves with how many. */
  replayDeadLetters: () => Promise<number>;
  /** True once shutdown began: callbacks are refused so that VK redelivers later. */
  stopping: () => boolean;
  /** When set, `POST /tasks/retry` (authorised) runs one round of retries (the worker's cron). */
  retryTask?: () => Promise<number>;
}

/** Builds the app. */
export function createApp(deps: AppDeps): Hono {
  const app = new Hono();
  const token = deps.statusToken;
  const authorised = (authorization: string | undefined, cookie: string | undefined) =>
    token === null || isAuthorised(token, authorization, cookie);

  app.get("/healthz", (c) => c.text("ok"));
  app.get("/readyz", async (c) => {
    const reason = await deps.readiness();
    return reason === null ? c.text("ready") : c.text(`not ready: ${reason}`, 503);
  });

  app.post(
    "/callback",
    bodyLimit({ maxSize: MAX_CALLBACK_BYTES, onError: (c) => c.text("payload too large", 413) }),
    async (c) => {
      const { confirmation, secret, groupIds } = deps.callback;
      if (confirmation === null) return c.text("not found", 404);
      if (deps.stopping()) return c.text("shutting down, retry later", 503);
      let body: unknown;
      try {
        body = JSON.parse(await c.req.text());
      } catch {
        return c.text("body is not JSON", 400);
      }
      if (body === null || typeof body !== "object" || Array.isArray(body)) {
        return c.text(
          "body is not a JSON object",
          400,
        );
      }
      const event = body as Record<string, unknown>;
      if (typeof event.group_id === "number" && !groupIds.includes(event.group_id)) {
        return c.text("unknown community", 403);
      }
      if (event.type === "confirmation") return c.text(confirmation);
      if (
        secret !== null &&
        (typeof event.secret !== "string" || !constantTimeEqual(event.secret, secret))
      ) {
        log.warn("Refused a callback with a wrong or missing secret");
        return c.text("forbidden", 403);
      }
      delete event.secret; // never carried into events or dead letters
      try {
        await deps.accept(event);
      } catch (error) {
        log.error("Cannot accept a callback event, VK will redeliver it: {error}", {
          error: errorMessage(error),
        });
        return c.text("cannot accept the event now", 500);
      }
      return c.text("ok");
    },
  );

  app.get("/login", (c) => c.html(<LoginPage failed={false} />));
  app.post("/login", async (c) => {
    if (token === null) return c.redirect("/", 303);
    const form = await c.req.parseBody();
    if (typeof form.token === "string" && constantTimeEqual(form.token, token)) {
      setCookie(c, SESSION_COOKIE, sessionValue(token), {
        httpOnly: true,
        sameSite: "Strict",
        path: "/",
      });
      return c.redirect("/", 303);
    }
    return c.html(<LoginPage failed />, 401);
  });

  // Everything below needs the token when one is set.
  app.use("*", async (c, next) => {
    if (authorised(c.req.header("authorization"), getCookie(c, SESSION_COOKIE))) {
      return await next();
    }
    if (c.req.method === "GET" && c.req.path === "/") return c.redirect("/login", 303);
    return c.json({ error: "unauthorized: send Authorization: Bearer <STATUS_TOKEN>" }, 401);
  });

  app.get("/", async (c) => {
    const s = await deps.snapshot(token !== null);
    return c.html(<StatusPage s={s} canReplay range={c.req.query("range")} />);
  });
  app.get("/api/status", async (c) => c.json(await deps.snapshot(token !== null)));
  app.get("/metrics", async (c) => {
    const gauges = snapshotGauges(await deps.snapshot(false));
    const samples = [...await deps.samples(), ...gauges].sort((a, b) =>
      a.name.localeCompare(b.name)
    );
    return c.text(renderPrometheus(samples), 200, {
      "content-type": "text/plain; version=0.0.4; charset=utf-8",
    });
  });
  const retryTask = deps.retryTask;
  if (retryTask) app.post("/tasks/retry", async (c) => c.json({ retried: await retryTask() }));
  app.post("/dead-letters/replay", async (c) => {
    const replayed = await deps.replayDeadLetters();
    if ((c.req.header("accept") ?? "").includes("text/html")) return c.redirect("/", 303);
    return c.json({ replayed });
  });
  return app;
}
