/**
 * What every part of the benchmark shares with `bench/run.ts` (`deno task bench`): the
 * Redis to use and the prefix of its keys. A part never falls back to `REDIS_URL` (a
 * production Redis, from a production shell) or to 127.0.0.1:6379 (someone's own): the
 * runner starts a private redis-server and passes it, or `BENCH_REDIS_URL` names one.
 * @module
 */

/** The Redis a part runs against; throws the line that says how to get one. */
export function benchRedisUrl(): string {
  const url = Deno.env.get("BENCH_REDIS_URL");
  if (!url) {
    throw new Error(
      "BENCH_REDIS_URL is not set: run the benchmarks with deno task bench (it starts a private redis-server), or set BENCH_REDIS_URL to a Redis they may write to",
    );
  }
  return url;
}

/**
 * A unique prefix for a part's keys, under the run's `BENCH_PREFIX`, so the runner can
 * delete whatever a part left behind.
 */
export function benchPrefix(part: string): string {
  return `${Deno.env.get("BENCH_PREFIX") ?? "bench-"}${part}-${crypto.randomUUID().slice(0, 6)}:`;
}

/** Whether the runner asked for a smoke-sized run (`--smoke`). */
export const BENCH_SMOKE = Deno.env.get("BENCH_SMOKE") === "1";

/**
 * The `--out` a part writes its results to: required, so that no run overwrites the
 * committed results (refreshing those is a deliberate `--out bench`).
 */
export function requireOut(out: string | undefined): string {
  if (!out) throw new Error("--out is required: results are written only where asked");
  return out;
}
