/**
 * Where a request came from, as the security checks need it: the client's address (for
 * login throttling), whether it came over HTTPS (for the cookie's `Secure` flag) and the
 * origin the browser saw (for the cross-site check). `X-Forwarded-*` headers are honoured
 * only with `TRUST_PROXY`, since anyone can send them; then the service must be reachable
 * through that one proxy only, which sets them.
 *
 * Hand-written because Hono's Deno `getConnInfo` is deprecated (`hono/deno` goes away in
 * v5) and reads the same `c.env.remoteAddr` that `Deno.serve` passes to `app.fetch`.
 * @module
 */
import type { Context } from "hono";

/** The first value of a comma-separated header, trimmed. */
const first = (value: string | undefined) => value?.split(",")[0]?.trim() || undefined;

/**
 * The client's address: the proxy's last `X-Forwarded-For` hop behind a trusted proxy,
 * else the peer of the connection; `unknown` when the app runs without a socket (tests).
 */
export function clientAddress(c: Context, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = c.req.header("x-forwarded-for")?.split(",").at(-1)?.trim();
    if (forwarded) return forwarded;
  }
  const remote = (c.env as Partial<Deno.ServeHandlerInfo> | undefined)?.remoteAddr;
  return remote && "hostname" in remote ? remote.hostname : "unknown";
}

/** Whether the browser reached us over HTTPS. */
export function isHttps(c: Context, trustProxy: boolean): boolean {
  if (trustProxy) {
    const proto = first(c.req.header("x-forwarded-proto"));
    if (proto) return proto.toLowerCase() === "https";
  }
  return new URL(c.req.url).protocol === "https:";
}

/** The origin the browser sees this service at, e.g. `https://router.example`. */
export function publicOrigin(c: Context, trustProxy: boolean): string {
  const url = new URL(c.req.url);
  const host = (trustProxy ? first(c.req.header("x-forwarded-host")) : undefined) ?? url.host;
  return `${isHttps(c, trustProxy) ? "https" : "http"}://${host}`;
}
