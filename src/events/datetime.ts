/**
 * The `datetime` header: `YYYY-MM-DD HH:MM:SS` in a configured IANA zone, as the original
 * service wrote it. Formatters are cached per zone: building one costs far more than using it.
 * @module
 */

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-CA", {
      timeZone,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
      hourCycle: "h23",
    });
    formatters.set(timeZone, f);
  }
  return f;
}

let last = { seconds: NaN, zone: "", text: "" };

/** Formats Unix seconds as `YYYY-MM-DD HH:MM:SS` in `timeZone` (a batch shares one second: the last answer is kept). */
export function formatDatetime(unixSeconds: number, timeZone: string): string {
  if (unixSeconds === last.seconds && timeZone === last.zone) return last.text;
  const parts: Record<string, string> = {};
  for (const p of formatter(timeZone).formatToParts(unixSeconds * 1000)) parts[p.type] = p.value;
  const text =
    `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second}`;
  last = { seconds: unixSeconds, zone: timeZone, text };
  return text;
}
