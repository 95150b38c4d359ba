import { Injectable, type OnModuleInit } from '@nestjs/common';
import { PrismaService } from '../prisma/prisma.service';
import { JobQueue, QUEUE_NAME } from '../queue/job-queue';
import { AgentCommandQueue } from '../queue/agent-commands';
import { AgentGateway } from '../agents/agent.gateway';
import { StreamLimiter } from '../auth/stream-limiter';
import { ControllerMetrics, type GaugeSample } from '../metrics/controller-metrics';
import { PartitionService } from '../retention/partition.service';
import { JobStatus, JobType, RunStatus } from '../generated/prisma/enums';

const QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed'] as const;

/**
 * Rows counted by (key) from one grouped query, as gauge samples over every known combination (zeros
 * included, so a series never vanishes). Values outside the known ones (a newer schema) go to "other":
 * label values stay few whatever the table holds.
 */
export function countsByKnown(rows: { key: string[]; n: number }[], known: string[][], labelNames: string[]): GaugeSample[] {
  const byKey = new Map<string, GaugeSample>();
  const combos = known.reduce<string[][]>((acc, values) => acc.flatMap((prefix) => values.map((v) => [...prefix, v])), [[]]);
  for (const combo of combos) byKey.set(combo.join('\0'), { labels: Object.fromEntries(labelNames.map((l, i) => [l, combo[i]])), value: 0 });
  for (const row of rows) {
    const key = row.key.map((v, i) => (known[i].includes(v) ? v : 'other'));
    const k = key.join('\0');
    const at = byKey.get(k) ?? { labels: Object.fromEntries(labelNames.map((l, i) => [l, key[i]])), value: 0 };
    at.value += row.n;
    byKey.set(k, at);
  }
  return [...byKey.values()];
}

/** The job type as the API names it (cpu_profile → cpu-profile). */
const apiType = (t: string): string => t.replace(/_/g, '-');

/** The scrape-time gauges: each reads what its owner already holds (one grouped query for jobs and runs). */
@Injectable()
export class MetricsSources implements OnModuleInit {
  constructor(
    private readonly metrics: ControllerMetrics,
    private readonly prisma: PrismaService,
    private readonly jobQueue: JobQueue,
    private readonly commands: AgentCommandQueue,
    private readonly agents: AgentGateway,
    private readonly streams: StreamLimiter,
    private readonly partitions: PartitionService,
  ) {}

  onModuleInit(): void {
    const m = this.metrics;
    m.gauge('jobs', 'Jobs stored (all replicas), by type and status.', ['type', 'status'], async () => {
      const rows = await this.prisma.$queryRaw<{ type: string; status: string; n: number }[]>`SELECT "type"::text AS type, "status"::text AS status, count(*)::int AS n FROM "Job" GROUP BY 1, 2`;
      return countsByKnown(
        rows.map((r) => ({ key: [apiType(r.type), r.status], n: r.n })),
        [Object.values(JobType).map(apiType), Object.values(JobStatus)],
        ['type', 'status'],
      );
    });
    m.gauge('runs', 'Job runs stored (all replicas), by status.', ['status'], async () => {
      const rows = await this.prisma.$queryRaw<{ status: string; n: number }[]>`SELECT "status"::text AS status, count(*)::int AS n FROM "JobRun" GROUP BY 1`;
      return countsByKnown(rows.map((r) => ({ key: [r.status], n: r.n })), [Object.values(RunStatus)], ['status']);
    });
    m.gauge('store_gate_queued', 'Result stores waiting for a storage gate slot on this replica.', [], () => [{ value: this.prisma.storeGate.queued }]);
    m.gauge('store_gate_busy', 'Result stores holding a storage gate slot on this replica.', [], () => [{ value: this.prisma.storeGate.busy }]);
    m.gauge('store_gate_slots', 'Storage gate slots of this replica (TRACEFLEET_STORE_SLOTS, at most the pool size less the reserved connections).', [], () => [{ value: this.prisma.storeGate.slots }]);
    m.gauge('queue_jobs', 'BullMQ jobs by queue (jobs: the task queue; agent-commands: this replica\'s command queue) and state.', ['queue', 'state'], async () => {
      const [tasks, cmds] = await Promise.all([this.jobQueue.jobCounts(), this.commands.jobCounts()]);
      return [
        ...QUEUE_STATES.map((state) => ({ labels: { queue: QUEUE_NAME, state }, value: tasks[state] ?? 0 })),
        ...QUEUE_STATES.map((state) => ({ labels: { queue: 'agent-commands', state }, value: cmds[state] ?? 0 })),
      ];
    });
    m.gauge('table_partitions', 'Day partitions of each partitioned table (retention/partitions.ts; all replicas; read at most every 10 s).', ['table'], async () =>
      (await this.partitions.recentStats()).map((s) => ({ labels: { table: s.table }, value: s.partitions })),
    );
    m.gauge(
      'partition_default_rows',
      'Rows in the DEFAULT partition of each partitioned table: stored for a day that had no partition yet (moved into the day when it is made; read at most every 10 s).',
      ['table'],
      async () => (await this.partitions.recentStats()).map((s) => ({ labels: { table: s.table }, value: s.defaultRows })),
    );
    m.gauge('agents_connected', 'Agent sessions held by this replica.', [], () => [{ value: this.agents.connectedNodeNames().length }]);
    m.gauge('registrations_waiting', 'Agent registrations this replica has received and not yet recorded (recorded in batches: a fleet reconnecting at once waits here).', [], () => [
      { value: this.agents.registrationsWaiting },
    ]);
    m.gauge('ingest_inflight', 'Agent result messages this replica holds decoded and not yet stored (messages, wire bytes), its caps, sessions held back (at the cap, or while a command runs), and the times either held them.', ['what'], () => {
      const b = this.agents.budget;
      const f = b.inFlight;
      return [
        { labels: { what: 'messages' }, value: f.messages },
        { labels: { what: 'bytes' }, value: f.bytes },
        { labels: { what: 'max_messages' }, value: b.limits.maxMessages },
        { labels: { what: 'max_bytes' }, value: b.limits.maxBytes },
        { labels: { what: 'peak_messages' }, value: f.peakMessages },
        { labels: { what: 'peak_bytes' }, value: f.peakBytes },
        { labels: { what: 'sessions_held' }, value: f.held },
        { labels: { what: 'saturations' }, value: b.saturations },
        { labels: { what: 'command_holds' }, value: b.commandHolds },
        { labels: { what: 'command_holds_skipped' }, value: this.agents.holdDuty.skipped },
        { labels: { what: 'resumes_waiting' }, value: this.agents.resumesWaiting },
      ];
    });
    m.gauge('sse_streams_open', 'Event streams (text/event-stream) open on this replica.', [], () => [{ value: this.streams.total() }]);
    m.gauge('db_pool_connections', 'PostgreSQL pool of this process: total, idle, and requests waiting for a connection.', ['state'], () => [
      { labels: { state: 'total' }, value: this.prisma.pool.totalCount },
      { labels: { state: 'idle' }, value: this.prisma.pool.idleCount },
      { labels: { state: 'waiting' }, value: this.prisma.pool.waitingCount },
    ]);
  }
}
