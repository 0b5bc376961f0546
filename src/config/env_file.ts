/**
 * Reads a `.env` file: `KEY=value` lines, `#` comments, optional `export `, and single or
 * double quotes (double quotes understand `\n`). Kept tiny on purpose: the real
 * environment always wins, so this only fills gaps for local runs.
 * @module
 */

/** Parses `.env` text into variables; lines that are not assignments are ignored. */
export function parseDotEnv(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trim();
    if (line === "" || line.startsWith("#")) continue;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!match) continue;
    const [, key, rest] = match as unknown as [string, string, string];
    vars[key] = unquote(rest);
  }
  return vars;
}

function unquote(value: string): string {
  const quote = value[0];
  if ((quote === '"' || quote === "'") && value.length >= 2) {
    const end = value.lastIndexOf(quote);
    if (end > 0) {
      const inner = value.slice(1, end);
      return quote === '"' ? inner.replaceAll("\\n", "\n").replaceAll('\\"', '"') : inner;
    }
  }
  const comment = value.search(/\s#/);
  return (comment === -1 ? value : value.slice(0, comment)).trim();
}

/** The environment as the service sees it: `.env` values under the real environment. */
export function mergeEnv(
  real: Record<string, string>,
  dotEnv: Record<string, string>,
): Record<string, string> {
  return { ...dotEnv, ...real };
}
