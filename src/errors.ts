/**
 * The few named errors that callers catch. Each carries context for the log line
 * and never a token: messages are safe to print as they are.
 * @module
 */

/** Configuration (environment or routes file) is invalid; `issues` has one line per problem. */
export class ConfigError extends Error {
  /** One human-readable line per problem: the variable or JSON path, what is wrong, what is expected. */
  readonly issues: readonly string[];

  constructor(issues: readonly string[], options?: ErrorOptions) {
    super(`Invalid configuration:\n${issues.map((i) => `  ${i}`).join("\n")}`, options);
    this.name = "ConfigError";
    this.issues = issues;
  }
}

/** VK answered with `{ error }`: the method failed for a reason VK states. */
export class VkApiError extends Error {
  /** VK's `error_code`. */
  readonly code: number;
  /** The API method, e.g. `groups.getLongPollServer`. */
  readonly method: string;

  constructor(method: string, code: number, vkMessage: string) {
    super(`VK API method ${method} failed: error ${code}: ${vkMessage}`);
    this.name = "VkApiError";
    this.code = code;
    this.method = method;
  }
}

/** The request to VK itself failed: network error, timeout, HTTP status or a body that is not VK's JSON. */
export class VkHttpError extends Error {
  /** HTTP status when VK answered at all. */
  readonly status: number | null;

  constructor(message: string, status: number | null = null, options?: ErrorOptions) {
    super(message, options);
    this.name = "VkHttpError";
    this.status = status;
  }
}

/** A VK failure that retrying cannot fix (bad token, no access, long poll disabled). */
export class VkFatalError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "VkFatalError";
  }
}

/** Text of any thrown value, for log lines and status pages. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
