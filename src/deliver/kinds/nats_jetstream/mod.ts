/**
 * `{"kind": "nats-jetstream", "subject": "vk.{group_id}.{event_type}"}`: each event published
 * to a JetStream stream with `Nats-Msg-Id` = its event id, delivered once its PubAck came.
 * Configured by `NATS_URL` (see `connection.ts`); the doc is this folder's README.md.
 * @module
 */
import * as v from "valibot";
import { type BaseDestination, type ConnectionSpec, defineKind } from "../kind.ts";
import {
  configureNats,
  describeNats,
  NATS_VARIABLES,
  type NatsConfig,
  type NatsConn,
  natsSecrets,
  openNats,
} from "./connection.ts";
import { createNatsSink } from "./sink.ts";
import { missingStreamProblem, streamBacklog, streamCapturing } from "./stream.ts";
import { parseSubjectTemplate, subjectPattern, type SubjectTemplate } from "./subject.ts";

const NatsJetStreamSchema = v.strictObject({
  kind: v.literal("nats-jetstream"),
  subject: v.pipe(
    v.string(),
    v.nonEmpty("expected a subject such as vk.{group_id}.{event_type}"),
  ),
});

/** A JetStream destination: its subject template, parsed. */
export interface NatsJetStreamDestination extends BaseDestination<"nats-jetstream"> {
  subject: SubjectTemplate;
}

/** How long the start-up check waits for a server that is still connecting. */
const VERIFY_CONNECT_MS = 3_000;

/** The `nats` connection, shared by every JetStream destination. */
export const natsConnection: ConnectionSpec<NatsConfig, NatsConn> = {
  name: "nats",
  variables: NATS_VARIABLES,
  howToConfigure: "set NATS_URL to nats://[user:pass@]host:port",
  configure: configureNats,
  secrets: natsSecrets,
  describe: describeNats,
  open: (config) => openNats(config),
  close: (conn) => conn.close(),
  ready: (conn) => Promise.resolve(conn.state() && `NATS: ${conn.state()}`),
};

/** The kind. */
export const natsJetStreamKind = defineKind<
  "nats-jetstream",
  v.InferOutput<typeof NatsJetStreamSchema>,
  NatsJetStreamDestination,
  NatsConn
>({
  kind: "nats-jetstream",
  schema: NatsJetStreamSchema,
  connection: natsConnection,
  resolve(raw, { name, path, problems }) {
    const found: string[] = [];
    const subject = parseSubjectTemplate(raw.subject, found);
    for (const problem of found) problems.push(`${path}.subject: ${problem}`);
    return { kind: "nats-jetstream", name, subject };
  },
  secrets: () => [],
  check: () => [],
  /** A stream must capture every subject the template can produce. */
  async verify(d, conn) {
    if (!await conn.connected(VERIFY_CONNECT_MS)) throw new Error(`NATS: ${conn.state()}`);
    const pattern = subjectPattern(d.subject);
    try {
      return await streamCapturing(await conn.manager(), pattern)
        ? []
        : [missingStreamProblem(d.name, pattern)];
    } catch (error) {
      // A server that answers but has no JetStream will never take an event: a stop, not a warning.
      if (error instanceof Error && error.name === "JetStreamNotEnabled") {
        return [
          `NATS_URL: destination ${
            JSON.stringify(d.name)
          }: the server has JetStream disabled: start nats-server with -js (or jetstream {} in its configuration)`,
        ];
      }
      throw error;
    }
  },
  createSink: (d, context) =>
    createNatsSink({ name: d.name, subject: d.subject, conn: context.connection }),
  async backlog(d, conn) {
    const jsm = await conn.manager();
    const stream = await streamCapturing(jsm, subjectPattern(d.subject));
    return stream ? await streamBacklog(jsm, stream.config.name) : { depth: 0, oldestAgeS: null };
  },
});
