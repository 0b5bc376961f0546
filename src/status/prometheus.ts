/**
 * The Prometheus text exposition format (version 0.0.4) of the service's metrics.
 * @module
 */
import { FAMILIES, familyOf } from "./families.ts";
import type { Sample } from "./metrics.ts";

/** The TYPE of a family; one not in {@linkcode FAMILIES} (none should be) by its name. */
function typeOf(metric: string): string {
  return FAMILIES[metric]?.type ?? (metric.endsWith("_total") ? "counter" : "gauge");
}

/**
 * Renders samples, each family's series together, with the HELP and TYPE of
 * {@linkcode FAMILIES}.
 */
export function renderPrometheus(samples: readonly Sample[]): string {
  const lines: string[] = [];
  let current = "";
  for (const s of samples) {
    const metric = familyOf(s.name);
    if (metric !== current) {
      current = metric;
      lines.push(`# HELP ${metric} ${FAMILIES[metric]?.help ?? "(undocumented)"}`);
      lines.push(`# TYPE ${metric} ${typeOf(metric)}`);
    }
    const labels = Object.entries(s.labels).map(([k, v]) => `${k}="${escapeLabel(String(v))}"`)
      .join(",");
    lines.push(`${s.name}${labels ? `{${labels}}` : ""} ${Number.isFinite(s.value) ? s.value : 0}`);
  }
  return lines.join("\n") + "\n";
}

function escapeLabel(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll("\n", "\\n").replaceAll('"', '\\"');
}
