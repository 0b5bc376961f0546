/** @jsxImportSource hono/jsx */
/**
 * Server-rendered SVG charts over time buckets: stacked bars and lines, with a few
 * labelled ticks, an empty state, hover titles and a text alternative for screen
 * readers. Pure functions of their data: nothing runs in the browser, and every name
 * drawn is escaped by JSX.
 * @module
 */
import type { JSX } from "hono/jsx/jsx-runtime";

const CHART_WIDTH = 380;
/** Height of a chart in SVG units (380 wide); the page scales it to its card's width. */
export const CHART_HEIGHT = 170;
const MARGIN = { top: 10, right: 10, bottom: 22, left: 46 } as const;
const PLOT_W = CHART_WIDTH - MARGIN.left - MARGIN.right;
const PLOT_H = CHART_HEIGHT - MARGIN.top - MARGIN.bottom;
const BASELINE = MARGIN.top + PLOT_H;

/** The time buckets a chart spans, oldest first; the last one is still filling. */
export interface TimeAxis {
  /** Start of each bucket, ms since epoch. */
  starts: readonly number[];
  /** Seconds per bucket. */
  stepS: number;
}

/** One layer of a stacked bar chart. */
export interface BarSeries {
  name: string;
  color: string;
  values: readonly number[];
}

/** One line; null values leave a gap. */
export interface LineSeries {
  name: string;
  color: string;
  values: readonly (number | null)[];
}

/** What every chart says about itself. */
export interface ChartText {
  /** Unique within the page: the ids `aria-labelledby` points at derive from it. */
  id: string;
  /** The accessible name, e.g. "Events per minute by type, last hour". */
  title: string;
  /** A sentence or two for screen readers: totals, peaks. */
  description: string;
  /** Shown across the plot when there is nothing to draw. */
  emptyText: string;
}

/**
 * Round ticks from 0 to at least `max`: steps of 1, 2 or 5 times a power of ten, about
 * `target` of them. `integer` keeps steps whole (counts).
 */
export function niceTicks(max: number, target = 4, integer = false): number[] {
  if (!(max > 0) || !Number.isFinite(max)) return [0, 1];
  const raw = max / target;
  const power = 10 ** Math.floor(Math.log10(raw));
  let step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw * (1 - 1e-9))!;
  if (integer) step = Math.max(1, Math.round(step));
  const count = Math.ceil(max / step - 1e-9);
  return Array.from({ length: count + 1 }, (_, i) => Number((i * step).toPrecision(12)));
}

const TICK_INTERVALS_S = [10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200];

/** Labelled bucket boundaries (0..count) at round intervals, ending with "now" at the right. */
export function timeTicks(count: number, stepS: number): { at: number; label: string }[] {
  const span = count * stepS;
  // At most five intervals, or six of short labels ("−50 s").
  const interval = TICK_INTERVALS_S.find((s) => span / s <= (s < 60 ? 6 : 5) && s % stepS === 0) ??
    span;
  const every = Math.max(1, Math.round(interval / stepS));
  const ticks: { at: number; label: string }[] = [];
  for (let at = count; at >= 0; at -= every) {
    const ago = (count - at) * stepS;
    const label = ago === 0 ? "now" : interval < 60 ? `−${ago} s` : `−${ago / 60} min`;
    ticks.unshift({ at, label });
  }
  return ticks;
}

/** A duration in ms, short: "0.4 ms", "12 ms", "1.5 s". */
export function formatMs(ms: number): string {
  if (ms === 0) return "0";
  return ms >= 1000 ? `${short(ms / 1000)} s` : `${short(ms)} ms`;
}

function short(x: number): string {
  return x < 10 ? String(Math.round(x * 10) / 10) : String(Math.round(x));
}

/** A count with thousands separators. */
export function formatCount(n: number): string {
  return n.toLocaleString("en-US");
}

/** The start of a bucket as a UTC clock time, to match the logs. */
export function clockTime(ms: number, stepS: number): string {
  const iso = new Date(ms).toISOString();
  return `${iso.slice(11, stepS < 60 ? 19 : 16)} UTC`;
}

/**
 * Ticks of a log scale: from the 1-2-5 step at or below `min` to the one at or above
 * `max`, or only powers of ten when that makes more than six.
 */
export function logTicks(min: number, max: number): number[] {
  const low = Math.max(min, 0.1);
  const high = Math.max(max, low);
  const steps: number[] = [];
  for (let p = Math.floor(Math.log10(low)); p <= Math.ceil(Math.log10(high)) + 1; p++) {
    for (const m of [1, 2, 5]) steps.push(Number((m * 10 ** p).toPrecision(6)));
  }
  const pick = (candidates: number[]) => {
    const from = candidates.findLastIndex((s) => s <= low);
    const to = candidates.findIndex((s) => s >= high && s > low);
    return candidates.slice(Math.max(0, from), to + 1);
  };
  const ticks = pick(steps);
  return ticks.length <= 6 ? ticks : pick(steps.filter((s) => Math.log10(s) % 1 === 0));
}

const x = (boundary: number, count: number) => MARGIN.left + (boundary / count) * PLOT_W;
const px = (n: number) => Math.round(n * 10) / 10;

/** Maps a value to its y, from the baseline (first tick) to the top (last tick). */
function yScale(ticks: readonly number[], log: boolean): (v: number) => number {
  const low = ticks[0]!;
  const high = ticks.at(-1)!;
  const f = log ? Math.log10 : (v: number) => v;
  return (v) => {
    const clamped = Math.min(high, Math.max(low, v));
    return BASELINE - ((f(clamped) - f(low)) / (f(high) - f(low))) * PLOT_H;
  };
}

/** The frame every chart shares: title, gridlines with y labels, time labels, empty state. */
function Frame(
  props: ChartText & {
    axis: TimeAxis;
    /** Null: nothing to draw, show the empty text. */
    yTicks: readonly number[] | null;
    yOf: (v: number) => number;
    formatY: (v: number) => string;
    children?: unknown;
  },
): JSX.Element {
  const { id, axis, yTicks, yOf } = props;
  const count = axis.starts.length;
  return (
    <svg
      class="chart"
      viewBox={`0 0 ${CHART_WIDTH} ${CHART_HEIGHT}`}
      role="img"
      aria-labelledby={`${id}-title ${id}-desc`}
    >
      <title id={`${id}-title`}>{props.title}</title>
      <desc id={`${id}-desc`}>{props.description}</desc>
      <g class="grid">
        {(yTicks ?? []).map((tick, i) => (
          <g>
            {i === 0 ? null : (
              <line
                x1={MARGIN.left}
                x2={CHART_WIDTH - MARGIN.right}
                y1={px(yOf(tick))}
                y2={px(yOf(tick))}
              />
            )}
            <text x={MARGIN.left - 6} y={px(yOf(tick) + 4)} text-anchor="end">
              {props.formatY(tick)}
            </text>
          </g>
        ))}
      </g>
      <line
        class="axis"
        x1={MARGIN.left}
        x2={CHART_WIDTH - MARGIN.right}
        y1={BASELINE}
        y2={BASELINE}
      />
      <g class="time">
        {timeTicks(count, axis.stepS).map(({ at, label }) => (
          <text
            x={px(x(at, count))}
            y={CHART_HEIGHT - 6}
            text-anchor={at === count ? "end" : "middle"}
          >
            {label}
          </text>
        ))}
      </g>
      {yTicks === null
        ? (
          <text class="empty" x={MARGIN.left + PLOT_W / 2} y={MARGIN.top + PLOT_H / 2 + 4}>
            {props.emptyText}
          </text>
        )
        : props.children}
    </svg>
  );
}

/** Bars of per-bucket totals, each stacked from its series in order. */
export function StackedBarChart(
  props: ChartText & {
    axis: TimeAxis;
    series: readonly BarSeries[];
    /** What one unit is, for hover titles: "events", "errors". */
    unit: string;
  },
): JSX.Element {
  const { axis, series } = props;
  const count = axis.starts.length;
  const totals = axis.starts.map((_, i) => series.reduce((sum, s) => sum + (s.values[i] ?? 0), 0));
  const peak = Math.max(0, ...totals);
  const yTicks = peak > 0 ? niceTicks(peak, 4, true) : null;
  const max = yTicks?.at(-1) ?? 1;
  const slot = PLOT_W / count;
  const gap = Math.min(2, slot * 0.25);
  return (
    <Frame {...props} yTicks={yTicks} yOf={yScale(yTicks ?? [0, 1], false)} formatY={formatCount}>
      <g class="bars">
        {totals.map((total, i) => {
          if (total === 0) {
            return null;
          }
          const live = i === count - 1;
          let top = BASELINE;
          const parts = series.filter((s) =>
            (s.values[i] ?? 0) > 0
          );
          return (
            <g class={live ? "live" : undefined}>
              <title>
                {clockTime(axis.starts[i]!, axis.stepS)}
                {live ? " (so far)" : ""}: {formatCount(total)} {props.unit}
                {series.length > 1
                  ? ` (${parts.map((s) => `${s.name} ${formatCount(s.values[i]!)}`).join(", ")})`
                  : ""}
              </title>
              {parts.map((s) => {
                const height = Math.max(0.8, (s.values[i]! / max) * PLOT_H);
                top -= height;
                return (
                  <rect
                    x={px(x(i, count) + gap / 2)}
                    y={px(top)}
                    width={px(slot - gap)}
                    height={px(height)}
                    fill={s.color}
                  />
                );
              })}
            </g>
          );
        })}
      </g>
    </Frame>
  );
}

/**
 * Lines through the buckets' values on a log scale, which keeps a p50 of a few ms
 * readable under a p99 of seconds; gaps where a value is null, dots (zero-length round
 * strokes) where a point stands alone, or on every point of a short series.
 */
export function LineChart(
  props: ChartText & {
    axis: TimeAxis;
    series: readonly LineSeries[];
    formatY: (v: number) => string;
  },
): JSX.Element {
  const { axis, series } = props;
  const count = axis.starts.length;
  const values = series.flatMap((s) => s.values.filter((v): v is number => v !== null));
  const yTicks = values.length > 0 ? logTicks(Math.min(...values), Math.max(...values)) : null;
  const yOf = yScale(yTicks ?? [1, 10], true);
  const cx = (i: number) => px(x(i + 0.5, count));
  const cy = (v: number) => px(yOf(v));
  const dots = count <= 30;
  return (
    <Frame {...props} yTicks={yTicks} yOf={yOf} formatY={props.formatY}>
      {series.map((s) => {
        let d = "";
        s.values.forEach((v, i) => {
          if (v === null) return;
          d += `${i > 0 && s.values[i - 1] !== null ? "L" : "M"}${cx(i)} ${cy(v)}`;
        });
        const alone = s.values.flatMap((v, i) =>
          v !== null && (dots || (s.values[i - 1] ?? null) === null &&
                (s.values[i + 1] ?? null) === null)
            ? [[i, v] as const]
            : []
        );
        return (
          <g class="line">
            {d
              ? (
                <path
                  d={d}
                  fill="none"
                  stroke={s.color}
                  stroke-width="2"
                  stroke-linejoin="round"
                />
              )
              : null}
            {alone.length > 0
              ? (
                <path
                  class="dots"
                  d={alone.map(([i, v]) => `M${cx(i)} ${cy(v)}h0`).join("")}
                  stroke={s.color}
                  stroke-width="5"
                  stroke-linecap="round"
                />
              )
              : null}
          </g>
        );
      })}
      <g class="hover">
        {axis.starts.map((start, i) => {
          const shown = series.filter((s) => s.values[i] !== null && s.values[i] !== undefined);
          if (shown.length === 0) return null;
          return (
            <rect x={px(x(i, count))} y={MARGIN.top} width={px(PLOT_W / count)} height={PLOT_H}>
              <title>
                {clockTime(start, axis.stepS)}
                {i === count - 1 ? " (so far)" : ""}: {shown.map((s) =>
                  `${s.name} ${props.formatY(s.values[i]!)}`
                ).join(", ")}
              </title>
            </rect>
          );
        })}
      </g>
    </Frame>
  );
}

/** One key of a legend. */
export interface LegendItem {
  name: string;
  color: string;
  /** Shown after the name, e.g. the total over the window. */
  value?: string;
}

/** The key of a chart, as HTML so that it wraps on narrow screens. */
export function Legend(props: { items: readonly LegendItem[]; label: string }): JSX.Element {
  return (
    <ul class="legend" aria-label={props.label}>
      {props.items.map((item) => (
        <li>
          <span class="swatch" style={`--swatch:${item.color}`} aria-hidden="true" />
          {item.name}
          {item.value === undefined ? null : <span class="muted">{item.value}</span>}
        </li>
      ))}
    </ul>
  );
}
