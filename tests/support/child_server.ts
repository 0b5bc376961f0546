/**
 * A server the tests run as a child process (redis-server, nats-server, a RabbitMQ node):
 * a free port, a data folder of its own, and a life the tests steer: started until it
 * answers, stopped (a crash by default) and started again on the same port with the same
 * data, removed with its folder at the end.
 * @module
 */

/** A TCP port on 127.0.0.1 that nothing listens on now. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** How to run one kind of server. */
export interface ChildServerSpec {
  /** Where its data lives; removed at the disposal. */
  dir: string;
  /** Starts the process (it must stay in the foreground). */
  spawn(): Deno.ChildProcess;
  /** The line that says what to install, when the binary is not there. */
  missing: string;
  /** Resolves once the server answers; rejects (why not) when it cannot start. */
  ready(child: Deno.ChildProcess): Promise<void>;
}

/** A running child server. */
export interface ChildServer extends AsyncDisposable {
  /** The process while it runs. */
  readonly child: Deno.ChildProcess | null;
  /** Stops it (SIGKILL by default: a crash, not a clean shutdown) and waits for the exit. */
  stop(signal?: Deno.Signal): Promise<void>;
  /** Starts it again, with the same data. */
  start(): Promise<void>;
}

/** Starts the server of `spec`; on a failed start, nothing is left behind. */
export async function startChildServer(spec: ChildServerSpec): Promise<ChildServer> {
  let child: Deno.ChildProcess | null = null;
  const start = async () => {
    try {
      child = spec.spawn();
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) throw new Error(spec.missing);
      throw error;
    }
    await spec.ready(child);
  };
  const stop = async (signal: Deno.Signal = "SIGKILL") => {
    const running = child;
    if (!running) return;
    child = null;
    try {
      running.kill(signal);
    } catch { /* already gone */ }
    await running.status;
  };
  const dispose = async () => {
    await stop();
    await Deno.remove(spec.dir, { recursive: true }).catch(() => {});
  };
  try {
    await start();
  } catch (error) {
    await dispose();
    throw error;
  }
  return {
    get child() {
      return child;
    },
    stop,
    start,
    [Symbol.asyncDispose]: dispose,
  };
}
