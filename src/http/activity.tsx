/** @jsxImportSource hono/jsx */
/**
 * The status page's "Activity" section: events by type, delivery latency and errors,
 * over the last hour per minute or the last five minutes per 10 s. The short range is
 * what an operator watches during a deploy or an incident (with the page's 5 s refresh it
 * is nearly live); the hour shows trends. Until the service has run long enough to fill
 * part of the hour, the short range is the default.
 * @module
 */
import type { JSX } from "hono/jsx/jsx-runtime";
import type { ErrorKind, TimelineSeries, TimelineSnapshot } from "../status/timeline.ts";
import {
  type BarSeries,
  formatCount,
  formatMs,
  Legend,
  LineChart,
  StackedBarChart,
  type TimeAxis,
} from "./charts.tsx";

/** The two views of the timeline. */
export type ChartRange = "5m" | "1h";

/** Uptime under which the 5-minute view is the default: the hour would be mostly empty. */
const SHORT_RANGE_UNTIL_S = 15 * 60;
/** Fewest buckets drawn when the charts start at the service's start. */
const MIN_BUCKETS = 6;

/** The range asked for in `?range=`, or the default for this uptime. */
export function chartRange(asked: string | undefined, uptimeS: number): ChartRange {
  if (asked === "5m" || asked === "1h") return asked;
  return uptimeS < SHORT_RANGE_UNTIL_S ? "5m" : "1h";
}

/** Fixed colours for the event types the router produces, so a type keeps its colour. */
const TYPE_COLORS: Readonly<Record<string, string>> = {
  message_new: "#4e79a7",
  command_call: "#f28e2b",
  button_pressed: "#59a14f",
  reaction: "#b07aa1",
  message_edit: "#76b7b2",
  message_reply: "#edc948",
  chat_action: "#9c755f",
  member_join: "#ff9da7",
  member_leave: "#d37295",
  raw: "#a0a4ab",
};
const SPARE_COLORS = ["#86bcb6", "#8cd17d", "#f1ce63", "#a0cbe8", "#ffbe7d", "#d4a6c8"];

/** The colour of an event type on every chart and table of the page. */
export function typeColor(type: string): string {
  if (Object.hasOwn(TYPE_COLORS, type)) return TYPE_COLORS[type]!;
  let hash = 0;
  for (const c of type) hash = (hash * 31 + c.codePointAt(0)!) >>> 0;
  return SPARE_COLORS[hash % SPARE_COLORS.length]!;
}

const ERRORS: readonly { kind: ErrorKind; name: string; color: string }[] = [
  { kind: "delivery_failures", name: "delivery failures", color: "#d1495b" },
  { kind: "rejected", name: "rejected events", color: "#e9a23b" },
  { kind: "poll_faults", name: "long-poll faults", color: "#7e6bc4" },
];
const P50 = "#2f6db5";
const P99 = "#e07b39";

const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);

/** The three charts of one range, or a note where the snapshot has no timeline. */
export function Activity(
  props: {
    timeline: TimelineSnapshot | null;
    range: ChartRange;
    eventsTotal: number;
    /** When the service started (ms since epoch): nothing before it is drawn. */
    startedAt: number;
  },
): JSX.Element {
  const { timeline, range } = props;
  return (
    <section class="wide activity" aria-labelledby="activity-heading">
      <div class="section-head">
        <h2 id="activity-heading">Activity</h2>
        {timeline
          ? (
            <nav class="tabs" aria-label="Time range">
              <a href="?range=5m" aria-current={range === "5m" ? "page" : undefined}>
                Last 5 min
              </a>
              <a href="?range=1h" aria-current={range === "1h" ? "page" : undefined}>
                Last hour
              </a>
            </nav>
          )
          : null}
      </div>
      {timeline
        ? (
          <Charts
            {...sinceStart(
              range === "5m" ? timeline.last_5_minutes : timeline.last_hour,
              props.startedAt,
              range === "5m" ? "in the last 5 minutes" : "in the last hour",
            )}
            eventsTotal={props.eventsTotal}
          />
        )
        : (
          <p class="muted">
            No charts: this instance keeps no timeline.
          </p>
        )}
    </section>
  );
}

/**
 * The buckets from the one the service started in (at least {@linkcode MIN_BUCKETS}):
 * a service up for a minute shows that minute across the whole chart, not squeezed
 * into the right edge of an empty window, and says so.
 */
export function sinceStart(
  series: TimelineSeries,
  startedAt: number,
  window: string,
): { series: TimelineSeries; window: string } {
  const started = series.starts.findIndex((start) => start + series.step_s * 1000 > startedAt);
  const from = Math.min(started, series.starts.length - MIN_BUCKETS);
  if (from <= 0) return { series, window };
  const cut = <T,>(values: readonly T[]) => values.slice(from);
  return {
    window: "since the start",
    series: {
      ...series,
      starts: cut(series.starts),
      events_by_type: Object.fromEntries(
        Object.entries(series.events_by_type).map(([type, values]) => [type, cut(values)]),
      ),
      deliveries: cut(series.deliveries),
      latency_p50_ms: cut(series.latency_p50_ms),
      latency_p99_ms: cut(series.latency_p99_ms),
      errors: Object.fromEntries(
        Object.entries(series.errors).map(([kind, values]) => [kind, cut(values)]),
      ) as TimelineSeries["errors"],
    },
  };
}

function Charts(
  props: { series: TimelineSeries; window: string; eventsTotal: number },
): JSX.Element {
  const { series: t, window } = props;
  const axis: TimeAxis = { starts: t.starts, stepS: t.step_s };
  const per = t.step_s === 60 ? "per minute" : `per ${t.step_s} s`;

  const types: BarSeries[] = Object.entries(t.events_by_type)
    .map(([name, values]) => ({ name, values, color: typeColor(name) }))
    .sort((a, b) => sum(b.values) - sum(a.values) || a.name.localeCompare(b.name));
  const events = sum(types.map((s) => sum(s.values)));
  const peakEvents = Math.max(0, ...t.starts.map((_, i) => sum(types.map((s) => s.values[i]!))));

  const deliveries = sum(t.deliveries);
  const p50 = t.window_latency_p50_ms;
  const p99 = t.window_latency_p99_ms;

  const errorSeries: BarSeries[] = ERRORS.map((e) => ({
    name: e.name,
    color: e.color,
    values: t.errors[e.kind],
  }));
  const errors = sum(errorSeries.map((s) => sum(s.values)));

  return (
    <div class="charts">
      <figure id="chart-events">
        <figcaption>
          <h3>Events received</h3>
          <p>
            <b>{formatCount(events)}</b> {window}
          </p>
          <p class="muted">{per}, by type</p>
        </figcaption>
        <StackedBarChart
          id="events-chart"
          title={`Events received ${per} by type, ${window}`}
          description={events === 0
            ? `No events ${window}.`
            : `${formatCount(events)} events ${window}, at most ${
              formatCount(peakEvents)
            } ${per}. ${types.map((s) => `${s.name}: ${formatCount(sum(s.values))}`).join(", ")}.`}
          emptyText={props.eventsTotal === 0 ? "No traffic yet" : `No events ${window}`}
          axis={axis}
          series={types}
          unit="events"
        />
        <Legend
          label="Event types"
          items={types.map((s) => ({
            name: s.name,
            color: s.color,
            value: formatCount(sum(s.values)),
          }))}
        />
      </figure>
      <figure id="chart-latency">
        <figcaption>
          <h3>Delivery latency</h3>
          <p>
            {p50 === null || p99 === null ? <>no deliveries {window}</> : (
              <>
                p50 <b>{formatMs(p50)}</b> · p99 <b>{formatMs(p99)}</b> {window}
              </>
            )}
          </p>
          <p class="muted">{per}, from receipt to confirmed delivery</p>
        </figcaption>
        <LineChart
          id="latency-chart"
          title={`Delivery latency ${per}, p50 and p99, ${window}`}
          description={p50 === null || p99 === null
            ? `No deliveries ${window}.`
            : `From receiving an event to its confirmed delivery, over ${
              formatCount(deliveries)
            } first-attempt deliveries ${window}: median ${formatMs(p50)}, 99th percentile ${
              formatMs(p99)
            }.`}
          emptyText={props.eventsTotal === 0 ? "No deliveries yet" : `No deliveries ${window}`}
          axis={axis}
          series={[
            { name: "p50", color: P50, values: t.latency_p50_ms },
            { name: "p99", color: P99, values: t.latency_p99_ms },
          ]}
          formatY={formatMs}
        />
        <Legend
          label="Percentiles"
          items={[{ name: "p50 (median)", color: P50 }, { name: "p99", color: P99 }]}
        />
      </figure>
      <figure id="chart-errors">
        <figcaption>
          <h3>Errors</h3>
          <p>
            {errors === 0 ? <>none {window}</> : (
              <>
                <b class="bad">{formatCount(errors)}</b> {window}
              </>
            )}
          </p>
          <p class="muted">{per}, by kind</p>
        </figcaption>
        <StackedBarChart
          id="errors-chart"
          title={`Errors ${per}, ${window}`}
          description={errors === 0
            ? `No delivery failures, rejected events or long-poll faults ${window}.`
            : `${formatCount(errors)} errors ${window}: ${
              errorSeries.map((s) => `${s.name} ${formatCount(sum(s.values))}`).join(", ")
            }.`}
          emptyText={`No errors ${window}`}
          axis={axis}
          series={errorSeries}
          unit="errors"
        />
        <Legend
          label="Kinds of error"
          items={errorSeries.map((s) => ({
            name: s.name,
            color: s.color,
            value: formatCount(sum(s.values)),
          }))}
        />
      </figure>
    </div>
  );
}
