/**
 * Connections are bounded: a stranger holding connections open (idle, or with headers
 * that never end) cannot hold them for ever nor exhaust the process's file descriptors
 * into a crash. The real service process, and the server module on its own.
 */
import assert from "node:assert/strict";
import { serveBounded } from "../src/http/server.ts";
import { spawnService } from "./support/service_process.ts";
import { waitFor } from "./support/wait.ts";

const CALLBACK = {
  VK_GROUP_ID: "42",
  VK_LONGPOLL: "off",
  VK_CALLBACK_CONFIRMATION: "conf-connections",
  VK_CALLBACK_SECRET: "connections-callback-secret",
  PORT: "0",
};

/** Resolves with how long until the peer closed `conn` (reading whatever it sends). */
async function closedWithin(conn: Deno.Conn, ms: number): Promise<number | null> {
  const started = Date.now();
  const buffer = new Uint8Array(4096);
  const timer = setTimeout(() => conn.close(), ms);
  try {
    while (await conn.read(buffer) !== null) { /* an answer (408), then the close */ }
    return Date.now() - started;
  } catch {
    return null; // we gave up first
  } finally {
    clearTimeout(timer);
  }
}

const hostPort = (url: string) => {
  const { hostname, port } = new URL(url);
  return { hostname, port: Number(port) };
};

Deno.test("the service closes idle connections and half-sent requests after HTTP_IDLE_TIMEOUT_MS", async () => {
  await using service = await spawnService({ ...CALLBACK, HTTP_IDLE_TIMEOUT_MS: "500" });
  const url = await service.url();
  const idle = await Deno.connect(hostPort(url));
  const halfSent = await Deno.connect(hostPort(url));
  await halfSent.write(new TextEncoder().encode("POST /callback HTTP/1.1\r\nHost: x\r\nX-A: "));
  const [idleMs, halfMs] = await Promise.all([
    closedWithin(idle, 5000),
    closedWithin(halfSent, 5000),
  ]);
  assert.ok(idleMs !== null && idleMs >= 400, `an idle connection: closed after ${idleMs} ms`);
  assert.ok(halfMs !== null && halfMs >= 400, `unfinished headers: closed after ${halfMs} ms`);
  const metrics = await (await fetch(`${url}/metrics`)).text();
  assert.match(metrics, /vk_router_http_idle_closed_total 2/);
});

Deno.test("under ulimit -n 256, 305 idle connections neither crash the service nor stop it for good", async () => {
  for (const trustProxy of ["off", "on"]) {
    await using service = await spawnService(
      { ...CALLBACK, HTTP_IDLE_TIMEOUT_MS: "1500", TRUST_PROXY: trustProxy },
      undefined,
      256,
    );
    const url = await service.url();
    const held: Deno.Conn[] = [];
    for (let i = 0; i < 305; i++) {
      try {
        held.push(await Deno.connect(hostPort(url)));
      } catch {
        break; // the backlog is full: the flood is at its height
      }
    }
    await new Promise((r) => setTimeout(r, 300));
    const exited = await Promise.race([service.exited, new Promise((r) => setTimeout(r, 0))]);
    assert.equal(
      exited,
      undefined,
      `TRUST_PROXY=${trustProxy}: exited ${exited}\n${service.output()}`,
    );
    // Once the idle timeout closed the flood, the service answers again.
    await waitFor(
      async () => {
        try {
          const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) });
          return (await res.text()) === "ok";
        } catch {
          return false;
        }
      },
      `TRUST_PROXY=${trustProxy}: /healthz answers after the flood`,
      15_000,
    );
    for (const conn of held) {
      try {
        conn.close();
      } catch { /* closed by the service */ }
    }
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const refusedOrFailed = trustProxy === "off"
      ? /vk_router_http_connections_refused_total\{reason="address"\} \d+/
      : /vk_router_http_accept_errors_total [1-9]/;
    assert.match(metrics, refusedOrFailed, `TRUST_PROXY=${trustProxy}`);
    if (trustProxy === "on") assert.match(service.output(), /Cannot accept connections/);
  }
});

Deno.test("serveBounded() caps connections per address and per process, and keeps a busy one open", async () => {
  const refused: string[] = [];
  let release = () => {};
  const slow = new Promise<void>((resolve) => release = resolve);
  const serve = (maxPerAddress: number | null) =>
    serveBounded({
      hostname: "127.0.0.1",
      port: 0,
      maxConnections: 4,
      maxPerAddress,
      idleTimeoutMs: 300,
      observer: { refused: (r) => refused.push(r), idleClosed: () => {}, acceptFailed: () => {} },
    }, async (request, info) => {
      if (new URL(request.url).pathname === "/slow") await slow;
      return new Response(`from ${info.remoteAddr.hostname}`);
    });
  const perAddress = serve(2);
  try {
    const addr = { hostname: "127.0.0.1", port: perAddress.addr.port };
    const [a, b, c] = [
      await Deno.connect(addr),
      await Deno.connect(addr),
      await Deno.connect(addr),
    ];
    assert.notEqual(await closedWithin(c, 2000), null, "the third from one address is closed");
    await waitFor(() => refused.includes("address"), "counted");

    // A request in progress for longer than the idle timeout keeps its connection.
    await a.write(new TextEncoder().encode("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"));
    await new Promise((r) => setTimeout(r, 700));
    release();
    const answer = new Uint8Array(1024);
    const n = await a.read(answer);
    assert.match(
      new TextDecoder().decode(answer.subarray(0, n ?? 0)),
      /200 OK[\s\S]*from 127\.0\.0\.1/,
    );
    assert.notEqual(await closedWithin(a, 2000), null, "then idle, it is closed");
    assert.notEqual(await closedWithin(b, 2000), null, "the idle one too");
    assert.equal(perAddress.connections, 0);
  } finally {
    await perAddress.shutdown();
  }

  const perProcess = serve(null); // behind a trusted proxy: the total only
  try {
    const addr = { hostname: "127.0.0.1", port: perProcess.addr.port };
    const open = [];
    for (let i = 0; i < 4; i++) open.push(await Deno.connect(addr));
    await waitFor(() => perProcess.connections === 4, "four open from one address");
    const fifth = await Deno.connect(addr);
    assert.notEqual(await closedWithin(fifth, 2000), null, "the fifth is closed");
    assert.ok(refused.includes("connections"));
    for (const conn of open) conn.close();
  } finally {
    await perProcess.shutdown();
  }
});

Deno.test("serveBounded() closes a connection whose body never ends once its answer is sent", async () => {
  const server = serveBounded(
    { hostname: "127.0.0.1", port: 0, idleTimeoutMs: 300 },
    () => new Response("too slow", { status: 408, headers: { connection: "close" } }),
  );
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
    await conn.write(
      new TextEncoder().encode(
        "POST /callback HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789",
      ),
    );
    assert.notEqual(await closedWithin(conn, 3000), null, "closed after the 408");
  } finally {
    await server.shutdown();
  }
});
