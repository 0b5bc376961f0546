/**
 * The VK API client: form-encoded POSTs over the native `fetch`, one limiter per token,
 * and the retries VK documents as safe (6 too many requests, 1 unknown, 10 internal).
 * Errors carry the method and code, never the token.
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { errorMessage, VkApiError, VkHttpError } from "../errors.ts";
import { retry } from "../util/retry.ts";
import { type Backoff, type Sleep, sleep } from "../util/time.ts";
import { createRateLimiter, PRIORITY, type RateLimiter } from "./rate_limiter.ts";
import { defaultTimeoutSignal, type TimeoutSignal } from "../util/timeouts.ts";

const log = getLogger(["vk-event-router", "vk-api"]);

/** Parameters of a VK API call; arrays are joined with commas as VK expects. */
export type VkParams = Record<
  string,
  string | number | boolean | readonly (string | number)[] | undefined
>;

/** Options for {@linkcode createVkApi}. */
export interface VkApiOptions {
  token: string;
  /** @default "https://api.vk.ru/method" */
  apiUrl?: string;
  /** @default "5.199" */
  version?: string;
  fetch?: typeof fetch;
  /** Shared by every client that uses the same token. @default 20 requests/s */
  limiter?: RateLimiter;
  /** Per request. @default 15_000 */
  timeoutMs?: number;
  /** Attempts for retryable failures (errors 1, 6, 10, network, 5xx). @default 4 */
  attempts?: number;
  backoff?: Backoff;
  sleep?: Sleep;
  /** Called once per HTTP request: feeds the "VK API calls" counters. */
  onRequest?: (method: string) => void;
  /** @default AbortSignal.timeout */
  timeoutSignal?: TimeoutSignal;
}

/** A VK API client bound to one token. */
export interface VkApi {
  call<T>(method: string, params?: VkParams, signal?: AbortSignal): Promise<T>;
}

/** The methods that wait their turn in the rate limiter otherwise than enrichment does. */
const PRIORITIES: Record<string, number> = {
  "groups.getLongPollServer": PRIORITY.poll,
  "groups.getLongPollSettings": PRIORITY.background,
};

/** Codes worth another try: 1 unknown error, 6 too many requests, 10 internal server error. */
const RETRYABLE_CODES = new Set([1, 6, 10]);

/**
 * Creates a VK API client.
 *
 * @example
 * ```ts
 * const vk = createVkApi({ token: Deno.env.get("VK_TOKEN")! });
 * const server = await vk.call<{ key: string }>("groups.getLongPollServer", { group_id: 1 });
 * ```
 */
export function createVkApi(options: VkApiOptions): VkApi {
  const apiUrl = (options.apiUrl ?? "https://api.vk.ru/method").replace(/\/+$/, "");
  const version = options.version ?? "5.199";
  const doFetch = options.fetch ?? fetch;
  const limiter = options.limiter ?? createRateLimiter();
  const timeoutMs = options.timeoutMs ?? 15_000;
  const attempts = options.attempts ?? 4;
  const backoff = options.backoff ?? { minMs: 300, maxMs: 5_000 };
  const wait = options.sleep ?? sleep;

  async function once<T>(method: string, params: VkParams, signal?: AbortSignal): Promise<T> {
    const body = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) {
      if (value === undefined) continue;
      body.set(key, Array.isArray(value) ? value.join(",") : String(value));
    }
    body.set("access_token", options.token);
    body.set("v", version);
    await limiter.acquire(signal, PRIORITIES[method] ?? PRIORITY.enrich);
    options.onRequest?.(method);
    const timeout = (options.timeoutSignal ?? defaultTimeoutSignal)(timeoutMs);
    let response: Response;
    try {
      response = await doFetch(`${apiUrl}/${method}`, {
        method: "POST",
        body,
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      throw new VkHttpError(`VK API method ${method} failed: ${describeFetchError(error)}`, null, {
        cause: error,
      });
    }
    const text = await response.text().catch((error) => {
      throw new VkHttpError(
        `VK API method ${method} failed while reading the body`,
        response.status,
        { cause: error },
      );
    });
    if (!response.ok) {
      throw new VkHttpError(
        `VK API method ${method} failed: HTTP ${response.status}`,
        response.status,
      );
    }
    let json: { response?: T; error?: { error_code?: number; error_msg?: string } };
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new VkHttpError(
        `VK API method ${method} answered with a body that is not JSON`,
        response.status,
        {
          cause: error,
        },
      );
    }
    if (json?.error) {
      throw new VkApiError(
        method,
        Number(json.error.error_code ?? 0),
        String(json.error.error_msg ?? "unknown error"),
      );
    }
    if (json === null || typeof json !== "object" || !("response" in json)) {
      throw new VkHttpError(`VK API method ${method} answered without "response"`, response.status);
    }
    return json.response as T;
  }

  return {
    call<T>(method: string, params: VkParams = {}, signal?: AbortSignal): Promise<T> {
      return retry(() => once<T>(method, params, signal), {
        attempts,
        backoff,
        retryable: isRetryable,
        sleep: wait,
        ...(signal ? { signal } : {}),
        onRetry: (error, _attempt, delay) =>
          log.debug("Retrying VK API method {method} in {delay} ms: {error}", {
            method,
            delay,
            error: errorMessage(error),
          }),
      });
    },
  };
}

/** Whether another attempt of the same call may succeed. */
export function isRetryable(error: unknown): boolean {
  if (error instanceof VkApiError) return RETRYABLE_CODES.has(error.code);
  if (error instanceof VkHttpError) {
    return error.status === null || error.status >= 500 || error.status === 429;
  }
  return false;
}

/**
 * A short reason for a failed fetch (timeout, refused, reset) with its causes, naming the
 * server by `host:port` only: a URL's path or query may hold a token.
 */
export function describeFetchError(error: unknown): string {
  if (
    error instanceof DOMException && (error.name === "TimeoutError" || error.name === "AbortError")
  ) {
    return "timed out";
  }
  // A URL may carry the token in its query: only its host is shown. The causes say why.
  const text = (e: unknown) =>
    (e instanceof Error ? e.message : String(e)).replace(
      /https?:\/\/(?:[^/\s?#@)]*@)?([^/\s?#@)]+)[^\s)]*/g,
      (_, host) => `<${host}>`,
    );
  const chain = [text(error)];
  for (
    let e = (error as Error)?.cause;
    e !== undefined && chain.length < 4;
    e = (e as Error)?.cause
  ) {
    const line = text(e);
    if (!chain.some((c) => c.includes(line))) chain.push(line);
  }
  return chain.join(": ");
}
