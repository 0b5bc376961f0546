/**
 * `{"kind": "nats-jetstream", "subject": "vk.{group_id}.{event_type}"}`: each event published
 * to a JetStream stream with `Nats-Msg-Id` = its event id, delivered once its PubAck came.
 * Configured by `NATS_URL` (see `connection.ts`); the doc is this folder's README.md.
 * @module
 */
import * as v from "valibot";
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
export interface NatsJetStreamDestination {
  kind: "nats-jetstream";
  name: string;
  subject: SubjectTemplate;
}

/** How long the start-up check waits for a server that is still connecting. */
const VERIFY_CONNECT_MS = 3_000;

/** The `nats` connection, shared by every JetStream destination. */
export const natsConnection = {
  name: "nats",
  variables: NATS_VARIABLES,
  configure: configureNats,
  secrets: natsSecrets,
  describe: describeNats,
  open: (config: NatsConfig) => openNats(config),
  close: (conn: NatsConn) => conn.close(),
  ready: (conn: NatsConn) => Promise.resolve(conn.state() && `NATS: ${conn.state()}`),
};

/** The kind. */
export const natsJetStreamKind = {
  kind: "nats-jetstream" as const,
  schema: NatsJetStreamSchema,
  connection: natsConnection,
  resolve(
    raw: v.InferOutput<typeof NatsJetStreamSchema>,
    { name, path, problems }: { name: string; path: string; problems: string[] },
  ): NatsJetStreamDestination {
    const found: string[] = [];
    const subject = parseSubjectTemplate(raw.subject, found);
    for (const problem of found) problems.push(`${path}.subject: ${problem}`);
    return { kind: "nats-jetstream", name, subject };
  },
  secrets: () => [],
  check: () => [],
  /** A stream must capture every subject the template can produce. */
  async verify(d: NatsJetStreamDestination, conn: NatsConn): Promise<string[]> {
    if (!await conn.connected(VERIFY_CONNECT_MS)) throw new Error(`NATS: ${conn.state()}`);
    const pattern = subjectPattern(d.subject);
    return await streamCapturing(await conn.manager(), pattern)
      ? []
      : [missingStreamProblem(d.name, pattern)];
  },
  createSink: (d: NatsJetStreamDestination, context: { connection: NatsConn }) =>
    createNatsSink({ name: d.name, subject: d.subject, conn: context.connection }),
  async backlog(d: NatsJetStreamDestination, conn: NatsConn) {
    const jsm = await conn.manager();
    const stream = await streamCapturing(jsm, subjectPattern(d.subject));
    return stream ? await streamBacklog(jsm, stream.config.name) : { depth: 0, oldestAgeS: null };
  },
};
