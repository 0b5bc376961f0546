import assert from "node:assert/strict";
import {
  CHART_HEIGHT,
  clockTime,
  formatMs,
  Legend,
  LineChart,
  logTicks,
  niceTicks,
  StackedBarChart,
  timeTicks,
} from "../src/http/charts.tsx";

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);
const axis = (count: number, stepS = 60) => ({
  starts: Array.from({ length: count }, (_, i) => T0 + i * stepS * 1000),
  stepS,
});
const text = {
  id: "c",
  title: "Events per minute",
  description: "Some.",
  emptyText: "No traffic yet",
};

/** The numeric attributes of every `<tag …>` in `svg`. */
function shapes(svg: string, tag: string): Record<string, string>[] {
  return [...svg.matchAll(new RegExp(`<${tag}\\b([^>]*)>`, "g"))].map((m) =>
    Object.fromEntries([...m[1]!.matchAll(/([a-z-]+)="([^"]*)"/g)].map((a) => [a[1]!, a[2]!]))
  );
}

Deno.test("niceTicks() gives a few round ticks from 0 up to at least the maximum", () => {
  assert.deepEqual(niceTicks(45), [0, 20, 40, 60]);
  assert.deepEqual(niceTicks(150), [0, 50, 100, 150]);
  assert.deepEqual(niceTicks(3, 4, true), [0, 1, 2, 3]);
  assert.deepEqual(niceTicks(1, 4, true), [0, 1], "counts keep whole steps");
  assert.deepEqual(niceTicks(0.7), [0, 0.2, 0.4, 0.6, 0.8]);
  assert.deepEqual(niceTicks(0), [0, 1]);
  for (let max = 0.013; max < 1e6; max *= 1.37) {
    const ticks = niceTicks(max);
    assert.ok(ticks.at(-1)! >= max && ticks.at(-2)! < max, `${max}: ${ticks}`);
    assert.ok(ticks.length >= 3 && ticks.length <= 6, `${max}: ${ticks}`);
  }
});

Deno.test("logTicks() spans the values in 1-2-5 steps, or powers of ten over a wide range", () => {
  assert.deepEqual(logTicks(2.4, 57), [2, 5, 10, 20, 50, 100]);
  assert.deepEqual(logTicks(0.5, 400), [0.1, 1, 10, 100, 1000]);
  assert.deepEqual(logTicks(5, 5), [5, 10], "one value still gets a range");
  assert.deepEqual(logTicks(0, 3), [0.1, 0.2, 0.5, 1, 2, 5], "0 ms (a sub-ms delivery) is clamped");
});

Deno.test("timeTicks() labels round times back from now", () => {
  assert.deepEqual(timeTicks(60, 60), [
    { at: 0, label: "−60 min" },
    { at: 15, label: "−45 min" },
    { at: 30, label: "−30 min" },
    { at: 45, label: "−15 min" },
    { at: 60, label: "now" },
  ]);
  assert.deepEqual(timeTicks(30, 10).map((t) => t.label), [
    "−5 min",
    "−4 min",
    "−3 min",
    "−2 min",
    "−1 min",
    "now",
  ]);
  assert.deepEqual(timeTicks(6, 10).map((t) => t.label), [
    "−60 s",
    "−50 s",
    "−40 s",
    "−30 s",
    "−20 s",
    "−10 s",
    "now",
  ]);
  assert.deepEqual(timeTicks(11, 60).map((t) => t.label), ["−10 min", "−5 min", "now"]);
});

Deno.test("formatMs() and clockTime() read like an operator writes", () => {
  assert.equal(formatMs(0), "0");
  assert.equal(formatMs(0.42), "0.4 ms");
  assert.equal(formatMs(6.55), "6.6 ms");
  assert.equal(formatMs(318.2), "318 ms");
  assert.equal(formatMs(1500), "1.5 s");
  assert.equal(clockTime(T0 + 65_000, 60), "12:01 UTC");
  assert.equal(clockTime(T0 + 65_000, 10), "12:01:05 UTC");
});

Deno.test("StackedBarChart() scales bars to the top tick and stacks series in order", () => {
  const values = (last: number) => [...Array(8).fill(0), last, 0];
  const svg = String(StackedBarChart({
    ...text,
    axis: axis(10),
    unit: "events",
    series: [
      { name: "message_new", color: "#111111", values: values(30) },
      { name: "command_call", color: "#222222", values: values(15) },
    ],
  }));
  const rects = shapes(svg, "rect");
  assert.equal(rects.length, 2, "one rect per non-zero segment, none for empty buckets");
  const [first, second] = rects as [Record<string, string>, Record<string, string>];
  assert.equal(first.fill, "#111111");
  assert.equal(second.fill, "#222222");
  // The total 45 is drawn against the top tick 60 over a plot of CHART_HEIGHT - 32 units.
  const plot = CHART_HEIGHT - 32;
  assert.ok(Math.abs(Number(first.height) - (30 / 60) * plot) < 0.2, first.height);
  assert.ok(Math.abs(Number(second.height) - (15 / 60) * plot) < 0.2, second.height);
  assert.ok(Math.abs(Number(second.y) + Number(second.height) - Number(first.y)) < 0.2);
  assert.equal(Number(first.y) + Number(first.height), CHART_HEIGHT - 22, "from the baseline");
  // The ninth of ten slots of the 324-unit plot that starts at x = 46, less half a gap of 2.
  assert.equal(Number(first.x), 306.2);
  for (const label of ["0", "20", "40", "60"]) assert.match(svg, new RegExp(`>${label}</text>`));
  assert.match(svg, /<title>12:08 UTC: 45 events \(message_new 30, command_call 15\)<\/title>/);
  assert.doesNotMatch(svg, /No traffic yet/);
});

Deno.test("StackedBarChart() dims the bucket still filling", () => {
  const svg = String(StackedBarChart({
    ...text,
    axis: axis(3),
    unit: "events",
    series: [{ name: "a", color: "#111111", values: [1, 0, 2] }],
  }));
  assert.equal(svg.match(/<g class="live">/g)?.length, 1);
  assert.match(svg, /12:02 UTC \(so far\): 2 events/);
});

Deno.test("charts show their empty text, and no marks, when there is nothing to draw", () => {
  const bars = String(StackedBarChart({
    ...text,
    axis: axis(60),
    unit: "events",
    series: [{ name: "a", color: "#111111", values: Array(60).fill(0) }],
  }));
  assert.match(bars, /<text class="empty"[^>]*>No traffic yet<\/text>/);
  assert.equal(shapes(bars, "rect").length, 0);
  assert.match(bars, />now<\/text>/, "the time axis is still there");
  const lines = String(LineChart({
    ...text,
    emptyText: "No deliveries yet",
    axis: axis(60),
    formatY: formatMs,
    series: [{ name: "p50", color: "#111111", values: Array(60).fill(null) }],
  }));
  assert.match(lines, />No deliveries yet</);
  assert.equal(shapes(lines, "path").length, 0);
});

Deno.test("LineChart() breaks lines at gaps and marks lone points", () => {
  const values = [...Array(50).fill(null), 4, 8, 16, null, null, 2, null, 30, 40, 50];
  const svg = String(LineChart({
    ...text,
    axis: axis(60),
    formatY: formatMs,
    series: [{ name: "p99", color: "#e07b39", values }],
  }));
  const [path, dots] = shapes(svg, "path");
  assert.equal(path!.d!.match(/M/g)?.length, 3, "three runs: 4-16, the lone 2, 30-50");
  assert.equal(dots!.class, "dots");
  assert.equal(dots!.d!.match(/M/g)?.length, 1, "the lone point is drawn as a dot");
  const ys = [...path!.d!.matchAll(/[ML][\d.]+ ([\d.]+)/g)].map((m) => Number(m[1]));
  assert.ok(ys[0]! > ys[1]! && ys[1]! > ys[2]!, "higher values are drawn higher");
  assert.match(svg, />50 ms<\/text>/);
  assert.match(svg, /<title>12:59 UTC \(so far\): p99 50 ms<\/title>/);
});

Deno.test("charts and legends escape names and carry an accessible name", () => {
  const evil = `<script>alert("x")</script>`;
  const svg = String(StackedBarChart({
    ...text,
    id: "evil",
    title: `Events of ${evil}`,
    description: evil,
    axis: axis(2),
    unit: "events",
    series: [{ name: evil, color: "#111111", values: [1, 2] }, {
      name: "b",
      color: "#222222",
      values: [1, 0],
    }],
  }));
  const legend = String(Legend({ label: evil, items: [{ name: evil, color: "#111111" }] }));
  for (const html of [svg, legend]) {
    assert.doesNotMatch(html, /<script>/);
    assert.match(html, /&lt;script&gt;/);
  }
  assert.match(svg, /^<svg[^>]* role="img" aria-labelledby="evil-title evil-desc"/);
  assert.match(svg, /<title id="evil-title">Events of &lt;script&gt;/);
  assert.match(svg, /<desc id="evil-desc">/);
});
