/** @jsxImportSource hono/jsx */
/**
 * The status page: server-rendered HTML, no build step, no script, no external asset,
 * refreshes itself. One column on a phone, two or three on wider screens; wide tables
 * scroll inside their card, never the page.
 * @module
 */
import { raw } from "hono/html";
import type { JSX } from "hono/jsx/jsx-runtime";
import { Activity, chartRange, typeColor } from "./activity.tsx";
import { formatCount } from "./charts.tsx";
import type { StatusSnapshot } from "./snapshot.ts";

/** Inserted raw, so that its quotes stay quotes: a constant, never data. */
const STYLE = `
:root{--bg:#f3f5f8;--card:#fff;--line:#e1e5eb;--rule:#eef1f4;--text:#1b2330;--muted:#667185;
--ok:#157347;--bad:#b42318;--warn:#955a00;--head:#1d2a3a;--accent:#2f6db5}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;
background:var(--bg);color:var(--text)}
header{background:var(--head);color:#c3cdda}
.bar{max-width:1400px;margin:0 auto;padding:12px 16px;display:flex;flex-wrap:wrap;
align-items:center;gap:6px 20px}
header h1{font-size:17px;font-weight:650;margin:0;color:#fff;letter-spacing:.01em}
header .fact{white-space:nowrap}
header .fact b{color:#fff;font-weight:600}
header .notice{flex:1 1 16em;min-width:0;overflow-wrap:anywhere}
.pill{display:inline-block;padding:1px 10px;border-radius:999px;font-size:12.5px;font-weight:600;
white-space:nowrap}
.pill.ok{background:#d5f0e0;color:#0f5132}.pill.warn{background:#fde9c4;color:#6d4200}
.pill.bad{background:#fbd5d2;color:#8a1c12}
.pill.standby{background:#dfe6f0;color:#33445a;margin-left:6px}
tr.totals td{font-weight:600}
main{max-width:1400px;margin:0 auto;padding:16px;display:grid;gap:16px;
grid-template-columns:minmax(0,1fr);grid-auto-flow:row dense}
@media (min-width:760px){main{grid-template-columns:repeat(2,minmax(0,1fr))}.span2{grid-column:span 2}}
@media (min-width:1180px){main{grid-template-columns:repeat(3,minmax(0,1fr))}}
@media (max-width:480px){main{padding:10px;gap:10px}.bar{padding:10px}}
.wide{grid-column:1/-1}
section{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:14px 16px;
min-width:0}
h2{font-size:15px;font-weight:650;margin:0 0 10px}
.section-head{display:flex;flex-wrap:wrap;align-items:center;justify-content:space-between;
gap:8px;margin-bottom:10px}
.section-head h2{margin:0}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%}
td,th{text-align:left;padding:5px 8px;border-bottom:1px solid var(--rule);vertical-align:top}
td:first-child,th:first-child{padding-left:0}td:last-child,th:last-child{padding-right:0}
tr:last-child td{border-bottom:0}
th{font-weight:600;color:var(--muted);font-size:12.5px;white-space:nowrap}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.nowrap{white-space:nowrap}
.text{min-width:14em;overflow-wrap:anywhere}
.ok{color:var(--ok);font-weight:600}.bad{color:var(--bad);font-weight:600}
.warn{color:var(--warn);font-weight:600}
.muted{color:var(--muted)}
.tag{display:inline-block;font-size:11.5px;color:var(--muted);border:1px solid var(--line);
border-radius:4px;padding:0 5px;margin-left:4px;vertical-align:1px}
.dot{display:inline-block;width:9px;height:9px;border-radius:2px;margin-right:6px;
background:var(--swatch)}
p{margin:0 0 6px}
form{display:inline}
button{font:inherit;padding:5px 12px;border-radius:6px;border:1px solid #b9c2cf;background:#fff;
cursor:pointer}
button:hover{background:#f0f3f7}
input{font:inherit;padding:5px 8px;border:1px solid #b9c2cf;border-radius:6px;max-width:100%}
.tabs{display:flex;border:1px solid var(--line);border-radius:6px;overflow:hidden;font-size:13px}
.tabs a{padding:4px 12px;color:var(--muted);text-decoration:none}
.tabs a+a{border-left:1px solid var(--line)}
.tabs a[aria-current]{background:var(--accent);color:#fff;font-weight:600}
.charts{display:grid;gap:12px 28px;grid-template-columns:repeat(auto-fit,minmax(min(100%,300px),1fr))}
figure{margin:0;min-width:0}
figcaption h3{font-size:13px;font-weight:600;color:var(--muted);margin:0;text-transform:uppercase;
letter-spacing:.04em}
figcaption p{margin:2px 0 0;font-size:13px}
figcaption p:first-of-type{font-size:15px;line-height:24px}
figcaption b{font-size:18px;font-weight:650}
.chart{display:block;width:100%;height:auto;max-width:640px;margin-top:6px}
.chart text{font-size:11px;fill:#6b7587;font-variant-numeric:tabular-nums}
.chart .grid line{stroke:#e8ebf0}
.chart .axis{stroke:#b6bec9}
.chart .empty{font-size:13px;fill:#8b94a3;text-anchor:middle}
.chart .live{opacity:.55}
.chart .hover rect{fill:transparent}
.chart .hover rect:hover{fill:rgba(47,109,181,.07)}
.legend{list-style:none;margin:6px 0 0;padding:0;display:flex;flex-wrap:wrap;gap:2px 14px;
font-size:12.5px}
.legend li{display:flex;align-items:center;gap:5px;white-space:nowrap}
.swatch{width:10px;height:10px;border-radius:2px;background:var(--swatch)}
.reasons{padding-top:0}.reasons ul{margin:0;padding-left:18px}
.reasons li.warn{color:#fbd38d}.reasons li.bad{color:#fda29b}
.actions{display:flex;flex-wrap:wrap;gap:4px}
button.small{padding:2px 8px;font-size:12.5px}
.login{max-width:440px;grid-template-columns:minmax(0,1fr)}
@media (max-width:640px){
table.cards thead{display:none}
table.cards tr{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:2px 12px;
padding:8px 0;border-bottom:1px solid var(--rule)}
table.cards tr:last-child{border-bottom:0}
table.cards td{border:0;padding:0;text-align:left;min-width:0}
table.cards td.full{grid-column:1/-1}
table.cards td:first-child{font-weight:600}
table.cards td[data-label]::before{content:attr(data-label) ": ";color:var(--muted);
font-weight:400}
}
`;

/** How each fate of an event at a destination looks. */
const FATE_CLASS: Record<string, string> = {
  delivered: "ok",
  pending: "muted",
  failed: "warn",
  parked: "warn",
  dead_lettered: "bad",
};

function ago(ms: number | null, now: number): string {
  if (ms === null) return "never";
  const s = Math.max(0, Math.round((now - ms) / 1000));
  return s < 60
    ? `${s} s ago`
    : s < 3600
    ? `${Math.round(s / 60)} min ago`
    : `${Math.round(s / 3600)} h ago`;
}

/** "42 s", "12 min", "3 h 5 min", "2 d 4 h". */
function duration(seconds: number): string {
  const s = Math.floor(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86_400)} d ${Math.floor((s % 86_400) / 3600)} h`;
}

function stateClass(state: string): string {
  return state === "polling" || state === "callback-only" || state === "standby"
    ? "ok"
    : state === "fatal"
    ? "bad"
    : "warn";
}

/** One pill for the whole service, what an operator reads first, and why it is not ok. */
function Health(props: { s: StatusSnapshot }): JSX.Element {
  const { status } = props.s.health;
  const pill = status === "ok" ? "ok" : status === "degraded" ? "warn" : "bad";
  return (
    <span class={`pill ${pill}`} id="health">
      {status === "ok" ? "healthy" : status}
    </span>
  );
}

/** Each reason of a health that is not ok, one line each, under the header. */
function HealthReasons(props: { s: StatusSnapshot }): JSX.Element | null {
  const { status, reasons } = props.s.health;
  if (reasons.length === 0) return null;
  return (
    <div class="bar reasons" id="health-reasons">
      <ul>
        {reasons.map((r) => (
          <li class={status === "failing" ? "bad" : "warn"} data-code={r.code}>{r.message}</li>
        ))}
      </ul>
    </div>
  );
}

/** This replica polls no community while others share the state: it stands by. */
function standby(s: StatusSnapshot): boolean {
  const self = s.fleet?.replicas.find((r) => r.instance_id === s.instance_id);
  return self?.standby ?? false;
}

/** Every replica that shares the state, and the totals: the same on every replica's page. */
function Fleet(props: { s: StatusSnapshot }): JSX.Element | null {
  const { s } = props;
  if (!s.fleet) return null;
  const { replicas, totals } = s.fleet;
  return (
    <section class="span2" id="fleet">
      <h2>Fleet</h2>
      <p class="muted">
        {totals.replicas} {totals.replicas === 1 ? "replica" : "replicas"} ({totals.standby}{" "}
        on standby), {totals.communities_polled} of {s.communities.length}{" "}
        {s.communities.length === 1 ? "community" : "communities"} polled
      </p>
      <div class="scroll">
        <table class="cards">
          <thead>
            <tr>
              <th>replica</th>
              <th>role</th>
              <th>last heartbeat</th>
              <th class="num">events</th>
              <th class="num">delivered</th>
              <th class="num">failures</th>
              <th>health</th>
            </tr>
          </thead>
          {replicas.map((r) => (
            <tr class="replica" data-instance={r.instance_id}>
              <td class="full">
                {r.instance_id}
                {r.instance_id === s.instance_id ? <span class="tag">this one</span> : null}
              </td>
              <td data-label="role">
                {r.standby
                  ? <span class="muted">standby</span>
                  : `polls ${r.communities.join(", ")}`}
              </td>
              <td class="nowrap" data-label="last heartbeat">
                {Math.round(r.heartbeat_age_s)} s ago
              </td>
              <td class="num" data-label="events">{formatCount(r.events_received)}</td>
              <td class="num" data-label="delivered">{formatCount(r.delivered)}</td>
              <td class={r.failures > 0 ? "num warn" : "num"} data-label="failures">
                {formatCount(r.failures)}
              </td>
              <td data-label="health">
                <span class={r.health === "ok" ? "ok" : r.health === "degraded" ? "warn" : "bad"}>
                  {r.health}
                </span>
              </td>
            </tr>
          ))}
          <tr class="totals">
            <td class="full">all</td>
            <td data-label="role">{totals.communities_polled} polled</td>
            <td data-label="last heartbeat">—</td>
            <td class="num" data-label="events">{formatCount(totals.events_received)}</td>
            <td class="num" data-label="delivered">{formatCount(totals.delivered)}</td>
            <td class="num" data-label="failures">{formatCount(totals.failures)}</td>
            <td data-label="health">—</td>
          </tr>
        </table>
      </div>
    </section>
  );
}

/** A small form that posts an action of the workbench and comes back to the page. */
function Action(
  props: { action: string; label: string; ids?: string; name?: string },
): JSX.Element {
  return (
    <form method="post" action={props.action} class="action">
      {props.ids ? <input type="hidden" name="ids" value={props.ids} /> : null}
      <button type="submit" name={props.name ?? "do"} class="small">{props.label}</button>
    </form>
  );
}

/** Retry now, pause or resume one destination. */
function DestinationActions(props: { name: string; paused: boolean }): JSX.Element {
  const base = `/api/destinations/${encodeURIComponent(props.name)}`;
  return (
    <div class="actions">
      <Action action={`${base}/retry-now`} label="Retry now" name="retry-now" />
      {props.paused
        ? <Action action={`${base}/resume`} label="Resume" name="resume" />
        : <Action action={`${base}/pause`} label="Pause" name="pause" />}
    </div>
  );
}

/** The oldest dead letters, each with its error and its own replay and delete. */
function DeadLetters(props: { s: StatusSnapshot }): JSX.Element | null {
  const items = props.s.dead_letter_items;
  if (items === null) return null;
  return (
    <section class="wide" id="dead-letters">
      <h2>Dead letters</h2>
      {items.length === 0 ? <p class="muted">none</p> : (
        <div class="scroll">
          <table class="cards">
            <thead>
              <tr>
                <th>failed</th>
                <th>destination</th>
                <th>event</th>
                <th>error</th>
                <th class="num">attempts</th>
                <th>actions</th>
              </tr>
            </thead>
            {items.map((l) => (
              <tr class="dead-letter" data-id={l.id}>
                <td class="muted nowrap">{ago(l.last_failed_at, props.s.now)}</td>
                <td data-label="destination">
                  {l.destination ?? <span class="muted">(rejected)</span>}
                  <span class="tag">{l.reason}</span>
                </td>
                <td class="full" data-label="event">
                  {l.event_type ?? "—"} <span class="muted">{l.event_id ?? ""}</span>
                </td>
                <td class="text full" data-label="error">{l.error}</td>
                <td class="num" data-label="attempts">{l.attempts}</td>
                <td class="full">
                  <div class="actions">
                    <Action
                      action="/api/dead-letters/replay"
                      ids={l.id}
                      label="Replay"
                      name="replay"
                    />
                    <Action
                      action={`/api/dead-letters/${encodeURIComponent(l.id)}/delete`}
                      label="Delete"
                      name="delete"
                    />
                  </div>
                </td>
              </tr>
            ))}
          </table>
        </div>
      )}
      {props.s.store.dead_letters > items.length
        ? (
          <p class="muted">
            The oldest {items.length} of{" "}
            {formatCount(props.s.store.dead_letters)}: GET /api/dead-letters pages through all of
            them.
          </p>
        )
        : null}
    </section>
  );
}

/** The parked deliveries due first: what failed, and when each is tried again. */
function Parked(props: { s: StatusSnapshot }): JSX.Element | null {
  const items = props.s.parked_items;
  if (items === null || items.length === 0) return null;
  const { now } = props.s;
  return (
    <section class="wide" id="parked">
      <h2>Parked deliveries</h2>
      <div class="scroll">
        <table class="cards">
          <thead>
            <tr>
              <th>next attempt</th>
              <th>destination</th>
              <th>event</th>
              <th>error</th>
              <th class="num">attempts</th>
            </tr>
          </thead>
          {items.map((p) => (
            <tr class="parked" data-id={p.id}>
              <td class="nowrap">
                {p.due_at <= now ? "due" : `in ${duration((p.due_at - now) / 1000)}`}
              </td>
              <td data-label="destination">{p.destination}</td>
              <td class="full" data-label="event">
                {p.event_type ?? "—"} <span class="muted">{p.event_id ?? ""}</span>
              </td>
              <td class="text full" data-label="error">{p.error}</td>
              <td class="num" data-label="attempts">{p.attempts}</td>
            </tr>
          ))}
        </table>
      </div>
    </section>
  );
}

/** The whole page; `range` is the `?range=` of the charts. */
export function StatusPage(
  props: { s: StatusSnapshot; canReplay: boolean; canLogout: boolean; range?: string | undefined },
): JSX.Element {
  const { s } = props;
  const received = Object.entries(s.events_received).sort((a, b) =>
    b[1] - a[1] || a[0].localeCompare(b[0])
  );
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta http-equiv="refresh" content="5" />
        <title>vk-event-router status</title>
        <style>{raw(STYLE)}</style>
      </head>
      <body>
        <header>
          <div class="bar">
            <h1>vk-event-router</h1>
            <Health s={s} />
            <span class="fact">
              version <b>{s.version}</b>
            </span>
            {s.instance_id
              ? (
                <span class="fact" id="instance">
                  instance <b>{s.instance_id}</b>
                  {standby(s) ? <span class="pill standby" id="standby">standby</span> : null}
                </span>
              )
              : null}
            <span class="fact">
              up <b>{duration(s.uptime_s)}</b>
            </span>
            <span class="fact" id="events-total">
              events received: <b>{formatCount(s.events_received_total)}</b>
              {s.fleet && s.fleet.totals.replicas > 1
                ? (
                  <>
                    {" "}(fleet: <b>{formatCount(s.fleet.totals.events_received)}</b>)
                  </>
                )
                : null}
            </span>
            {s.view === "aggregates"
              ? (
                <span class="notice" id="aggregates-notice">
                  counts only: set STATUS_TOKEN to see names and texts, and to act
                </span>
              )
              : null}
            {props.canLogout
              ? (
                <form method="post" action="/logout">
                  <button type="submit">Log out</button>
                </form>
              )
              : null}
          </div>
          <HealthReasons s={s} />
        </header>
        <main>
          <Activity
            timeline={s.timeline}
            range={chartRange(props.range, s.uptime_s)}
            eventsTotal={s.events_received_total}
            startedAt={s.started_at}
          />
          <Fleet s={s} />
          <section class="span2" id="communities">
            <h2>Communities</h2>
            <div class="scroll">
              <table class="cards">
                <thead>
                  <tr>
                    <th>community</th>
                    <th>connection</th>
                    <th>owner</th>
                    <th>ts</th>
                    <th>last event</th>
                    <th class="num">failed: 1</th>
                  </tr>
                </thead>
                {s.communities.map((c) => (
                  <tr>
                    <td class="full">{c.group_id}</td>
                    <td data-label="connection">
                      <span class={stateClass(c.state)}>{c.state}</span>
                      {c.detail ? <div class="muted">{c.detail}</div> : null}
                      {c.warnings.map((w) => <div key={w} class="warn">{w}</div>)}
                    </td>
                    <td class="nowrap" data-label="owner">{c.owner ?? "—"}</td>
                    <td class="nowrap" data-label="ts">{c.ts ?? "—"}</td>
                    <td class="nowrap" data-label="last event">{ago(c.last_event_at, s.now)}</td>
                    <td class="num" data-label="failed: 1">
                      {c.history_lost > 0
                        ? <span class="bad">{c.history_lost} (events may have been lost)</span>
                        : "0"}
                    </td>
                  </tr>
                ))}
              </table>
            </div>
          </section>
          <section id="enrichment">
            <h2>Enrichment</h2>
            <table>
              <tr>
                <td>cache hit rate</td>
                <td class="num">
                  {s.enrichment.hit_rate === null
                    ? "—"
                    : `${Math.round(s.enrichment.hit_rate * 100)} %`}
                </td>
              </tr>
              <tr>
                <td>VK API calls</td>
                <td class="num">
                  {formatCount(s.enrichment.vk_api_calls)}{" "}
                  <span class="muted">({s.enrichment.vk_api_calls_per_s.toFixed(2)}/s)</span>
                </td>
              </tr>
              <tr>
                <td>lookups failed</td>
                <td class={s.enrichment.lookups_failed > 0 ? "num warn" : "num"}>
                  {formatCount(s.enrichment.lookups_failed)}
                </td>
              </tr>
            </table>
          </section>
          <section class="span2" id="destinations">
            <h2>Destinations</h2>
            <div class="scroll">
              <table class="cards">
                <thead>
                  <tr>
                    <th>destination</th>
                    <th>state</th>
                    <th class="num">delivered</th>
                    <th class="num">retried</th>
                    <th class="num">parked</th>
                    <th class="num">dead-lettered</th>
                    <th class="num">waiting</th>
                    {props.canReplay ? <th>actions</th> : null}
                  </tr>
                </thead>
                {s.destinations.map((d) => (
                  <tr class="destination" data-destination={d.name}>
                    <td class="full">
                      {d.name}
                      <span class="tag">{d.kind}</span>
                    </td>
                    <td data-label="state" class="dest-state">
                      <span class={d.state === "ok" ? "ok" : d.state === "paused" ? "warn" : "bad"}>
                        {d.state}
                      </span>
                      {d.last_error
                        ? (
                          <div class="muted">
                            {ago(d.last_error.at, s.now)}: {d.last_error.message}
                          </div>
                        )
                        : null}
                      <div class="muted">delivered {ago(d.last_delivered_at, s.now)}</div>
                    </td>
                    <td class="num" data-label="delivered">{formatCount(d.delivered)}</td>
                    <td class="num" data-label="retried">{formatCount(d.retried)}</td>
                    <td class={d.parked > 0 ? "num warn" : "num"} data-label="parked">
                      {formatCount(d.parked)}
                    </td>
                    <td class={d.dead_lettered > 0 ? "num bad" : "num"} data-label="dead-lettered">
                      {formatCount(d.dead_lettered)}
                    </td>
                    <td class={d.backlog_growing ? "num warn" : "num"} data-label="waiting">
                      {d.depth === null ? "—" : formatCount(d.depth)}
                      {d.oldest_age_s !== null && d.depth !== null && d.depth > 0
                        ? <div class="muted">oldest {duration(d.oldest_age_s)}</div>
                        : null}
                      {d.consumers !== null
                        ? (
                          <div class={d.consumers === 0 ? "muted warn" : "muted"}>
                            {d.consumers === 1
                              ? "1 consumer"
                              : `${formatCount(d.consumers)} consumers`}
                          </div>
                        )
                        : null}
                      {d.consumer_groups?.length === 0
                        ? <div class="muted consumer-groups">no consumer group</div>
                        : null}
                      {d.consumer_groups?.map((g) => (
                        <div class="muted consumer-groups">
                          {g.name}: lag {g.lag === null ? "?" : formatCount(g.lag)} · pending{" "}
                          {formatCount(g.pending)} · {g.consumers}{" "}
                          {g.consumers === 1 ? "consumer" : "consumers"}
                        </div>
                      ))}
                    </td>
                    {props.canReplay
                      ? (
                        <td class="full" data-label="actions">
                          <DestinationActions name={d.name} paused={d.state === "paused"} />
                        </td>
                      )
                      : null}
                  </tr>
                ))}
              </table>
            </div>
            {s.destinations.filter((d) => d.backlog_growing).map((d) => (
              <p class="warn backlog-warning">
                The backlog of {d.name} keeps growing ({formatCount(d.depth ?? 0)} not taken
                {d.oldest_age_s !== null ? `, the oldest for ${duration(d.oldest_age_s)}` : ""}):
                {" "}
                {d.consumers === 0 ? "no consumer reads it." : "is its consumer running?"}
              </p>
            ))}
            {s.destinations.filter((d) => d.state === "paused").map((d) => (
              <p class="warn paused-note">
                {d.name} is paused: its deliveries are parked until it is resumed.
              </p>
            ))}
            <p style="margin-top:10px">
              Parked now: {formatCount(s.store.parked)} · dead letters in the store:{" "}
              {formatCount(s.store.dead_letters)} · store: {s.store.kind}{" "}
              <span class={s.store.reachable ? "ok" : "bad"}>
                {s.store.reachable ? "reachable" : "unreachable"}
              </span>
            </p>
            {props.canReplay && s.store.dead_letters > 0
              ? (
                <form method="post" action="/dead-letters/replay">
                  <button type="submit">Replay dead letters</button>
                </form>
              )
              : null}
          </section>
          {props.canReplay ? <DeadLetters s={s} /> : null}
          {props.canReplay ? <Parked s={s} /> : null}
          <section id="events-by-type">
            <h2>Events in, by type</h2>
            <table>
              {received.map(([type, n]) => (
                <tr>
                  <td>
                    <span class="dot" style={`--swatch:${typeColor(type)}`} />
                    {type}
                  </td>
                  <td class="num">{formatCount(n)}</td>
                </tr>
              ))}
              <tr>
                <td>rejected (invalid)</td>
                <td class="num">{formatCount(s.events_rejected_total)}</td>
              </tr>
              <tr>
                <td>unrouted</td>
                <td class="num">{formatCount(s.events_unrouted_total)}</td>
              </tr>
            </table>
          </section>
          <section class="wide" id="recent-errors">
            <h2>Recent errors</h2>
            {s.recent_errors.length === 0 ? <p class="muted">none</p> : (
              <table>
                {s.recent_errors.map((e) => (
                  <tr>
                    <td class="muted nowrap">{ago(e.at, s.now)}</td>
                    <td class="text">
                      {e.message}
                      {e.count && e.count > 1 ? <span class="tag">×{e.count}</span> : null}
                    </td>
                  </tr>
                ))}
              </table>
            )}
          </section>
          <section class="wide">
            <h2>Last 20 events</h2>
            <div class="scroll">
              <table id="recent-events" class="cards">
                <thead>
                  <tr>
                    <th>when</th>
                    <th>type</th>
                    <th>who / where</th>
                    <th>text</th>
                    <th>to</th>
                  </tr>
                </thead>
                {s.recent_events.map((e) => (
                  <tr>
                    <td class="muted nowrap">{ago(e.at, s.now)}</td>
                    <td class="nowrap">
                      <span class="dot" style={`--swatch:${typeColor(e.event_type)}`} />
                      {e.event_type}
                    </td>
                    <td class="full">
                      {e.user_name ?? "—"} <span class="muted">{e.peer_name ?? ""}</span>
                    </td>
                    <td class="text full">
                      {e.text_hidden ? <span class="muted">hidden</span> : e.text ?? ""}
                    </td>
                    <td class="full fates" data-label="to">
                      {e.destinations.length === 0 ? <span class="muted">unrouted</span> : null}
                      {e.destinations.map((d, i) => {
                        const fate = e.fates[d] ?? "pending";
                        return (
                          <span class="fate" data-destination={d} data-fate={fate}>
                            {i > 0 ? ", " : ""}
                            {d}:{" "}
                            <span class={FATE_CLASS[fate] ?? "muted"}>
                              {fate.replace("_", "-")}
                            </span>
                          </span>
                        );
                      })}
                    </td>
                  </tr>
                ))}
              </table>
            </div>
            {s.recent_events.length === 0 ? <p class="muted">none yet</p> : null}
          </section>
        </main>
      </body>
    </html>
  );
}

/** The login form. */
export function LoginPage(props: { failed: boolean }): JSX.Element {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>vk-event-router: log in</title>
        <style>{raw(STYLE)}</style>
      </head>
      <body>
        <header>
          <div class="bar">
            <h1>vk-event-router</h1>
          </div>
        </header>
        <main class="login">
          <section>
            <h2>Log in</h2>
            {props.failed ? <p class="bad">Wrong token.</p> : null}
            <form method="post" action="/login">
              <p>
                <label>
                  Status token{" "}
                  <input type="password" name="token" autocomplete="current-password" />
                </label>
              </p>
              <button type="submit">Log in</button>
            </form>
          </section>
        </main>
      </body>
    </html>
  );
}
