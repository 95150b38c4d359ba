import { PID_MAX } from '../common/job-params';
import { DiffQueryDto } from '../diff/dto/diff-query.dto';
import { IncidentProfileQueryDto, PageQueryDto } from '../incidents/dto/list-query.dto';
import { LIST_JOBS_DEFAULT_LIMIT, ListJobsQueryDto, TIME_RE } from '../jobs/dto/list-jobs.dto';
import { AUDIT_DEFAULT_LIMIT, AUDIT_MAX_LIMIT, AUDIT_OUTCOMES } from '../audit/audit-query';
import { DEFAULT_STREAMS_PER_TOKEN } from '../auth/stream-limiter';
import { PROGRESS_EVERY_MS, PROGRESS_POLL_MS } from '../jobs/job-progress';
import {
  errors,
  folded,
  jobId,
  jsonBody,
  nodeQuery,
  ok,
  op,
  pathParam,
  query,
  ref,
  svg,
  type Parameter,
  type PathItem,
} from './build';
import { fieldSchema } from './dto-schema';
import { flameGraphCounts, typeExamples, typePaths } from './type-parts';
import { sessionPaths } from './paths-session';

const dtoQuery = (dto: Function, name: string, description: string, required = false): Parameter => query(name, description, fieldSchema(dto, name), required);

const profileTag = ['profiles'];
const originQueries = [
  query('container', 'Only the samples of this container: its id or a prefix of it (4 to 64 lowercase hex digits).', { type: 'string', pattern: '^[0-9a-f]{4,64}$' }),
  query('cgroup', 'Only the samples of this cgroup and the cgroups below it (an absolute cgroup path).', { type: 'string', maxLength: 4096 }),
];
const groupByQuery = query('groupBy', 'One root frame per container, pod or cgroup above its stacks.', { type: 'string', enum: ['container', 'pod', 'cgroup'] });
const incidentId = pathParam('id', 'Incident id (UUID).', { type: 'string', format: 'uuid' });
const scheduleId = pathParam('id', 'Schedule id (UUID).', { type: 'string', format: 'uuid' });
const reportId = pathParam('reportId', 'Report id (UUID) of this schedule.', { type: 'string', format: 'uuid' });
const incidentProfileQuery = [
  dtoQuery(IncidentProfileQueryDto, 'node', 'Only this node.'),
  dtoQuery(IncidentProfileQueryDto, 'job', 'Only this cpu-profile job of the incident.'),
];
const pageQuery = (what: string): Parameter[] => [
  { ...dtoQuery(PageQueryDto, 'limit', `${what} per page.`), schema: { ...fieldSchema(PageQueryDto, 'limit'), default: 20 } },
  dtoQuery(PageQueryDto, 'before', 'The nextCursor of the previous page.'),
];
const jobTime = (name: string, description: string): Parameter =>
  query(name, `${description} An ISO 8601 date (UTC midnight) or date-time with its zone.`, { type: 'string', pattern: TIME_RE.source, example: '2026-12-03T20:00:00Z' });
const jobListQuery = [
  dtoQuery(ListJobsQueryDto, 'status', 'Only jobs in this state.'),
  dtoQuery(ListJobsQueryDto, 'type', 'Only jobs of this type.'),
  dtoQuery(ListJobsQueryDto, 'node', 'Only jobs with a run on this node.'),
  dtoQuery(ListJobsQueryDto, 'incident', 'Only the jobs of this incident.'),
  dtoQuery(ListJobsQueryDto, 'schedule', 'Only the jobs this schedule\'s ticks created.'),
  jobTime('createdAfter', 'Only jobs created strictly after this time.'),
  jobTime('createdBefore', 'Only jobs created strictly before this time.'),
  { ...dtoQuery(ListJobsQueryDto, 'limit', 'Jobs per page.'), schema: { ...fieldSchema(ListJobsQueryDto, 'limit'), default: LIST_JOBS_DEFAULT_LIMIT } },
  dtoQuery(ListJobsQueryDto, 'before', 'The nextCursor of the previous page.'),
];

const sslStacks = { scope: 'ssl-capture' as const, when: 'the job is ssl-capture (its stacks are stacks of captured TLS calls)' };

/** Every REST route under /api/v1, keyed by OpenAPI path (openapi.spec.ts checks this against Nest's routes). */

/** The heavy profile reads (profiles/read-gate.ts): a full line of them on the replica. */
const readsBusy = {
  '503': {
    description: 'This replica is already serving its large profile reads (2 at once, 8 waiting): retry after the `Retry-After` seconds.',
    headers: { 'Retry-After': { description: 'Seconds to wait.', schema: { type: 'integer' } } },
    content: { 'application/json': { schema: { type: 'object' } } },
  },
};
const INCIDENT_TOO_LARGE = ' A read that would fold more call paths than one read may hold (500,000 trie nodes; per node 200,000 stacks) is a 422 that says to narrow it with `?node=` or `?job=`.';
const TOO_LARGE = ' A read that would fold more call paths than one read may hold (500,000 trie nodes; per node 200,000 stacks) is a 422 that says to narrow it with `?node=`, `?container=` or `?cgroup=`.';

export function paths(): Record<string, PathItem> {
  return {
    // The web console's sign-in and sign-out (paths-session.ts).
    ...sessionPaths(),
    '/health': {
      get: op('public', { operationId: 'health', summary: 'Readiness: PostgreSQL answers; this replica\'s id and agent sessions', tags: ['meta'], responses: ok('Ready.', ref('Health')) }),
    },
    '/health/live': {
      get: op('public', { operationId: 'healthLive', summary: 'Liveness: this process answers HTTP (nothing else is asked)', tags: ['meta'], responses: ok('Up.', ref('HealthLive')) }),
    },
    '/health/ready': {
      get: op('public', {
        operationId: 'healthReady',
        summary: 'Readiness: PostgreSQL answers SELECT 1 and Redis answers PING, each within 2 s',
        tags: ['meta'],
        responses: {
          ...ok('Ready.', ref('HealthReady')),
          '503': { description: 'Not ready: `message` names what did not answer, `checks` holds each answer.', content: { 'application/json': { schema: { type: 'object' } } } },
        },
      }),
    },
    '/openapi.json': {
      get: op('public', { operationId: 'openapi', summary: 'This document', tags: ['meta'], responses: ok('OpenAPI 3.1.', { type: 'object' }) }),
    },
    '/nodes': {
      get: op('token', {
        operationId: 'listNodes',
        summary: 'The fleet, from any replica',
        tags: ['nodes'],
        parameters: [
          query('status', 'Comma-separated states: connected, unreachable, gone.', { type: 'string', example: 'connected' }),
          query('labelSelector', 'Kubernetes syntax: env=prod,zone in (a,b),tier!=db,!canary,gpu.', { type: 'string', maxLength: 4096 }),
          query('capability', 'Nodes that can run this job type.', { type: 'string', example: 'cpu-profile' }),
          query('namePrefix', 'Names starting with this.', { type: 'string', maxLength: 63, pattern: '^[A-Za-z0-9._/-]*$' }),
        ],
        responses: { ...ok('Nodes by name.', { type: 'array', items: ref('Node') }), ...errors(400) },
      }),
    },
    '/nodes/{name}': {
      get: op('token', { operationId: 'getNode', summary: 'One node', tags: ['nodes'], parameters: [pathParam('name', 'Node name.')], responses: { ...ok('The node.', ref('Node')), ...errors(404) } }),
    },
    '/nodes/{name}/usdt': {
      get: op('token', {
        operationId: 'listNodeUsdtProbes',
        summary: 'USDT probes the node finds in a binary or in a process',
        description: 'Asked on the agent\'s stream (through its replica). 404 when the node is not connected; 422 when it does not answer within 15 s or reports an error.',
        tags: ['nodes', 'usdt'],
        parameters: [
          pathParam('name', 'Node name.'),
          query('binary', 'Absolute path of an ELF file. Exactly one of binary and pid.', { type: 'string', pattern: '^/', maxLength: 4096 }),
          query('pid', "A process: its executable and mapped libraries. Exactly one of binary and pid.", { type: 'integer', minimum: 1, maximum: PID_MAX }),
        ],
        responses: { ...ok('Probes with file offsets, semaphores and argument specs.', ref('UsdtProbeList')), ...errors(400, 404, 422) },
      }),
    },
    '/jobs': {
      post: op(
        { scope: 'ssl-capture', when: 'the body\'s type is ssl-capture (decided before validation)' },
        {
          operationId: 'createJob',
          summary: 'Start a tracing job on the selected nodes',
          description:
            'Validates the request (400 naming the field), selects nodes (422 with the reason and `skipped` when none can run it), checks a pid target on them (400 when it exists on none), stores the job and one run per node, and dispatches. ssl-capture needs the ssl-capture scope (403).',
          tags: ['jobs'],
          requestBody: jsonBody(ref('JobRequest'), typeExamples()),
          responses: {
            ...ok('Created: the job, queued, with its selection.', ref('Job'), undefined, '201'),
            ...errors(400),
            '422': { description: 'No node can run it: the reason, and why each matched node was skipped.', content: { 'application/json': { schema: ref('SelectionError') } } },
          },
        },
      ),
      get: op('token', {
        operationId: 'listJobs',
        summary: 'Jobs, newest first, by state, type, node, incident, schedule or creation time',
        description:
          'Filters are ANDed; unknown parameters are a 400. Ordered by createdAt, then id, both descending: paging with `before` neither skips nor repeats jobs created in the same millisecond. ' +
          'A `before` that names no job (deleted by retention since) is a 404. Summaries carry no params: GET /jobs/{id} has them, for either token.',
        tags: ['jobs'],
        parameters: jobListQuery,
        responses: { ...ok('A page.', ref('JobList')), ...errors(400, 404) },
      }),
    },
    '/jobs/{id}': {
      get: op('token', {
        operationId: 'getJob',
        summary: 'Status, per-node runs and counters, selection, links',
        description: 'Either token. `params.redactPatterns` only with the ssl-capture scope; otherwise omitted, with `params.redactPatternsHidden` (a count).',
        tags: ['jobs'],
        parameters: [jobId],
        responses: { ...ok('The job.', ref('Job')), ...errors(404) },
      }),
    },
    '/jobs/{id}/stop': {
      post: op('token', {
        operationId: 'stopJob',
        summary: 'Stop a job: its runs end now and keep what they captured',
        description:
          'Either token. Each running run is told to end now; its agent finishes it with what it captured. A run not yet started fails as stopped. ' +
          'The job ends `stopped`, with `stoppedBy`, once its runs have ended. Asking again changes nothing; a job that has ended answers 409.',
        tags: ['jobs'],
        parameters: [jobId],
        responses: { '202': { description: 'The job as it is (still running until its runs have ended).', content: { 'application/json': { schema: ref('Job') } } }, ...errors(404, 409) },
      }),
    },
    '/jobs/{id}/progress': {
      get: op('token', {
        operationId: 'jobProgress',
        summary: 'Server-Sent Events: a job\'s progress while it runs, then how it ended',
        description:
          'Either token, any job type: progress carries counters, never captured content nor params. A `retry:` line, then `event: progress` at once, ' +
          `on every change the controller sees (it reads PostgreSQL every ${PROGRESS_POLL_MS} ms, so any replica serves it) and at least every ${PROGRESS_EVERY_MS} ms while the job runs. ` +
          'Its data is one JSON object: {id, type, status, reason, stoppedBy, createdAt, startedAt, finishedAt, elapsedSec (since startAt, else startedAt; null before), ' +
          'remainingSec (of durationSec; null before the start and once ended), totals {samplesTaken, samplesStored, samplesDroppedKernel, samplesDroppedAgent, samplesLostTransit}, ' +
          'nodes [{node, status, reason, samplesTaken, samplesStored, dropped (kernel + agent + lost in transit), batchesReceived, startedAt, finishedAt, and the counters the job type adds to its runs: ssl {eventsSeen, eventsSent, eventsStored, ...}}]}. ' +
          'Once the job has ended: a last `event: progress` with the final numbers, `event: status` (data: {"status","reason","finishedAt"}), and the stream ends; ' +
          'a job deleted meanwhile ends it with status `deleted`. An EventSource reconnects after a stream ends: close it on `status`. ' +
          `An id that is not a UUID is a 400, no such job a 404, both before the stream starts. One token may hold at most TRACEFLEET_SSE_STREAMS_PER_TOKEN event streams open at once (default ${DEFAULT_STREAMS_PER_TOKEN}, on each replica, ssl-events streams included): past it 429.`,
        tags: ['jobs'],
        parameters: [pathParam('id', 'Job id (UUID); anything else is a 400.', { type: 'string', format: 'uuid' })],
        responses: { ...ok('The event stream.', { type: 'string' }, 'text/event-stream'), ...errors(400, 404, 429) },
      }),
    },
    '/jobs/{id}/flamegraph.svg': {
      get: op(sslStacks, {
        operationId: 'jobFlameGraphSvg',
        summary: 'Interactive flame graph of a job',
        description: flameGraphCounts() + TOO_LARGE,
        tags: profileTag,
        parameters: [jobId, nodeQuery, ...originQueries, groupByQuery],
        responses: { ...svg('The flame graph.'), ...errors(400, 404, 422), ...readsBusy },
      }),
    },
    '/jobs/{id}/flamegraph.folded': {
      get: op(sslStacks, {
        operationId: 'jobFolded',
        summary: 'Folded stacks of a job',
        description: `Written as it is produced (no Content-Length).${TOO_LARGE}`,
        tags: profileTag,
        parameters: [jobId, nodeQuery, ...originQueries, groupByQuery],
        responses: { ...folded('Folded stacks.'), ...errors(400, 404, 422), ...readsBusy },
      }),
    },
    '/jobs/{id}/profile.pprof': {
      get: op('token', {
        operationId: 'jobPprof',
        summary: 'Gzipped pprof of a cpu-profile job (samples) or an off-cpu job (off_cpu/microseconds)',
        description:
          'Sample types samples/count and cpu/nanoseconds (off-cpu: off_cpu/microseconds only); each sample labelled `node` and, where the agent knew them, `cgroup`, `container` and `pod_uid`. Another job type, or no samples yet: 422. Written node by node as it is read; a node past the per-node cap after the first bytes cuts the transfer (the gzip stream is then incomplete).' + TOO_LARGE,
        tags: profileTag,
        parameters: [jobId, nodeQuery, ...originQueries],
        responses: { ...ok('profile.proto, gzipped (an attachment).', { type: 'string', format: 'binary' }, 'application/octet-stream'), ...errors(400, 404, 422), ...readsBusy },
      }),
    },
    '/jobs/{id}/profile.speedscope.json': {
      get: op('token', {
        operationId: 'jobSpeedscope',
        summary: 'speedscope file of a cpu-profile job (samples) or an off-cpu job (weights in microseconds)',
        description: 'One sampled profile per node, preceded by all nodes merged when there are several. Another job type, or no samples yet: 422.' + TOO_LARGE,
        tags: profileTag,
        parameters: [jobId, nodeQuery, ...originQueries],
        responses: { ...ok('A speedscope file.', ref('Speedscope')), ...errors(400, 404, 422), ...readsBusy },
      }),
    },
    '/diff/flamegraph.svg': {
      get: op('token', {
        operationId: 'diffFlameGraphSvg',
        summary: 'Differential flame graph of two cpu-profile jobs',
        description: "The target's stacks; red where a frame's share of samples grew since the base, blue where it shrank. Each side is read as a job's merged flame graph is." + TOO_LARGE,
        tags: profileTag,
        parameters: diffQuery(),
        responses: { ...svg('The differential flame graph.'), ...errors(400, 404, 422), ...readsBusy },
      }),
    },
    '/diff/flamegraph.folded': {
      get: op('token', {
        operationId: 'diffFolded',
        summary: 'Both sides\' counts per path (difffolded.pl format)',
        tags: profileTag,
        parameters: diffQuery(),
        responses: { ...ok('`path base_count target_count` per line.', { type: 'string' }, 'text/plain'), ...errors(400, 404, 422), ...readsBusy },
      }),
    },
    // The job types' own read routes (their <type>.openapi.ts, through job-types/registry.ts).
    ...typePaths(),
    '/incidents': {
      post: op(
        { scope: 'ssl-capture', when: 'a template of the bundle is ssl-capture' },
        {
          operationId: 'createIncident',
          summary: 'Start several jobs together on every selected node',
          description: 'Every template is planned (fields, scope, nodes, a pid target\'s existence) before any job is created: any 4xx refuses the whole incident, naming the template.',
          tags: ['incidents'],
          requestBody: jsonBody(ref('IncidentRequest')),
          responses: { ...ok('Created.', ref('Incident'), undefined, '201'), ...errors(400, 422) },
        },
      ),
      get: op('token', { operationId: 'listIncidents', summary: 'Incidents, newest first', tags: ['incidents'], parameters: pageQuery('Incidents'), responses: { ...ok('A page.', ref('IncidentList')), ...errors(400, 404) } }),
    },
    '/incidents/{id}': {
      get: op('token', { operationId: 'getIncident', summary: 'Status, jobs and runs, start skew', tags: ['incidents'], parameters: [incidentId], responses: { ...ok('The incident.', ref('Incident')), ...errors(404) } }),
    },
    '/incidents/{id}/flamegraph.svg': {
      get: op('token', {
        operationId: 'incidentFlameGraphSvg',
        summary: 'The cpu-profile jobs merged over nodes; tooltips give each node\'s count',
        description: `Read through cursors, a chunk at a time, as a job's merged flame graph is.${INCIDENT_TOO_LARGE}`,
        tags: ['incidents', 'profiles'],
        parameters: [incidentId, ...incidentProfileQuery],
        responses: { ...svg('The flame graph.'), ...errors(400, 404, 422), ...readsBusy },
      }),
    },
    '/incidents/{id}/flamegraph.folded': {
      get: op('token', {
        operationId: 'incidentFolded',
        summary: 'The incident\'s merged cpu-profile, folded',
        tags: ['incidents', 'profiles'],
        parameters: [incidentId, ...incidentProfileQuery],
        responses: { ...folded('Folded stacks.'), ...errors(400, 404, 422), ...readsBusy },
      }),
    },
    '/incidents/{id}/functions': {
      get: op('token', {
        operationId: 'incidentFunctions',
        summary: 'Top functions by self and total samples, with each node\'s counts',
        tags: ['incidents', 'profiles'],
        parameters: [incidentId, ...incidentProfileQuery, { ...dtoQuery(IncidentProfileQueryDto, 'limit', 'Functions listed.'), schema: { ...fieldSchema(IncidentProfileQueryDto, 'limit'), default: 20 } }],
        responses: { ...ok('Top functions.', ref('IncidentFunctions')), ...errors(400, 404, 422), ...readsBusy },
      }),
    },
    '/schedules': {
      post: op(
        { scope: 'ssl-capture', when: 'the job or a template of the bundle is ssl-capture' },
        {
          operationId: 'createSchedule',
          summary: 'Run an incident on a cron pattern or an interval, with a report per tick',
          description: 'Templates are planned now as POST /jobs would (a selector matching no node now is a 422) and again at every tick.',
          tags: ['schedules'],
          requestBody: jsonBody(ref('ScheduleRequest')),
          responses: { ...ok('Created.', ref('Schedule'), undefined, '201'), ...errors(400, 422) },
        },
      ),
      get: op('token', { operationId: 'listSchedules', summary: 'Schedules with ticks, next fire times and the latest report', tags: ['schedules'], responses: ok('All schedules.', { type: 'array', items: ref('Schedule') }) }),
    },
    '/schedules/{id}': {
      get: op('token', { operationId: 'getSchedule', summary: 'One schedule', tags: ['schedules'], parameters: [scheduleId], responses: { ...ok('The schedule.', ref('Schedule')), ...errors(404) } }),
      delete: op({ scope: 'ssl-capture', when: 'the schedule has an ssl-capture job, or one of its ticks produced ssl-capture data (it deletes that data)' }, {
        operationId: 'deleteSchedule',
        summary: 'Stop a schedule and delete it with its reports and the incidents of its ticks',
        description: 'Audited (schedule.delete), including a 403.',
        tags: ['schedules'],
        parameters: [scheduleId],
        responses: { ...ok('Deleted.', ref('ScheduleDeleted')), ...errors(404) },
      }),
    },
    '/schedules/{id}/reports': {
      get: op('token', {
        operationId: 'listReports',
        summary: 'Reports, newest first, each with its top 5 functions',
        tags: ['schedules'],
        parameters: [scheduleId, ...pageQuery('Reports')],
        responses: { ...ok('A page.', ref('ReportList')), ...errors(400, 404, 422) },
      }),
    },
    '/schedules/{id}/reports/{reportId}': {
      get: op('token', {
        operationId: 'getReport',
        summary: 'A tick\'s report: top functions, node totals, diff against the previous ready report',
        tags: ['schedules'],
        parameters: [scheduleId, reportId],
        responses: { ...ok('The report.', ref('Report')), ...errors(404) },
      }),
    },
    '/schedules/{id}/reports/{reportId}/flamegraph.svg': {
      get: op('token', { operationId: 'reportFlameGraphSvg', summary: 'The tick\'s merged cpu-profile', tags: ['schedules', 'profiles'], parameters: [scheduleId, reportId], responses: { ...svg('The flame graph.'), ...errors(404, 422) } }),
    },
    '/schedules/{id}/reports/{reportId}/flamegraph.folded': {
      get: op('token', { operationId: 'reportFolded', summary: 'The tick\'s merged cpu-profile, folded', tags: ['schedules', 'profiles'], parameters: [scheduleId, reportId], responses: { ...folded('Folded stacks.'), ...errors(404, 422) } }),
    },
    '/schedules/{id}/reports/{reportId}/diff.svg': {
      get: op('token', {
        operationId: 'reportDiffSvg',
        summary: 'Differential flame graph against the base report (422 for the first report)',
        tags: ['schedules', 'profiles'],
        parameters: [scheduleId, reportId],
        responses: { ...svg('The differential flame graph.'), ...errors(404, 422) },
      }),
    },
    '/audit': {
      get: op('ssl-capture', {
        operationId: 'listAudit',
        summary: 'The audit log, newest first',
        description:
          'One entry per call of an audited route (job.create, incident.create, schedule.create, schedule.delete, ssl.read, ssl.stream, audit.read): ' +
          'when, which token (its name, scopes and SHA-256 fingerprint, never the token), the target, the outcome and status, the request id and peer address. ' +
          '403s are recorded; 401s (no identity) are not. Kept TRACEFLEET_AUDIT_RETENTION_DAYS (default 365). Unknown parameters are a 400.',
        tags: ['audit'],
        parameters: [
          query('since', 'Entries at or after this time.', { type: 'string', format: 'date-time' }),
          query('action', 'An action (schedule.delete), or every action under a prefix ending with a dot (schedule.).', { type: 'string', maxLength: 131 }),
          query('target', 'A target type (schedule) or type:id (schedule:<uuid>).', { type: 'string', maxLength: 161 }),
          query('outcome', 'Only this outcome.', { type: 'string', enum: [...AUDIT_OUTCOMES] }),
          query('token', 'A token fingerprint (16 hex digits).', { type: 'string', pattern: '^[0-9a-f]{16}$' }),
          query('limit', 'Entries per page.', { type: 'integer', minimum: 1, maximum: AUDIT_MAX_LIMIT, default: AUDIT_DEFAULT_LIMIT }),
          query('before', 'The nextCursor of the previous page.', { type: 'string', pattern: '^[0-9]{1,15}-[0-9]{1,19}$' }),
        ],
        responses: { ...ok('A page of entries.', ref('AuditPage')), ...errors(400) },
      }),
    },
  };
}

function diffQuery(): Parameter[] {
  return [
    dtoQuery(DiffQueryDto, 'base', 'The base job (UUID).', true),
    dtoQuery(DiffQueryDto, 'target', 'The target job (UUID).', true),
    dtoQuery(DiffQueryDto, 'baseNode', "Only this node's samples of the base job."),
    dtoQuery(DiffQueryDto, 'targetNode', "Only this node's samples of the target job."),
  ];
}
