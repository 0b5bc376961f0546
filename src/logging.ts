/**
 * Logging set-up, called by `main.ts` only: every other module just asks LogTape for a
 * category logger. Pretty coloured lines in a terminal, JSON lines otherwise.
 * @module
 */
import {
  configure,
  getAnsiColorFormatter,
  getConsoleSink,
  getJsonLinesFormatter,
  type LogLevel as LogTapeLevel,
  reset,
} from "@logtape/logtape";
import type { Config } from "./config/config.ts";

/** Configures LogTape's sinks for the whole process. */
export async function configureLogging(log: Config["log"]): Promise<void> {
  const format = log.format ?? (Deno.stdout.isTerminal() ? "pretty" : "json");
  const formatter = format === "pretty"
    ? getAnsiColorFormatter({ timestamp: "date-time-timezone" })
    : getJsonLinesFormatter({ properties: "flatten", message: "rendered" });
  await reset();
  await configure({
    reset: true,
    sinks: { console: getConsoleSink({ formatter }) },
    loggers: [
      { category: ["vk-event-router"], lowestLevel: log.level as LogTapeLevel, sinks: ["console"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["console"] },
    ],
  });
}
