/**
 * Rewrites the table of docs/METRICS.md from the families the router exports
 * (`src/status/families.ts`); `tests/monitoring_test.ts` fails until it is run after a
 * family changes: `deno run --allow-read=docs --allow-write=docs scripts/metrics_doc.ts`.
 * @module
 */
import { FAMILIES } from "../src/status/families.ts";

const path = new URL("../docs/METRICS.md", import.meta.url);
const lines = (await Deno.readTextFile(path)).split("\n");
const start = lines.findIndex((l) => l.startsWith("| name"));
let end = start + 2;
while (lines[end]?.startsWith("|")) end++;
const rows = Object.entries(FAMILIES).map(([name, f]) =>
  `| \`${name}\` | ${f.type} | ${f.labels.map((l) => `\`${l}\``).join(", ") || "—"} | ${f.help} |`
);
lines.splice(start + 2, end - start - 2, ...rows);
await Deno.writeTextFile(path, lines.join("\n"));
