/**
 * What clients send a Redis over a span of time, by `MONITOR`: the commands they sent
 * themselves, not the ones their scripts ran (MONITOR shows those as from `lua`). This is
 * what a hosted Redis that bills per command (Upstash) counts.
 * @module
 */

/** One command a client sent. */
export interface MonitoredCommand {
  /** The client's address, e.g. `127.0.0.1:51234`. */
  client: string;
  /** The command's name, upper case. */
  name: string;
  /** Its arguments, as MONITOR quotes them. */
  line: string;
}

/** Records the commands clients send to the Redis at `url` for `ms` milliseconds. */
export async function monitorRedis(url: string, ms: number): Promise<MonitoredCommand[]> {
  const { hostname, port } = new URL(url);
  const conn = await Deno.connect({ hostname, port: Number(port) || 6379 });
  await conn.write(new TextEncoder().encode("MONITOR\r\n"));
  let text = "";
  const decoder = new TextDecoder();
  const reading = (async () => {
    const buffer = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const n = await conn.read(buffer);
        if (n === null) break;
        text += decoder.decode(buffer.subarray(0, n), { stream: true });
      }
    } catch { /* closed */ }
  })();
  await new Promise((r) => setTimeout(r, ms));
  conn.close();
  await reading;
  const out: MonitoredCommand[] = [];
  for (const line of text.split("\r\n")) {
    const match = /^\+\d+\.\d+ \[\d+ ([^\]]+)\] "([^"]+)"/.exec(line);
    if (!match || match[1] === "lua") continue;
    out.push({ client: match[1]!, name: match[2]!.toUpperCase(), line });
  }
  return out;
}
