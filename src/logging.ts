/**
 * Logging set-up, called by `main.ts` only: every other module just asks LogTape for a
 * category logger. Pretty coloured lines in a terminal, JSON lines otherwise, and rotating
 * JSON files under `LOG_DIR`. Every configured secret is redacted from every line, as a
 * second line of defence behind modules that never log them in the first place.
 * @module
 */
import {
  configure,
  getAnsiColorFormatter,
  getConsoleSink,
  getJsonLinesFormatter,
  type LogLevel as LogTapeLevel,
  type LogRecord,
  type Sink,
  type TextFormatter,
} from "@logtape/logtape";
import { getRotatingFileSink } from "@logtape/file";
import { redactByPattern, type RedactionPattern } from "@logtape/redaction";
import type { Config } from "./config/config.ts";
import type { Routes } from "./config/routes.ts";

/** What replaces a secret in log lines. */
export const REDACTED = "[REDACTED]";

/** Every secret value the configuration holds: tokens, keys, passwords. */
export function collectSecrets(config: Config, routes: Routes | null): string[] {
  const secrets = [
    ...config.communities.map((c) => c.token),
    config.callback.secret,
    config.statusToken,
    config.redis?.kind === "upstash" ? config.redis.token : null,
    config.redis?.kind === "native" ? decodeURIComponent(new URL(config.redis.url).password) : null,
    ...[...(routes?.destinations.values() ?? []), routes?.deadLetter ?? null].map((d) =>
      d?.kind === "webhook" ? d.secret : null
    ),
  ];
  return [...new Set(secrets.filter((s): s is string => typeof s === "string" && s.length >= 4))];
}

/** Patterns for the given secrets, plus shapes that are secret whatever their value. */
export function redactionPatterns(secrets: readonly string[]): RedactionPattern[] {
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return [
    // Longest first, so a secret that contains another is replaced whole.
    ...[...secrets].sort((a, b) => b.length - a.length).map((s) => ({
      pattern: new RegExp(escape(s), "g"),
      replacement: REDACTED,
    })),
    { pattern: /vk1\.a\.[A-Za-z0-9_-]{10,}/g, replacement: REDACTED },
    { pattern: /whsec_[A-Za-z0-9+/=]{8,}/g, replacement: REDACTED },
    { pattern: /([?&](?:key|access_token)=)[^&\s"']+/g, replacement: `$1${REDACTED}` },
    { pattern: /(rediss?:\/\/[^:/@\s"]*:)[^@\s"]+@/g, replacement: `$1${REDACTED}@` },
  ];
}

/** Configures LogTape's sinks for the whole process. */
export async function configureLogging(
  log: Config["log"],
  secrets: readonly string[],
): Promise<void> {
  const patterns = redactionPatterns(secrets);
  const format = log.format ?? (Deno.stdout.isTerminal() ? "pretty" : "json");
  const json: TextFormatter = redactByPattern(
    getJsonLinesFormatter({ properties: "flatten", message: "rendered" }),
    patterns,
  );
  const consoleFormatter: TextFormatter = format === "pretty"
    ? redactByPattern(
      getAnsiColorFormatter({
        timestamp: "date-time-timezone",
        format: (v) => `${v.timestamp} ${v.level} ${v.category}: ${v.message}${unshown(v.record)}`,
      }),
      patterns,
    )
    : json;
  const sinks: Record<string, Sink> = { console: getConsoleSink({ formatter: consoleFormatter }) };
  if (log.dir) {
    await Deno.mkdir(log.dir, { recursive: true });
    sinks.file = getRotatingFileSink(`${log.dir}/vk-event-router.log`, {
      formatter: json,
      maxSize: 10 * 1024 * 1024,
      maxFiles: 5,
    });
  }
  await configure({
    reset: true,
    sinks,
    loggers: [
      {
        category: ["vk-event-router"],
        lowestLevel: log.level as LogTapeLevel,
        sinks: Object.keys(sinks),
      },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["console"] },
    ],
  });
}

/**
 * The object properties that a record's message does not show, like the log destination's
 * event, as ` key={ … }`: pretty lines carry them as JSON lines do, on the same line.
 */
function unshown(record: LogRecord): string {
  const template = typeof record.rawMessage === "string" ? record.rawMessage : "";
  const shown = new Set([...template.matchAll(/\{\s*([^{}\s.[]+)/g)].map((m) => m[1]));
  let text = "";
  for (const [key, value] of Object.entries(record.properties)) {
    if (typeof value !== "object" || value === null || shown.has(key)) continue;
    const inspected = Deno.inspect(value, {
      colors: true,
      // Whole and on one line, like the JSON line.
      compact: true,
      breakLength: Infinity,
      depth: Infinity,
      iterableLimit: Infinity,
    });
    text += ` ${key}=${inspected}`;
  }
  return text;
}
