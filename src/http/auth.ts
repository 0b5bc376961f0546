/**
 * `STATUS_TOKEN` checks: a Bearer header or a session cookie set by the login form, both
 * compared in constant time.
 * @module
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";

/** The session cookie's name. */
export const SESSION_COOKIE = "vk_router_session";

/** Compares two strings in time that does not depend on where they differ. */
export function constantTimeEqual(a: string, b: string): boolean {
  const da = createHash("sha256").update(a).digest();
  const db = createHash("sha256").update(b).digest();
  return timingSafeEqual(da, db) && a.length === b.length;
}

/** The cookie value that proves a login: an HMAC of a fixed label, keyed by the token. */
export function sessionValue(token: string): string {
  return createHmac("sha256", token).update("vk-event-router session").digest("base64url");
}

/** Whether a request carries the token (Bearer) or a valid session cookie. */
export function isAuthorised(
  token: string,
  authorization: string | undefined,
  cookie: string | undefined,
): boolean {
  const bearer = authorization?.match(/^Bearer\s+(.+)$/i)?.[1];
  if (bearer !== undefined && constantTimeEqual(bearer, token)) return true;
  return cookie !== undefined && constantTimeEqual(cookie, sessionValue(token));
}
