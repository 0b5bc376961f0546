/**
 * Survives a socket error that a client library left without a listener. nats.js's Node
 * transport can drop its socket's `error` listener when a connection fails or closes (a
 * refused authorization, a server gone mid-handshake) while the socket still reads: a reset
 * arriving then is emitted with nobody listening, which in Deno is an uncaught exception
 * that would end the process. Such an error concerns a connection already given up, so it
 * is logged and the process goes on; every other uncaught error still ends it.
 * @module
 */
import { getLogger } from "@logtape/logtape";

const log = getLogger(["vk-event-router", "net"]);

/** The codes of a socket that failed underneath its owner: transient by nature. */
const SOCKET_CODES = new Set(["ECONNRESET", "EPIPE", "ECONNABORTED", "ETIMEDOUT"]);

let installed = false;

/** Installs the guard once per process. */
export function surviveStraySocketErrors(): void {
  if (installed) return;
  installed = true;
  globalThis.addEventListener("error", (event) => {
    const error = (event as ErrorEvent).error as { code?: unknown; message?: unknown } | null;
    if (typeof error?.code !== "string" || !SOCKET_CODES.has(error.code)) return;
    event.preventDefault();
    log.warn("A socket failed after its connection was given up: {message}", {
      message: String(error.message),
      code: error.code,
    });
  });
}
