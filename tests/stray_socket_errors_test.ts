import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { surviveStraySocketErrors } from "../src/util/stray_socket_errors.ts";

Deno.test("surviveStraySocketErrors() lets the process outlive a reset nobody listens to, and only that", async () => {
  surviveStraySocketErrors();
  // What nats.js's transport can leave behind: a socket emitting a reset with no listener.
  const socket = new EventEmitter();
  const reset = Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
  setTimeout(() => socket.emit("error", reset), 0);
  await new Promise((resolve) => setTimeout(resolve, 50));
  // Any other uncaught error still reaches the default handling (here: not prevented).
  const other = new ErrorEvent("error", { error: new Error("a bug"), cancelable: true });
  globalThis.dispatchEvent(other);
  assert.equal(other.defaultPrevented, false, "an ordinary uncaught error is not swallowed");
  const socketError = new ErrorEvent("error", { error: reset, cancelable: true });
  globalThis.dispatchEvent(socketError);
  assert.equal(socketError.defaultPrevented, true, "a stray socket reset is survived");
});
