/**
 * Who may see and do what. With `STATUS_TOKEN`, every guarded route needs a live login
 * session or `Authorization: Bearer <token>` (Hono's `bearerAuth`, which compares in
 * constant time). Without it the guarded routes stay open but show aggregates only, and
 * every action that changes state is refused: an unset token never means an open admin.
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { bearerAuth } from "hono/bearer-auth";
import { getCookie } from "hono/cookie";
import { HTTPException } from "hono/http-exception";
import { SESSION_COOKIE, type Sessions } from "./sessions.ts";

const UNAUTHORIZED = { error: "unauthorized: send Authorization: Bearer <STATUS_TOKEN>" };

/** Why an action is refused when no token is configured. */
export const NO_TOKEN_MESSAGE =
  "forbidden: this action needs STATUS_TOKEN: set it (at least 16 characters) and log in";

/**
 * Lets a request through when no token is configured, or it carries a live session
 * cookie or the Bearer token; sends a browser asking for the page to the login form.
 */
export function requireViewer(token: string | null, sessions: Sessions | null): MiddlewareHandler {
  if (token === null || sessions === null) return async (_, next) => await next();
  const bearer = bearerAuth({
    token,
    noAuthenticationHeader: { message: UNAUTHORIZED },
    invalidAuthenticationHeader: { message: UNAUTHORIZED },
    invalidToken: { message: UNAUTHORIZED },
  });
  return async function requireViewer(c, next) {
    if (await sessions.isValid(getCookie(c, SESSION_COOKIE))) return await next();
    const authorization = c.req.header("authorization");
    if (authorization === undefined && c.req.method === "GET" && c.req.path === "/") {
      return c.redirect("/login", 303);
    }
    return await bearer(c, next);
  };
}

/** Refuses actions that change state (403) unless a token is configured, and so was checked. */
export function requireToken(token: string | null): MiddlewareHandler {
  return async function requireToken(_, next) {
    if (token === null) throw new HTTPException(403, { message: NO_TOKEN_MESSAGE });
    await next();
  };
}
