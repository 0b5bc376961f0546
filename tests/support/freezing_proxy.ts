/**
 * A TCP proxy in front of a server (the test Redis) that can freeze: while frozen it keeps
 * every connection open and forwards nothing either way, as a Redis that hangs (a paused
 * process, a stalled network) looks to its clients. New connections are accepted and
 * held too.
 * @module
 */

/** A running proxy. */
export interface FreezingProxy extends AsyncDisposable {
  /** `redis://127.0.0.1:<port>` of the proxy. */
  url: string;
  /** Stops (true) or resumes (false) forwarding. */
  freeze(frozen: boolean): void;
  close(): Promise<void>;
}

/** Starts a proxy on a free port of 127.0.0.1 to `target` (a `redis://host:port` URL). */
export function startFreezingProxy(target: string): FreezingProxy {
  const { hostname, port } = new URL(target);
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  let frozen = false;
  let thaw: PromiseWithResolvers<void> = Promise.withResolvers();
  const pipe = async (from: Deno.Conn, to: Deno.Conn) => {
    const buffer = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const n = await from.read(buffer);
        if (n === null) break;
        while (frozen) await thaw.promise;
        let sent = 0;
        while (sent < n) sent += await to.write(buffer.subarray(sent, n));
      }
    } catch { /* closed */ }
    for (const c of [from, to]) {
      try {
        c.close();
      } catch { /* already */ }
      conns.delete(c);
    }
  };
  const accepting = (async () => {
    for await (const client of listener) {
      conns.add(client);
      Deno.connect({ hostname, port: Number(port) || 6379 }).then((server) => {
        conns.add(server);
        pipe(client, server);
        pipe(server, client);
      }, () => client.close());
    }
  })().catch(() => {});
  const close = async () => {
    frozen = false;
    thaw.resolve();
    listener.close();
    for (const c of conns) {
      try {
        c.close();
      } catch { /* already */ }
    }
    await accepting;
  };
  return {
    url: `redis://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    freeze(on) {
      frozen = on;
      if (on) thaw = Promise.withResolvers();
      else thaw.resolve();
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
