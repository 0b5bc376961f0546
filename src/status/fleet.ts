/**
 * One view of the fleet: with the state in Redis every replica writes a short report of
 * itself (communities it polls, its counts, its health) every few seconds, and any replica
 * reads them all for its page and `/api/status`. So a standby's page shows the whole fleet
 * instead of its own zeros. One command per report and one per read, whatever the number
 * of communities; the times are Redis's, so the replicas' clocks do not matter.
 * @module
 */
import type { RedisClient } from "../redis/connection.ts";
import { redisKeys } from "../redis/keys.ts";
import { evalScript, LuaScript } from "../redis/scripts.ts";
import type { DestinationHealth, HealthReason } from "./health.ts";
import readSource from "./fleet_read.lua" with { type: "text" };
import reportSource from "./fleet_report.lua" with { type: "text" };

/** What one replica says of itself. */
export interface ReplicaReport {
  instance_id: string;
  version: string;
  started_at: number;
  /** The communities whose lease it holds (it polls them). */
  communities: number[];
  events_received: number;
  delivered: number;
  failures: number;
  dead_lettered: number;
  health: string;
  /** Why its health is not ok, as it sees it. */
  reasons: HealthReason[];
  /** How its attempts at each destination fared (the recent dead letters only). */
  destinations: Record<string, DestinationHealth>;
}

/** A replica as the fleet view shows it. */
export interface ReplicaView extends ReplicaReport {
  /** When its last report reached Redis (ms since epoch, Redis's clock). */
  last_heartbeat_at: number;
  /** Seconds since then. */
  heartbeat_age_s: number;
  /** It polls no community: it serves callbacks and the page, and takes over when needed. */
  standby: boolean;
}

/** Every live replica and the totals over them. */
export interface FleetView {
  replicas: ReplicaView[];
  totals: {
    replicas: number;
    standby: number;
    communities_polled: number;
    events_received: number;
    delivered: number;
    failures: number;
    dead_lettered: number;
  };
}

/** How often a replica reports. */
export const REPORT_EVERY_MS = 5_000;
/** A replica whose last report is older than this is gone. */
export const GONE_AFTER_MS = 3 * REPORT_EVERY_MS;

/**
 * KEYS[1] the reports; ARGV[1] the instance id, ARGV[2] its report, ARGV[3] the age after
 * which a report is forgotten. Stores `<id>` (the report) and `<id>@` (when, Redis time in ms).
 */
const REPORT_SCRIPT = new LuaScript(reportSource);

/** KEYS[1] the reports. Answers `{now, field, value, ...}`, Redis time in ms. */
const READ_SCRIPT = new LuaScript(readSource);

/** Writes this replica's report and reads the fleet's. */
export interface Fleet {
  report(report: ReplicaReport): Promise<void>;
  read(): Promise<FleetView>;
  /** Forgets this replica (a graceful stop). */
  leave(instanceId: string): Promise<void>;
}

/** The fleet over one Redis client. */
export function createFleet(redis: RedisClient, prefix: string): Fleet {
  const key = redisKeys(prefix).fleet;
  return {
    async report(report) {
      await evalScript(redis, REPORT_SCRIPT, [key], [
        report.instance_id,
        JSON.stringify(report),
        String(GONE_AFTER_MS),
      ]);
    },
    async read() {
      const [now, ...flat] = await evalScript(redis, READ_SCRIPT, [key], []) as [
        number,
        ...string[],
      ];
      const fields = new Map<string, string>();
      for (let i = 0; i + 1 < flat.length; i += 2) fields.set(flat[i]!, flat[i + 1]!);
      const replicas: ReplicaView[] = [];
      for (const [field, value] of fields) {
        if (field.endsWith("@")) continue;
        const at = Number(fields.get(`${field}@`));
        if (!Number.isFinite(at) || Number(now) - at > GONE_AFTER_MS) continue;
        let report: ReplicaReport;
        try {
          report = JSON.parse(value) as ReplicaReport;
        } catch {
          continue; // a report this version cannot read: left out, not fatal
        }
        replicas.push({
          ...report,
          last_heartbeat_at: at,
          heartbeat_age_s: Math.max(0, (Number(now) - at) / 1000),
          standby: report.communities.length === 0,
        });
      }
      replicas.sort((a, b) => a.instance_id.localeCompare(b.instance_id));
      const sum = (f: (r: ReplicaView) => number) => replicas.reduce((n, r) => n + f(r), 0);
      return {
        replicas,
        totals: {
          replicas: replicas.length,
          standby: replicas.filter((r) => r.standby).length,
          communities_polled: new Set(replicas.flatMap((r) => r.communities)).size,
          events_received: sum((r) => r.events_received),
          delivered: sum((r) => r.delivered),
          failures: sum((r) => r.failures),
          dead_lettered: sum((r) => r.dead_lettered),
        },
      };
    },
    async leave(instanceId) {
      const multi = redis.multi();
      multi.hdel(key, instanceId, `${instanceId}@`);
      await multi.exec();
    },
  };
}
