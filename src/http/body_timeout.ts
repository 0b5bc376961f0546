/**
 * A deadline for reading a request body, so that a client that sends its headers and then
 * trickles (or never sends) the body cannot hold a connection and a handler open.
 *
 * Hand-written because nothing else bounds it: Hono's `timeout` middleware bounds the
 * whole handler (a callback legitimately waits for its delivery), `bodyLimit` bounds only
 * the size, and `Deno.serve` has no read timeouts at all (denoland/deno#3515); the
 * service's idle timeout (`server.ts`) spares a request in progress, as it must.
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { HTTPException } from "hono/http-exception";

/** How long a request body may take to arrive by default. */
export const BODY_READ_TIMEOUT_MS = 10_000;

/**
 * Middleware that errors the request body `ms` after the request arrived, unless it has
 * been read by then: the handler's read (or `bodyLimit`'s) throws an `HTTPException` whose
 * response is a 408. Put it before `bodyLimit`, which reads a chunked body at once.
 */
export function bodyReadTimeout(ms: number = BODY_READ_TIMEOUT_MS): MiddlewareHandler {
  return async function bodyReadTimeout(c, next) {
    const body = c.req.raw.body;
    if (!body) return await next();
    const reader = body.getReader();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      reader.cancel().catch(() => {});
    }, ms);
    const source = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const { done, value } = await reader.read().catch((error) => {
          clearTimeout(timer);
          throw error;
        });
        if (timedOut) return controller.error(tooSlow(ms));
        if (done) {
          clearTimeout(timer);
          controller.close();
        } else controller.enqueue(value);
      },
      cancel(reason) {
        clearTimeout(timer);
        return reader.cancel(reason);
      },
    });
    // A new request from the parts, not from the request itself: copying a served request
    // copies its signal, and reading that makes Deno print a warning line into the log stream.
    const raw = c.req.raw;
    c.req.raw = new Request(raw.url, {
      method: raw.method,
      headers: raw.headers,
      body: source,
      duplex: "half",
    } as RequestInit);
    try {
      await next();
    } finally {
      clearTimeout(timer);
    }
  };
}

/**
 * The 408 for a slow sender. The handler and its body buffer are done with at once;
 * `Connection: close` tells a well-behaved client to go, and the service's server
 * (`server.ts`) closes the socket once no request is in progress on it for its idle timeout.
 */
function tooSlow(ms: number): HTTPException {
  const res = new Response(`request body not received within ${ms} ms\n`, {
    status: 408,
    headers: { "content-type": "text/plain; charset=utf-8", connection: "close" },
  });
  return new HTTPException(408, { res, message: "request body timeout" });
}
