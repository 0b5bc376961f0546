/**
 * What the service and the worker tell the HTTP app about security, and what they say
 * about it at start, built from the configuration in one place so that the two shells
 * wire it with one line each.
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { Config } from "../config/config.ts";
import type { AppDeps } from "./app.tsx";
import type { SessionStore } from "./sessions.ts";

const log = getLogger(["vk-event-router", "http"]);

/** The security part of {@linkcode AppDeps}. */
export type AppSecurity = Pick<
  AppDeps,
  "statusToken" | "sessionStore" | "sessionTtlMs" | "trustProxy" | "secrets" | "callback"
>;

/**
 * The app's security options from the configuration; `secrets` are redacted from every
 * answer, sessions are kept in `store`.
 */
export function appSecurity(
  config: Config,
  secrets: readonly string[],
  store: SessionStore,
): AppSecurity {
  return {
    statusToken: config.statusToken,
    sessionStore: store,
    sessionTtlMs: config.sessionTtlS * 1000,
    trustProxy: config.trustProxy,
    secrets,
    callback: {
      confirmation: config.callback.confirmation,
      secret: config.callback.secret,
      groupIds: config.communities.map((c) => c.groupId),
    },
  };
}

/** The warnings an operator must see at every start: the insecure choices in force. */
export function securityWarnings(config: Config): string[] {
  const warnings: string[] = [];
  if (config.statusToken === null) {
    warnings.push(
      `STATUS_TOKEN is not set: the status page, /api/status and /metrics on ${config.host} show counts only (no names, ids or texts), and replaying dead letters and other actions answer 403; set STATUS_TOKEN (at least 16 characters) to see everything and act`,
    );
  }
  if (config.callback.confirmation !== null && config.callback.insecureNoSecret) {
    warnings.push(
      "VK_CALLBACK_INSECURE_NO_SECRET is set: POST /callback accepts events without a secret, so anyone who can reach it can inject events, commands included; set VK_CALLBACK_SECRET (Community → Manage → API usage → Callback API → Secret key) instead",
    );
  }
  return warnings;
}

/** Logs {@linkcode securityWarnings}, one warning line each (our text: no placeholders). */
export function warnAboutSecurity(config: Config): void {
  for (const warning of securityWarnings(config)) log.warn(warning);
}
