/**
 * The `nats-jetstream` kind's test harness (`tests/support/kind_harness.ts`): a private
 * `nats-server -js` on a free port with its own store directory, a stream per test, and
 * the floor the bench compares the sink with. Test-only: never imported by the router.
 * @module
 */
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type {
  Arrived,
  KindHarness,
  Provisioned,
  TestServer,
} from "../../../../tests/support/kind_harness.ts";
import { freePort, startChildServer } from "../../../../tests/support/child_server.ts";

/** The line that says how to install nats-server. */
export const NATS_SERVER_MISSING =
  "Cannot find nats-server on PATH: install it (Debian/Ubuntu: apt-get install nats-server; " +
  "macOS: brew install nats-server) or set TEST_NATS_URL to a server started with -js";

/** Whether the server sent its INFO line (announcing JetStream when it should). */
async function ready(port: number, jetstream: boolean): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      const buf = new Uint8Array(4096);
      const n = await conn.read(buf);
      const info = n ? new TextDecoder().decode(buf.subarray(0, n)) : "";
      return info.startsWith("INFO ") && (!jetstream || info.includes('"jetstream":true'));
    } finally {
      conn.close();
    }
  } catch {
    return false;
  }
}

/**
 * A private `nats-server -js`; `args` add options (authentication, for the kind's tests),
 * `jetstream: false` leaves JetStream off.
 */
export async function startNatsServer(
  args: readonly string[] = [],
  { jetstream = true } = {},
): Promise<TestServer> {
  const dir = await Deno.makeTempDir({ prefix: "vk-router-nats-" });
  const port = freePort();
  const server = await startChildServer({
    dir,
    spawn: () =>
      new Deno.Command("nats-server", {
        args: [
          ...(jetstream ? ["-js"] : []),
          "-a",
          "127.0.0.1",
          "-p",
          String(port),
          "-sd",
          dir,
          ...args,
        ],
        stdout: "null",
        stderr: "null",
      }).spawn(),
    missing: NATS_SERVER_MISSING,
    async ready() {
      for (let i = 0; i < 400; i++) {
        if (await ready(port, jetstream)) return;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(`Cannot start nats-server on port ${port}: no JetStream within 10 s`);
    },
  });
  return {
    url: `nats://127.0.0.1:${port}`,
    stop: server.stop,
    start: server.start,
    [Symbol.asyncDispose]: server[Symbol.asyncDispose],
  };
}

/** What the harness keeps about each target, for the floor. */
interface Target extends Provisioned {
  nc: NatsConnection;
  subjectPrefix: string;
}

/** The harness. */
export const harness: KindHarness = {
  kind: "nats-jetstream",
  testUrlVariable: "TEST_NATS_URL",
  connectionVariable: "NATS_URL",
  guarantee: "exactly-once",
  async missing() {
    try {
      const { success } = await new Deno.Command("nats-server", {
        args: ["--version"],
        stdout: "null",
        stderr: "null",
      }).output();
      return success ? null : NATS_SERVER_MISSING;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return NATS_SERVER_MISSING;
      throw error;
    }
  },
  startServer: () => startNatsServer(),
  async provision(url, id) {
    const token = id.replace(/[^A-Za-z0-9_-]/g, "_");
    const stream = `T_${token}`;
    const subjectPrefix = `test.${token}`;
    const nc = await connect({ servers: url, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: stream, subjects: [`${subjectPrefix}.>`] });
    const target: Target = {
      nc,
      subjectPrefix,
      destination: { kind: "nats-jetstream", subject: `${subjectPrefix}.{group_id}.{event_type}` },
      async count() {
        await nc.flush(); // after a server restart: once the reader has reconnected
        return (await jsm.streams.info(stream)).state.messages;
      },
      async read() {
        await nc.flush();
        const { state } = await jsm.streams.info(stream);
        const arrived: Arrived[] = [];
        const seqs = Array.from({
          length: state.messages > 0 ? state.last_seq - state.first_seq + 1 : 0,
        }, (_, i) => state.first_seq + i);
        for (let i = 0; i < seqs.length; i += 200) {
          const chunk = await Promise.all(
            seqs.slice(i, i + 200).map((seq) => jsm.streams.getMessage(stream, { seq })),
          );
          for (const msg of chunk) {
            if (!msg) continue;
            arrived.push({
              eventId: msg.header?.get("Nats-Msg-Id") ?? "",
              eventType: msg.header?.get("Event-Type") ?? "",
              body: msg.string(),
            });
          }
        }
        return arrived;
      },
      async [Symbol.asyncDispose]() {
        try {
          await jsm.streams.delete(stream);
        } catch { /* the server is gone already */ }
        await nc.close();
      },
    };
    return target;
  },
  async floor(_url, provisioned, bodies) {
    const { nc, subjectPrefix } = provisioned as Target;
    const js = jetstream(nc);
    await Promise.all(bodies.map((body) => {
      // Per message: publish adds Nats-Msg-Id to the headers it is given.
      const h = headers();
      h.set("Event-Type", "message_new");
      return js.publish(`${subjectPrefix}.1.message_new`, body, {
        msgID: crypto.randomUUID(),
        headers: h,
      });
    }));
  },
};
