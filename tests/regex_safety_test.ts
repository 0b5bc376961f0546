import assert from "node:assert/strict";
import { regexHazard } from "../src/config/regex_safety.ts";

Deno.test("regexHazard() refuses patterns that can backtrack for ever", async (t) => {
  const hazardous = [
    "^(a+)+$",
    "(a*)*b",
    "(\\w+\\s?)+$",
    "^(a|a)*$",
    "(a|ab)*c",
    "((ab)*)+$",
    "(.*a){2,}x",
    "^([a-z]+\\d?)+!$",
    "(x+x+)+y",
  ];
  for (const source of hazardous) {
    await t.step(source, () => assert.ok(regexHazard(source), `${source} was accepted`));
  }
});

Deno.test("regexHazard() accepts ordinary routing patterns", async (t) => {
  const safe = [
    "^/ban\\b",
    "(?:привет|hello)",
    "^(foo|bar)+$",
    "\\d{3}-\\d{4}",
    "[A-Z]+",
    "^\\[club\\d+\\|",
    "(?<cmd>\\w+) (\\d+)",
    "^(ab)+$",
    ".*error.*",
    "спам|реклама",
  ];
  for (const source of safe) {
    await t.step(source, () => assert.equal(regexHazard(source), null));
  }
});
