import assert from "node:assert/strict";
import fc from "fast-check";
import { compileTextPattern, MAX_PATTERN_SIZE } from "../src/route/text_pattern.ts";

/** VK's longest message; the matcher cuts texts there. */
const LONGEST = 4096;

/**
 * Patterns that send a backtracking engine into exponential (or high-polynomial) time, each
 * with hostile texts up to VK's limit and the answer a correct engine gives.
 */
const hostile: [string, [string, boolean][]][] = [
  ["<a*a*a*a*>", [
    ["<" + "a".repeat(LONGEST - 1), false],
    ["<" + "a".repeat(LONGEST - 2) + ">", true],
    ["<".repeat(LONGEST), false],
    ["x<>", true],
  ]],
  ["\\[\\w*\\s*\\w*\\s*\\w*\\]$", [
    ["[" + "a".repeat(LONGEST - 1), false],
    ["[" + "a ".repeat((LONGEST - 2) / 2) + "]", false],
    ["[" + "a".repeat(2000) + " " + "b".repeat(2000) + "]", true],
  ]],
  ["\\d+\\d+\\d+\\d+x", [
    ["1".repeat(LONGEST), false],
    ["1".repeat(LONGEST - 1) + "x", true],
    ["111x", false],
  ]],
  ["(\\w+\\s?)+$", [
    ["a".repeat(LONGEST - 1) + "!", false],
    ["a ".repeat(LONGEST / 2), true],
    ["ab ".repeat(1365) + "!", false],
  ]],
  ["(a+)+$", [
    ["a".repeat(LONGEST - 1) + "b", false],
    ["a".repeat(LONGEST), true],
  ]],
  ["(a|a)*b", [
    ["a".repeat(LONGEST), false],
    ["a".repeat(LONGEST - 1) + "b", true],
  ]],
];

Deno.test("compileTextPattern() answers hostile texts of catastrophic patterns correctly, without stalling", async (t) => {
  for (const [source, cases] of hostile) {
    await t.step(source, () => {
      const pattern = compileTextPattern(source);
      const started = performance.now();
      for (const [text, expected] of cases) {
        assert.equal(pattern.test(text), expected, `${source} on ${text.slice(0, 20)}…`);
      }
      // A backtracking engine needs seconds to years on these; a linear one, well under a
      // millisecond per text. The bound only separates those two worlds, even on a busy machine.
      const took = performance.now() - started;
      assert.ok(took < 1_000, `${source}: ${took.toFixed(0)} ms for ${cases.length} texts`);
    });
  }
});

Deno.test("compileTextPattern() agrees with JavaScript's RegExp on short texts", () => {
  const patterns = hostile.map(([source]) => compileTextPattern(source));
  fc.assert(
    fc.property(
      fc.string({
        unit: fc.constantFrom("<", ">", "a", "b", "[", "]", " ", "1", "x", "!"),
        maxLength: 12,
      }),
      (text) => {
        hostile.forEach(([source], i) => {
          assert.equal(patterns[i]!.test(text), new RegExp(source, "u").test(text), source);
        });
      },
    ),
    { numRuns: 500 },
  );
});

Deno.test("compileTextPattern() refuses what RE2 cannot run, saying why", async (t) => {
  const cases: [string, RegExp][] = [
    ["(a)\\1", /^backreferences are not supported: routes use RE2 syntax, see README$/],
    ["(?<w>a)\\k<w>", /^backreferences are not supported/],
    ["foo(?=bar)", /^lookahead is not supported: routes use RE2 syntax, see README$/],
    ["foo(?!bar)", /^lookahead is not supported/],
    ["(?<=foo)bar", /^lookbehind is not supported/],
    ["(?<!foo)bar", /^lookbehind is not supported/],
    ["\\u0416", /^\\u escapes are not supported, write \\x\{…\}/],
    ["a++", /^invalid nested repetition operator: `\+\+`$/],
    ["(", /^missing closing \): `\(`$/],
    [
      "(?:\\p{L}{600}x|\\p{N}{600}y)",
      new RegExp(`^too large: it compiles to \\d+ instructions, at most ${MAX_PATTERN_SIZE} are`),
    ],
    ["a{1001}", /^invalid repeat count/],
  ];
  for (const [source, reason] of cases) {
    await t.step(source, () => {
      assert.throws(() => compileTextPattern(source), (error: Error) => {
        assert.ok(error instanceof SyntaxError, String(error));
        assert.match(error.message, reason);
        return true;
      });
    });
  }
});

Deno.test("compileTextPattern() refuses a \\b that never marks the edge of a non-ASCII word", async (t) => {
  const traps: [string, string][] = [
    ["\\bспам\\b", "с"],
    ["спам\\b", "м"],
    ["(?i)\\b(?:привет|здравствуй)\\b", "п"],
    ["\\b[а-яё]+\\b", "а"],
    ["(спам)+\\b", "м"],
    ["\\bΣ", "Σ"],
  ];
  for (const [source, letter] of traps) {
    await t.step(source, () => {
      assert.throws(
        () => compileTextPattern(source),
        new RegExp(`^SyntaxError: \\\\b next to "${letter}" never marks a word's edge there`),
      );
    });
  }
  const fine = [
    "^/ban\\b",
    "^/ban\\b.*причина",
    "\\bspam\\b|спам",
    "\\\\bспам", // an escaped backslash, then the letter b
    "\\Q\\b\\Eспам", // \b quoted as literal text
    "\\b[^а-я]",
    "(?:^|\\P{L})спам(?:\\P{L}|$)",
  ];
  for (const source of fine) {
    await t.step(`accepts ${source}`, () => assert.doesNotThrow(() => compileTextPattern(source)));
  }
});

Deno.test("compileTextPattern() matches ordinary routing patterns as users expect", async (t) => {
  const cases: [string, string, boolean][] = [
    ["^/ban\\b", "/ban @someone", true],
    ["^/ban\\b", "/banana", false],
    ["^/ban\\b", "please /ban", false],
    ["(?i)привет", "ПРИВЕТ всем", true],
    ["(?i)привет", "Привет", true],
    ["(?i)привет", "пока", false],
    ["(?i)ёж", "ЁЖИК", true],
    ["\\d{3,}", "code 1234", true],
    ["\\d{3,}", "12 and 34", false],
    ["\\p{L}+ \\p{L}+", "добрый день", true],
    ["^\\p{Cyrillic}+$", "Москва", true],
    ["^\\p{Cyrillic}+$", "Moscow", false],
    ["^\\w+$", "привет", false], // \w is ASCII, as in JavaScript: see the README
    ["^\\w+$", "hello_42", true],
    ["\\s", "a\u00a0b", false], // \s is ASCII whitespace: the no-break space is not
    ["[\\s\\p{Z}]", "a\u00a0b", true],
    ["(?:^|\\P{L})спам(?:\\P{L}|$)", "это спам!", true], // a whole word, as the README says
    ["(?:^|\\P{L})спам(?:\\P{L}|$)", "спам", true],
    ["(?:^|\\P{L})спам(?:\\P{L}|$)", "спаммер", false],
    ["(?s)a.b", "a\nb", true],
    ["a.b", "a\nb", false],
    ["(?m)^b$", "a\nb\nc", true],
    ["^b$", "a\nb\nc", false],
    ["(?i:да)нет", "ДАнет", true],
    ["(?i:да)нет", "ДАНЕТ", false],
    ["^(?P<cmd>\\w+) (?<arg>\\d+)$", "kick 42", true],
    ["\\x{416}", "Ж", true],
    ["^.$", "😀", true], // one character, not two UTF-16 halves
    ["x", "\ud800x", true], // a lone surrogate does not trip the engine
  ];
  for (const [source, text, expected] of cases) {
    await t.step(`${source} on ${JSON.stringify(text)}`, () => {
      assert.equal(compileTextPattern(source).test(text), expected);
    });
  }
});

Deno.test("compileTextPattern() accepts a word list of about a hundred words", () => {
  const words = Array.from({ length: 100 }, (_, i) => `слово${i}`);
  const pattern = compileTextPattern(`(?i)(?:${words.join("|")})`);
  assert.ok(pattern.test("тут СЛОВО42 есть"));
  assert.ok(!pattern.test("тут слов нет"));
});

Deno.test("compileTextPattern() compiles or refuses any pattern, and the result matches any text", () => {
  const regexish = fc.string({
    unit: fc.constantFrom(..."\\()[]{}|*+?.^$-:!=<>,0123456789abdkpswxBDPQESWZаб ".split("")),
    maxLength: 24,
  });
  fc.assert(
    fc.property(
      regexish,
      fc.string({ unit: "grapheme-composite", maxLength: 64 }),
      (source, text) => {
        let pattern;
        try {
          pattern = compileTextPattern(source);
        } catch (error) {
          assert.ok(error instanceof SyntaxError, `${source}: ${error}`);
          return;
        }
        assert.equal(typeof pattern.test(text), "boolean");
        assert.equal(typeof pattern.test(text + "\ud800"), "boolean");
      },
    ),
    { numRuns: 2000 },
  );
});
