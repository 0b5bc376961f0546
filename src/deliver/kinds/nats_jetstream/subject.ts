/**
 * Subject templates: `vk.{group_id}.{event_type}` turned into the NATS subject of each
 * event. A template is checked once at start (anything that can never give a valid subject
 * is refused there); an event whose own values make its subject invalid is dead-lettered
 * by the sink, since no retry changes the event.
 * @module
 */

/** The placeholders a template may use, and where each event's value comes from. */
export const PLACEHOLDERS = ["event_type", "group_id"] as const;
type Placeholder = (typeof PLACEHOLDERS)[number];

/** One event's values for the placeholders. */
export type SubjectValues = Readonly<Record<Placeholder, string>>;

/** A template split into literal text and placeholders. */
export interface SubjectTemplate {
  readonly source: string;
  readonly parts: readonly (string | { placeholder: Placeholder })[];
}

const PLACEHOLDER = /\{([^{}]*)\}/g;

/**
 * Why `subject` is not a subject events can be published to, or null when it is one:
 * dot-separated tokens, none empty, no whitespace, no wildcard (`*`, `>`).
 */
export function subjectProblem(subject: string): string | null {
  if (subject === "") return "it is empty";
  if (/\s/.test(subject)) return "it contains whitespace";
  const tokens = subject.split(".");
  if (tokens.some((t) => t === "")) {
    return "it has an empty token (a leading, trailing or double dot)";
  }
  if (tokens.some((t) => t.includes("*") || t.includes(">"))) {
    return "it contains a wildcard (* or >), which only subscriptions and streams may use";
  }
  return null;
}

/** Parses a template; problems are pushed as sentences that name the offending part. */
export function parseSubjectTemplate(source: string, problems: string[]): SubjectTemplate {
  const parts: (string | { placeholder: Placeholder })[] = [];
  let last = 0;
  for (const match of source.matchAll(PLACEHOLDER)) {
    if (match.index > last) parts.push(source.slice(last, match.index));
    const name = match[1]!;
    if ((PLACEHOLDERS as readonly string[]).includes(name)) {
      parts.push({ placeholder: name as Placeholder });
    } else {
      problems.push(
        `unknown placeholder {${name}}: expected ${PLACEHOLDERS.map((p) => `{${p}}`).join(" or ")}`,
      );
    }
    last = match.index + match[0].length;
  }
  if (last < source.length) parts.push(source.slice(last));
  const template = { source, parts };
  const literal = parts.filter((p) => typeof p === "string").join("");
  if (/[{}]/.test(literal)) problems.push("unbalanced { or }");
  // A sample expansion shows what no event can repair: empty tokens, wildcards, spaces.
  const sample = subjectProblem(expandSubject(template, { event_type: "x", group_id: "1" }));
  if (sample) problems.push(`no event can give a valid subject: ${sample}`);
  return template;
}

/**
 * Why `value` cannot fill a placeholder, or null: it must be one token, so that every
 * subject keeps the shape the start-up check proved a stream captures.
 */
export function valueProblem(value: string): string | null {
  if (value === "") return "it is empty";
  if (value.includes(".")) return "it contains a dot";
  return subjectProblem(value);
}

/** The subject of one event. */
export function expandSubject(template: SubjectTemplate, values: SubjectValues): string {
  return template.parts.map((p) => typeof p === "string" ? p : values[p.placeholder]).join("");
}

/**
 * The subjects the template can produce, as one subscription pattern: each token that holds
 * a placeholder becomes `*`. A stream captures every event of the destination when one of its
 * subjects covers this pattern.
 */
export function subjectPattern(template: SubjectTemplate): string {
  const marked = template.parts.map((p) => typeof p === "string" ? p : "\u0000").join("");
  return marked.split(".").map((t) => t.includes("\u0000") ? "*" : t).join(".");
}

/** Whether every subject matching `pattern` also matches the stream subject `filter`. */
export function subjectCovers(filter: string, pattern: string): boolean {
  const f = filter.split(".");
  const p = pattern.split(".");
  for (let i = 0; i < f.length; i++) {
    const token = f[i]!;
    if (token === ">") return p.length > i;
    if (i >= p.length) return false;
    if (token === "*") {
      if (p[i] === ">") return false;
      continue;
    }
    if (token !== p[i]) return false;
  }
  return f.length === p.length;
}
