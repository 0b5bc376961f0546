/** @jsxImportSource hono/jsx */
/**
 * The status page: server-rendered HTML, no build step, refreshes itself.
 * @module
 */
import type { JSX } from "hono/jsx/jsx-runtime";
import type { StatusSnapshot } from "./snapshot.ts";

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{background:#27374d;color:#fff;padding:12px 20px;display:flex;gap:20px;align-items:baseline}
header h1{font-size:18px;margin:0}
main{padding:16px 20px;display:grid;gap:16px;grid-template-columns:repeat(auto-fit,minmax(420px,1fr))}
section{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:12px 14px}
h2{font-size:15px;margin:0 0 8px}
table{border-collapse:collapse;width:100%}
td,th{text-align:left;padding:3px 6px;border-bottom:1px solid #eef0f3;vertical-align:top}
th{font-weight:600;color:#5a6372}
.num{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#17803d;font-weight:600}.bad{color:#b42318;font-weight:600}.warn{color:#a15c07;font-weight:600}
.muted{color:#7a8394}
form{display:inline}
`;

function ago(ms: number | null, now: number): string {
  if (ms === null) return "never";
  const s = Math.max(0, Math.round((now - ms) / 1000));
  return s < 60
    ? `${s} s ago`
    : s < 3600
    ? `${Math.round(s / 60)} min ago`
    : `${Math.round(s / 3600)} h ago`;
}

function stateClass(state: string): string {
  return state === "polling" || state === "callback-only" || state === "standby"
    ? "ok"
    : state === "fatal"
    ? "bad"
    : "warn";
}

/** The whole page. */
export function StatusPage(
  props: { s: StatusSnapshot; canReplay: boolean },
): JSX.Element {
  const { s } = props;
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta http-equiv="refresh" content="5" />
        <title>vk-event-router status</title>
        <style>{STYLE}</style>
      </head>
      <body>
        <header>
          <h1>vk-event-router</h1>
          <span>version {s.version}</span>
          {s.instance_id ? <span id="instance">instance {s.instance_id}</span> : null}
          <span>up {Math.round(s.uptime_s)} s</span>
          <span id="events-total">events received: {s.events_received_total}</span>
        </header>
        <main>
          <section>
            <h2>Communities</h2>
            <table>
              <tr>
                <th>community</th>
                <th>connection</th>
                <th>owner</th>
                <th>ts</th>
                <th>last event</th>
                <th>failed: 1</th>
              </tr>
              {s.communities.map((c) => (
                <tr>
                  <td>{c.group_id}</td>
                  <td>
                    <span class={stateClass(c.state)}>{c.state}</span>
                    {c.detail ? <div class="muted">{c.detail}</div> : null}
                    {c.warnings.map((w) => <div key={w} class="warn">{w}</div>)}
                  </td>
                  <td>{c.owner ?? "—"}</td>
                  <td>{c.ts ?? "—"}</td>
                  <td>{ago(c.last_event_at, s.now)}</td>
                  <td class="num">
                    {c.history_lost > 0
                      ? <span class="bad">{c.history_lost} (events may have been lost)</span>
                      : "0"}
                  </td>
                </tr>
              ))}
            </table>
          </section>
          <section>
            <h2>Events in, by type</h2>
            <table>
              {Object.entries(s.events_received).map(([type, n]) => (
                <tr>
                  <td>{type}</td>
                  <td class="num">{n}</td>
                </tr>
              ))}
              <tr>
                <td>rejected (invalid)</td>
                <td class="num">{s.events_rejected_total}</td>
              </tr>
              <tr>
                <td>unrouted</td>
                <td class="num">{s.events_unrouted_total}</td>
              </tr>
            </table>
          </section>
          <section>
            <h2>Destinations</h2>
            <table>
              <tr>
                <th>destination</th>
                <th class="num">delivered</th>
                <th class="num">retried</th>
                <th class="num">parked</th>
                <th class="num">dead-lettered</th>
              </tr>
              {s.destinations.map((d) => (
                <tr>
                  <td>
                    {d.name} <span class="muted">{d.kind}</span>
                  </td>
                  <td class="num">{d.delivered}</td>
                  <td class="num">{d.retried}</td>
                  <td class="num">{d.parked}</td>
                  <td class="num">{d.dead_lettered}</td>
                </tr>
              ))}
            </table>
            <p>
              Parked now: {s.store.parked} · dead letters in the store: {s.store.dead_letters}{" "}
              · store: {s.store.kind}{" "}
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
          <section>
            <h2>Enrichment</h2>
            <p>
              Cache hit rate:{" "}
              {s.enrichment.hit_rate === null
                ? "—"
                : `${Math.round(s.enrichment.hit_rate * 100)} %`} · VK API calls:{" "}
              {s.enrichment.vk_api_calls} ({s.enrichment.vk_api_calls_per_s.toFixed(2)}/s){" "}
              · lookups failed: {s.enrichment.lookups_failed}
            </p>
          </section>
          <section>
            <h2>Recent errors</h2>
            {s.recent_errors.length === 0 ? <p class="muted">none</p> : (
              <table>
                {s.recent_errors.map((e) => (
                  <tr>
                    <td class="muted">{ago(e.at, s.now)}</td>
                    <td>{e.message}</td>
                  </tr>
                ))}
              </table>
            )}
          </section>
          <section>
            <h2>Last 20 events</h2>
            <table id="recent-events">
              <tr>
                <th>when</th>
                <th>type</th>
                <th>who / where</th>
                <th>text</th>
                <th>to</th>
              </tr>
              {s.recent_events.map((e) => (
                <tr>
                  <td class="muted">{ago(e.at, s.now)}</td>
                  <td>{e.event_type}</td>
                  <td>
                    {e.user_name ?? "—"} <span class="muted">{e.peer_name ?? ""}</span>
                  </td>
                  <td>
                    {e.text_hidden ? <span class="muted">hidden</span> : e.text ?? ""}
                  </td>
                  <td>{e.destinations.join(", ") || <span class="muted">unrouted</span>}</td>
                </tr>
              ))}
            </table>
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
        <title>vk-event-router: log in</title>
        <style>{STYLE}</style>
      </head>
      <body>
        <header>
          <h1>vk-event-router</h1>
        </header>
        <main>
          <section>
            <h2>Log in</h2>
            {props.failed ? <p class="bad">Wrong token.</p> : null}
            <form method="post" action="/login">
              <label>
                Status token <input type="password" name="token" autocomplete="current-password" />
              </label>{" "}
              <button type="submit">Log in</button>
            </form>
          </section>
        </main>
      </body>
    </html>
  );
}
