import { JOB_TYPES } from '../jobs/dto/create-job.dto';
import { JobStatus, NodeStatus, ReportStatus, RunStatus } from '../generated/prisma/enums';
import { SPEEDSCOPE_SCHEMA } from '../profiles/speedscope/speedscope';
import { UNWIND_COUNTERS } from '../runs/unwind-stats';
import { arrayOf, bool, dateTime, decimal, int, mapOf, nullable, num, obj, ref, str, uuid, type Schema } from './build';
import { typeJobFields, typeRunFields, typeSchemas } from './type-parts';

const links = (description: string): Schema => mapOf(str(), `${description} Paths under /api/v1.`);
const counts = (names: string[]): Record<string, Schema> => Object.fromEntries(names.map((n) => [n, int()]));

/** The response shapes, from the views the controllers return (jobs/job.view.ts, nodes.service.ts, ...); each job type writes its own. */
export function viewSchemas(): Record<string, Schema> {
  const runFields = typeRunFields();
  const jobFields = typeJobFields();
  const sampleCounters = [
    'samplesTaken',
    'samplesDroppedKernel',
    'samplesDroppedAgent',
    'samplesLostTransit',
    'samplesStored',
  ];
  return {
    Error: obj(
      {
        statusCode: int(),
        message: { oneOf: [str(), arrayOf(str())], description: 'What was wrong; field errors name the field (`nodes.expressions[0].operator must be one of ...`).' },
        error: str('The status text, e.g. "Bad Request".'),
      },
      { optional: ['error'] },
    ),
    SelectionError: {
      allOf: [
        ref('Error'),
        obj({ skipped: arrayOf(ref('SkippedNode')) }, { description: 'Why each node the selector matched was not selected.', optional: ['skipped'] }),
      ],
    },
    SkippedNode: obj(
      { node: str(), code: str(undefined, { enum: ['unreachable', 'gone', 'capability', 'policy', 'unknown', 'limit', 'target'] }), reason: str() },
      { optional: ['code'] },
    ),
    Health: obj({ status: str(undefined, { const: 'ok' }), replicaId: str(), agentsConnected: int('Sessions held by this replica; GET /nodes shows the whole fleet.'), grpc: str('The gRPC address agents connect to.') }),
    HealthLive: obj({ status: str(undefined, { const: 'ok' }), replicaId: str() }),
    HealthReady: obj({
      status: str(undefined, { const: 'ok' }),
      replicaId: str(),
      checks: obj({ postgres: str('"ok", or why PostgreSQL did not answer SELECT 1 in time.'), redis: str('"ok", or why Redis did not answer PING in time.') }),
    }),
    Node: obj({
      id: uuid(),
      name: str(),
      labels: mapOf(str()),
      kernelRelease: str(),
      btf: bool(),
      cpus: int(),
      capabilities: arrayOf(str(), { description: 'The job types the agent can run there.' }),
      agentVersion: str(),
      policy: nullable(
        obj(
          {
            allowJobTypes: arrayOf(str()),
            allowSslCapture: bool(),
            allowRedactionOff: bool(),
            maxConcurrentRuns: int(),
            maxKernelMemoryBytes: int('Kernel memory the BPF maps of its running runs may take together, as the agent estimates them.'),
            maxDurationSec: int(),
          },
          { description: "The node's own policy (its agent's local file and environment): it refuses what is outside it, whatever it is sent. Null: its agent sent none." },
        ),
      ),
      status: str('As of now, from lastSeenAt.', { enum: Object.values(NodeStatus) }),
      statusReason: nullable(str()),
      statusChangedAt: nullable(dateTime()),
      connected: bool(),
      replicaId: nullable(str('The controller replica holding its session.')),
      sessionId: nullable(str()),
      connectedAt: nullable(dateTime()),
      lastSeenAt: dateTime('Last registration or heartbeat.'),
      batchesRefused: int('Agent messages refused for breaking a batch limit (events, strings, string length, stack depth, bytes per run).'),
      lastRefusal: nullable(str('The last refused message: its type, run, the limit and the value.')),
      lastRefusalAt: nullable(dateTime()),
      duplicatesRefused: int('Registrations refused because another agent instance (an orphan, a cloned VM) held its live session; that agent was told why and exits.'),
      lastDuplicate: nullable(str('The last such refusal.')),
      lastDuplicateAt: nullable(dateTime()),
    }),
    UsdtProbeList: obj({
      node: str(),
      probes: arrayOf(
        obj({
          provider: str(),
          name: str(),
          path: str(),
          fileOffset: str('Hex, e.g. 0x1a2b.'),
          semaphore: nullable(str('Hex address of the semaphore, when the probe has one.')),
          args: arrayOf(obj({ size: int('Bytes.'), signed: bool(), location: str('Assembler operand, e.g. -4@%eax.') })),
        }),
      ),
    }),
    Run: obj(
      {
        node: str(),
        status: str(undefined, { enum: Object.values(RunStatus) }),
        reason: nullable(str()),
        targetExited: bool(),
        ...counts(sampleCounters),
        batchesReceived: int(),
        seqGaps: int('Batches that did not follow the previous one: lost in transit.'),
        batchesNotStored: int('Batches that arrived but could not be stored after retries; their samples count as lost and the job is partial.'),
        storeError: nullable(str('The last storage error of such a batch.')),
        duplicatesDropped: int('Batches that arrived again after they were stored (the agent sends again what was not acknowledged when its link comes back): dropped, counted once.'),
        batchesSpooled: int("Result batches that waited in the agent's spool on disk while the controller could not be reached."),
        batchesOverflowed: int("Result batches the agent dropped because its spool was full (the oldest are kept); their samples count as lost."),
        unwind: nullable(
          obj(
            Object.fromEntries(Object.entries(UNWIND_COUNTERS).map(([k, description]) => [k, int(description)])),
            { description: "The agent's user-stack unwinding counters (RunFinished.unwind); null when the run took no user stacks." },
          ),
        ),
        attached: arrayOf(str()),
        startedAt: nullable(dateTime("The agent's STARTED time.")),
        finishedAt: nullable(dateTime()),
        ...runFields,
      },
      { optional: Object.keys(runFields) },
    ),
    Job: obj(
      {
        id: uuid(),
        type: str(undefined, { enum: [...JOB_TYPES] }),
        status: str('queued → running → completed, partial (some nodes failed), failed, or stopped (POST /jobs/{id}/stop: what the runs captured is kept).', { enum: Object.values(JobStatus) }),
        reason: nullable(str()),
        stoppedBy: nullable(str('The token (api or capture) that stopped the job with POST /jobs/{id}/stop.')),
        params: {
          type: 'object',
          description:
            'The validated, normalized request (defaults filled in), with the selection. `redactPatterns` only for a token with the ssl-capture scope; ' +
            'for any other token it is omitted and `redactPatternsHidden` (integer) gives how many patterns the job has.',
          properties: { redactPatterns: arrayOf(str(), { description: 'Only with the ssl-capture scope.' }), redactPatternsHidden: int('Without the ssl-capture scope: how many redactPatterns there are.') },
        },
        createdAt: dateTime(),
        startedAt: nullable(dateTime()),
        finishedAt: nullable(dateTime()),
        incidentId: nullable(uuid()),
        scheduleId: nullable(uuid()),
        startAt: nullable(dateTime('Common attach time of an incident\'s runs.')),
        selection: obj({ selector: {}, selected: arrayOf(str()), skipped: arrayOf(ref('SkippedNode')), skippedNotListed: int() }),
        totals: obj(counts(sampleCounters)),
        runs: arrayOf(ref('Run')),
        ...jobFields,
        links: links('Outputs of this job.'),
      },
      { optional: Object.keys(jobFields) },
    ),
    JobSummary: obj({
      id: uuid(),
      type: str(undefined, { enum: [...JOB_TYPES] }),
      status: str(undefined, { enum: Object.values(JobStatus) }),
      reason: nullable(str()),
      createdAt: dateTime(),
      startedAt: nullable(dateTime()),
      finishedAt: nullable(dateTime()),
      durationSec: int(),
      incidentId: nullable(uuid()),
      scheduleId: nullable(uuid()),
      nodes: arrayOf(str(), { description: 'The nodes it has runs on, by name.' }),
      runs: obj(counts(Object.values(RunStatus)), { description: 'Its runs by status.' }),
      links: obj({ self: str() }, { description: 'Paths under /api/v1; the outputs are in GET /jobs/{id}.' }),
    }),
    JobList: obj({
      jobs: arrayOf(ref('JobSummary'), { description: 'Newest first (createdAt, then id).' }),
      nextCursor: nullable(uuid('Pass as `before` for older jobs; null on the last page.')),
    }),
    // The job types' own views (their <type>.openapi.ts, through job-types/registry.ts).
    ...typeSchemas(),
    Speedscope: obj(
      {
        $schema: str(undefined, { const: SPEEDSCOPE_SCHEMA }),
        shared: obj({ frames: arrayOf(obj({ name: str() })) }),
        profiles: arrayOf(
          obj({
            type: str(undefined, { const: 'sampled' }),
            name: str(),
            unit: str('none: sample counts (cpu-profile); microseconds: blocked time (off-cpu).', { enum: ['none', 'microseconds'] }),
            startValue: num(),
            endValue: num(),
            samples: arrayOf(arrayOf(int()), { description: 'Frame indices, root first; one per distinct stack.' }),
            weights: arrayOf(num()),
          }),
        ),
        name: str(),
        activeProfileIndex: int(),
        exporter: str(),
      },
      { optional: ['name', 'activeProfileIndex', 'exporter'], description: `The speedscope file format (${SPEEDSCOPE_SCHEMA}).` },
    ),
    Incident: obj({
      id: uuid(),
      name: nullable(str()),
      status: str('running, then completed / partial / failed from its jobs.', { enum: ['running', 'completed', 'partial', 'failed'] }),
      scheduleId: nullable(uuid()),
      createdAt: dateTime(),
      startAt: dateTime('Creation + leadMs: when every run attaches.'),
      nodes: { description: 'The selector.' },
      startSkewMs: nullable(int('Latest minus earliest actual start over all runs.')),
      skew: obj({ earliest: nullable(dateTime()), latest: nullable(dateTime()), started: int(), runs: int(), maxDelayMs: nullable(int()) }),
      jobs: arrayOf(
        obj({
          id: uuid(),
          type: str(undefined, { enum: [...JOB_TYPES] }),
          status: str(undefined, { enum: Object.values(JobStatus) }),
          reason: nullable(str()),
          durationSec: int(),
          startSkewMs: nullable(int()),
          runs: arrayOf(
            obj({
              node: str(),
              status: str(undefined, { enum: Object.values(RunStatus) }),
              reason: nullable(str()),
              startedAt: nullable(dateTime()),
              startDelayMs: nullable(int('Actual start minus startAt.')),
              finishedAt: nullable(dateTime()),
              samplesStored: int(),
            }),
          ),
          links: links("The job's outputs."),
        }),
      ),
      byNode: mapOf(mapOf(str()), "Each node's run status per job id."),
      links: links("The incident's outputs."),
    }),
    IncidentList: obj({ incidents: arrayOf(ref('Incident')), nextCursor: nullable(uuid('Pass as `before` for older incidents.')) }),
    FunctionCount: obj({
      name: str(),
      self: int('Samples with the function as the leaf.'),
      total: int('Samples with the function anywhere on the stack.'),
      selfPct: num(),
      totalPct: num(),
    }),
    IncidentFunctions: obj({
      totalSamples: int(),
      nodeTotals: mapOf(int()),
      bySelf: arrayOf(ref('NodeFunctionCount')),
      byTotal: arrayOf(ref('NodeFunctionCount')),
    }),
    NodeFunctionCount: { allOf: [ref('FunctionCount'), obj({ byNode: mapOf(obj({ self: int(), total: int() })) })] },
    Schedule: obj({
      id: uuid(),
      name: nullable(str()),
      cron: nullable(str()),
      everyMs: nullable(int()),
      nodes: { description: 'The selector.' },
      bundle: arrayOf(
        {
          type: 'object',
          properties: { redactPatterns: arrayOf(str(), { description: 'Only with the ssl-capture scope.' }), redactPatternsHidden: int('Without the ssl-capture scope: how many redactPatterns there are.') },
        },
        { description: 'The job templates. `redactPatterns` only for a token with the ssl-capture scope; otherwise omitted, with `redactPatternsHidden` (a count).' },
      ),
      keepReports: int(),
      leadMs: int(),
      createdAt: dateTime(),
      ticks: int(),
      skippedTicks: int('Ticks skipped because the previous tick\'s jobs were still running.'),
      lastTickAt: nullable(dateTime()),
      nextRuns: arrayOf(dateTime(), { description: 'The next three fire times (UTC).' }),
      latestReport: nullable(obj({ id: uuid(), seq: int(), status: str(undefined, { enum: Object.values(ReportStatus) }), createdAt: dateTime() })),
      links: links('Its reports.'),
    }),
    AuditEntry: obj({
      id: decimal(),
      at: dateTime(),
      token: obj(
        {
          name: str('Which configured token: api (TRACEFLEET_API_TOKEN) or capture (TRACEFLEET_CAPTURE_TOKEN).', { enum: ['api', 'capture'] }),
          scopes: arrayOf(str()),
          fingerprint: str("First 16 hex digits of the token's SHA-256; the token itself is never stored.", { pattern: '^[0-9a-f]{16}$' }),
        },
        { description: 'Who: never the token.' },
      ),
      action: str('<target type>.<verb>: job.create, incident.create, schedule.create, schedule.delete, ssl.read, ssl.stream, audit.read.'),
      target: obj({ type: str(), id: nullable(str()) }),
      outcome: str('ok; denied (401/403); refused (other 4xx, e.g. 429 or a validation error); error (5xx).', { enum: ['ok', 'denied', 'refused', 'error'] }),
      status: int('The HTTP status answered.'),
      reason: nullable(str('The error message, at most 500 characters.')),
      method: str(),
      path: str('The request path, without its query.'),
      requestId: uuid('The X-Request-Id the controller answered with.'),
      remoteAddr: nullable(str('The peer address of the connection (a proxy in front shows as the proxy).')),
    }),
    AuditPage: obj({
      entries: arrayOf(ref('AuditEntry'), { description: 'Newest first (by time, then id).' }),
      nextCursor: nullable(str('Pass as before= for the next page (`<time in ms>-<id>`); null on a short page.', { pattern: '^[0-9]{1,15}-[0-9]{1,19}$' })),
    }),
    ScheduleDeleted: obj({ id: uuid(), deleted: { const: true }, reports: int('Reports deleted.'), incidents: int('Incidents deleted, with their jobs and results.') }),
    ReportSummary: obj({
      id: uuid(),
      scheduleId: uuid(),
      seq: int(),
      status: str('pending until the tick\'s jobs end.', { enum: Object.values(ReportStatus) }),
      reason: nullable(str()),
      createdAt: dateTime(),
      finishedAt: nullable(dateTime()),
      incidentId: nullable(uuid()),
      totalSamples: int(),
      nodeTotals: nullable(mapOf(int())),
      baseReportId: nullable(uuid('The previous ready report compared with.')),
      links: links("The report's outputs."),
    }),
    ReportList: obj({
      reports: arrayOf({ allOf: [ref('ReportSummary'), obj({ top: arrayOf(ref('FunctionCount'), { description: 'Top 5 functions by self samples.' }) })] }),
      nextCursor: nullable(str('A report seq: pass as `before` for older reports.')),
    }),
    Report: {
      allOf: [
        ref('ReportSummary'),
        obj({
          topFunctions: nullable(obj({ totalSamples: int(), bySelf: arrayOf(ref('FunctionCount')), byTotal: arrayOf(ref('FunctionCount')) })),
          diff: nullable(
            obj({
              baseReportId: uuid(),
              baseSeq: int(),
              baseTotal: int(),
              targetTotal: int(),
              grew: arrayOf(ref('FunctionChange')),
              shrank: arrayOf(ref('FunctionChange')),
            }),
          ),
        }),
      ],
    },
    FunctionChange: obj({
      name: str(),
      baseSelf: int(),
      targetSelf: int(),
      baseSelfPct: num(),
      targetSelfPct: num(),
      deltaPts: num('targetSelfPct − baseSelfPct, percentage points.'),
    }),
  };
}
