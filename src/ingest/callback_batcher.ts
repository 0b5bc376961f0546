/**
 * Group commit for the Callback API. Each callback is one event; handled one by one, every
 * event costs its own validation pass, script call and Redis round trip, and concurrent
 * callbacks queue on the one connection anyway. Here callbacks that arrive while earlier
 * ones are being handled wait, and go on together as one batch once a slot frees: one
 * pass, one script call per destination, one round trip. The first callback after a quiet
 * spell goes at once, so nothing waits that would not have waited for the connection.
 *
 * Each callback is still answered only once its own event is delivered or durably parked;
 * a batch that fails fails every callback in it (VK redelivers them, and the dedup markers
 * make that harmless). The router's app uses it; the serverless worker takes callbacks
 * one by one (each request carries its own unit of work).
 * @module
 */

/** Options for {@linkcode createCallbackBatcher}. */
export interface CallbackBatcherOptions {
  /** Batches handled at once: one in its round trip while the next is prepared. @default 2 */
  inFlight?: number;
  /** Most callbacks in one batch. @default 100 */
  maxBatch?: number;
  now?: () => number;
}

interface Waiting {
  update: unknown;
  receivedAt: number;
  resolve(): void;
  reject(error: unknown): void;
}

/** Accepts one callback event; resolves once it is delivered or durably parked. */
export function createCallbackBatcher(
  handle: (batch: { updates: readonly unknown[]; receivedAt: number }) => Promise<void>,
  options: CallbackBatcherOptions = {},
): (update: unknown) => Promise<void> {
  const inFlight = options.inFlight ?? 2;
  const maxBatch = options.maxBatch ?? 100;
  const now = options.now ?? Date.now;
  const queue: Waiting[] = [];
  let running = 0;

  const next = async () => {
    running++;
    while (queue.length > 0) {
      const batch = queue.splice(0, maxBatch);
      try {
        // The oldest arrival: the delivery latency counts from there.
        await handle({ updates: batch.map((w) => w.update), receivedAt: batch[0]!.receivedAt });
        for (const w of batch) w.resolve();
      } catch (error) {
        for (const w of batch) w.reject(error);
      }
    }
    running--;
  };

  return (update) =>
    new Promise<void>((resolve, reject) => {
      queue.push({ update, receivedAt: now(), resolve, reject });
      if (running < inFlight) next();
    });
}
