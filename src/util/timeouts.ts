/**
 * Where a request's deadline comes from. Long-running code uses `AbortSignal.timeout`;
 * the serverless worker passes signals tied to the request, whose timers end with it.
 * @module
 */

/** A signal that aborts after `ms` milliseconds. */
export type TimeoutSignal = (ms: number) => AbortSignal;

/** The default: `AbortSignal.timeout`. */
export function defaultTimeoutSignal(ms: number): AbortSignal {
  return AbortSignal.timeout(ms);
}
