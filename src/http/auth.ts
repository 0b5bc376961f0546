/**
 * Who may see and do what. With `STATUS_TOKEN`, every guarded route needs a live login
 * session or `Authorization: Bearer <token>` (compared in constant time), each presented
 * one a try of the login throttle. Without it the guarded routes stay open but show
 * aggregates only, and every action that changes state is refused: an unset token never
 * means an open admin.
 * @module
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { Context, MiddlewareHandler } from "hono";
import { deleteCookie, getCookie } from "hono/cookie";
import { HTTPException } from "hono/http-exception";
import { getLogger } from "@logtape/logtape";
import type { LoginThrottle } from "./login_throttle.ts";
import { clientAddress } from "./request_info.ts";
import { SESSION_COOKIE, type Sessions } from "./sessions.ts";

const log = getLogger(["vk-event-router", "http"]);

const UNAUTHORIZED = { error: "unauthorized: send Authorization: Bearer <STATUS_TOKEN>" };

/** Why an action is refused when no token is configured. */
export const NO_TOKEN_MESSAGE =
  "forbidden: this action needs STATUS_TOKEN: set it (at least 16 characters) and log in";

/**
 * Whether `presented` is `secret`, in time independent of where they differ (both are
 * hashed first, so their lengths do not show either). Synchronous, unlike Hono's
 * `timingSafeEqual`: a throttle's check, the comparison and the failure it records must be
 * one step, with no await in between for a concurrent try to slip through.
 */
export function sameSecret(presented: string, secret: string): boolean {
  const digest = (s: string) => createHash("sha256").update(s).digest();
  return timingSafeEqual(digest(presented), digest(secret));
}

/** The 429 when `throttle` refuses `address` now, else null. */
export function refusal(c: Context, throttle: LoginThrottle, address: string): Response | null {
  const seconds = throttle.retryAfterS(address);
  if (seconds === 0) return null;
  return c.text(`too many failed tries: try again in ${seconds} s`, 429, {
    "retry-after": String(seconds),
  });
}

/**
 * Lets a request through when no token is configured, or it carries a live session
 * cookie or the Bearer token; sends a browser asking for the page to the login form.
 * Every presented cookie or token is a try of the `throttle` (the login form's too), so
 * that no way of guessing is faster than another; a refused one is logged, never its value.
 */
export function requireViewer(
  token: string | null,
  sessions: Sessions | null,
  throttle: LoginThrottle,
  trustProxy: boolean,
): MiddlewareHandler {
  if (token === null || sessions === null) return async (_, next) => await next();
  return async function requireViewer(c, next) {
    const cookie = getCookie(c, SESSION_COOKIE);
    const authorization = c.req.header("authorization");
    const toLogin = authorization === undefined && c.req.method === "GET" && c.req.path === "/";
    if (cookie === undefined && authorization === undefined) {
      return toLogin ? c.redirect("/login", 303) : c.json(UNAUTHORIZED, 401);
    }
    const address = clientAddress(c, trustProxy);
    const early = refusal(c, throttle, address);
    if (early) return early;
    const live = cookie !== undefined && await sessions.isValid(cookie);
    // From here to the verdict nothing awaits: the check and the failure are one step.
    const refused = refusal(c, throttle, address);
    if (refused) return refused;
    const bearer = /^Bearer +([^ ]+) *$/i.exec(authorization ?? "")?.[1];
    if (live || (bearer !== undefined && sameSecret(bearer, token))) return await next();
    throttle.failed(address);
    log.warn("Refused {presented} from {address}", {
      presented: authorization === undefined ? "a session cookie" : "a bearer token",
      address,
    });
    // A stale cookie is sent once: the browser forgets it, and a login starts afresh.
    if (cookie !== undefined) deleteCookie(c, SESSION_COOKIE, { path: "/" });
    if (toLogin) return c.redirect("/login", 303);
    return c.json(UNAUTHORIZED, 401, { "www-authenticate": 'Bearer error="invalid_token"' });
  };
}

/** Refuses actions that change state (403) unless a token is configured, and so was checked. */
export function requireToken(token: string | null): MiddlewareHandler {
  return async function requireToken(_, next) {
    if (token === null) throw new HTTPException(403, { message: NO_TOKEN_MESSAGE });
    await next();
  };
}
