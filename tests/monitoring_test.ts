/**
 * The monitoring kit in docs/: the alert rules pass promtool (when installed), and every
 * metric the rules, the Grafana dashboard and the metrics reference name is one the router
 * exports, and the reference names them all.
 */
import assert from "node:assert/strict";
import { FAMILIES, familyOf } from "../src/status/families.ts";
import { hasPromtool } from "./support/prerequisites.ts";

const DOCS = new URL("../docs/", import.meta.url);
const read = (path: string) => Deno.readTextFile(new URL(path, DOCS));

/** Every `vk_router_*` name in `text`, as the family it belongs to. */
function metricsIn(text: string): Set<string> {
  return new Set([...text.matchAll(/\bvk_router_[a-z_]+/g)].map((m) => familyOf(m[0])));
}

async function promtool(...args: string[]): Promise<string | null> {
  const out = await new Deno.Command("promtool", {
    args,
    cwd: new URL("monitoring/", DOCS),
    stdout: "piped",
    stderr: "piped",
  }).output().catch(() => null);
  if (out === null) return null;
  const said = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.ok(out.success, said);
  return said;
}

Deno.test({
  name: "the alert rules pass promtool check rules and their unit tests (with promtool installed)",
  ignore: !await hasPromtool(),
  async fn() {
    assert.match((await promtool("check", "rules", "alerts.yml"))!, /SUCCESS: \d+ rules found/);
    assert.match((await promtool("test", "rules", "alerts_test.yml"))!, /SUCCESS/);
  },
});

Deno.test("the alert rules and the dashboard name only metrics the router exports", async () => {
  const dashboard = JSON.parse(await read("monitoring/grafana-dashboard.json"));
  const exprs = dashboard.panels.flatMap((p: { targets: { expr: string }[] }) =>
    p.targets.map((t) => t.expr)
  ).join("\n");
  for (
    const [what, text] of [["alerts.yml", await read("monitoring/alerts.yml")], [
      "dashboard",
      exprs,
    ]]
  ) {
    const named = metricsIn(text!);
    assert.ok(named.size > 5, `${what} names metrics`);
    for (const name of named) assert.ok(FAMILIES[name], `${what}: ${name} is exported`);
  }
});

Deno.test("docs/METRICS.md lists every family with its type and labels, and nothing else", async () => {
  const doc = await read("METRICS.md");
  const rows = new Map(
    [...doc.matchAll(/^\| `(vk_router_[a-z_]+)` +\| (\w+) +\| ([^|]*)\|/gm)].map((m) => [
      m[1]!,
      [m[2]!, m[3]!.trim()],
    ]),
  );
  assert.deepEqual(
    [...rows.keys()].sort(),
    Object.keys(FAMILIES).sort(),
    "run scripts/metrics_doc.ts",
  );
  for (const [name, family] of Object.entries(FAMILIES)) {
    const [type, labels] = rows.get(name)!;
    assert.equal(type, family.type, name);
    assert.equal(labels, family.labels.map((l) => `\`${l}\``).join(", ") || "—", name);
  }
});
