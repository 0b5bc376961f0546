/**
 * The README is the users' contract: its Compose snippets are the repository's files, its
 * configuration table names every variable the code reads, and its links lead somewhere.
 */
import assert from "node:assert/strict";
import { CONFIG_VARIABLES } from "../src/config/config.ts";
import { CONNECTION_SPECS } from "../src/deliver/kinds/registry.ts";

const ROOT = new URL("../", import.meta.url);
const README = await Deno.readTextFile(new URL("README.md", ROOT));

Deno.test("every Compose snippet of the README is a Compose file of the repository, verbatim", async () => {
  const files = await Promise.all(
    ["compose.yaml", "compose.replicas.yaml"].map((f) => Deno.readTextFile(new URL(f, ROOT))),
  );
  const snippets = [...README.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!)
    .filter((s) => /^services:/m.test(s));
  assert.ok(snippets.length > 0, "the README shows a Compose file");
  for (const snippet of snippets) {
    assert.ok(files.includes(snippet), `a README snippet matches no Compose file:\n${snippet}`);
  }
  // The override names only services of the base file.
  const services = (text: string) =>
    [...text.slice(text.indexOf("services:")).matchAll(/^ {2}([a-z-]+):$/gm)].map((m) => m[1]);
  for (const name of services(files[1]!)) assert.ok(services(files[0]!).includes(name), name);
});

Deno.test("the configuration table lists every variable the code reads", () => {
  const start = README.indexOf("## Configuration");
  const tableStart = README.indexOf("| variable", start);
  const table = README.slice(tableStart, README.indexOf("\n\n", tableStart));
  const variables = [...CONFIG_VARIABLES, ...CONNECTION_SPECS.flatMap((s) => s.variables)];
  assert.ok(variables.length > 30);
  const missing = variables.filter((v) => !table.includes(`\`${v}\``));
  assert.deepEqual(missing, [], "variables the configuration table does not list");
});

Deno.test("the README links docs/EVENTS.md, and every local link leads to a file", async () => {
  assert.match(README, /\]\(docs\/EVENTS\.md\)/);
  const links = [...README.matchAll(/\]\((?!https?:|#|mailto:)([^)\s#]+)(?:#[^)]*)?\)/g)].map((m) =>
    m[1]!
  );
  assert.ok(links.length > 5);
  for (const link of new Set(links)) {
    await Deno.stat(new URL(link, ROOT)).catch(() => assert.fail(`README links ${link}: missing`));
  }
});
