/**
 * Logging set-up, called by `main.ts` only: every other module just asks LogTape for a
 * category logger. Pretty coloured lines in a terminal, JSON lines otherwise, and rotating
 * JSON files under `LOG_DIR`. Every configured secret is redacted from every line (by
 * `redact.ts`, as every HTTP answer is), a second line of defence behind modules that
 * never log them in the first place.
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
import { redactByPattern } from "@logtape/redaction";
import type { Config } from "./config/config.ts";
import { ConfigError, errorMessage } from "./errors.ts";
import { redactionPatterns } from "./redact.ts";

/**
 * Configures LogTape's sinks for the whole process.
 * @throws {ConfigError} when LOG_DIR cannot take the log files.
 */
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
    try {
      await Deno.mkdir(log.dir, { recursive: true });
      sinks.file = getRotatingFileSink(`${log.dir}/vk-event-router.log`, {
        formatter: json,
        maxSize: 10 * 1024 * 1024,
        maxFiles: 5,
      });
    } catch (error) {
      throw new ConfigError([
        `LOG_DIR: cannot write log files in ${log.dir}: ${errorMessage(error)}`,
      ], {
        cause: error,
      });
    }
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
