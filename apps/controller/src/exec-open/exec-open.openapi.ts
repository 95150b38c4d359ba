import { arrayOf, bool, decimal, errors, int, jobId, nullable, obj, ok, op, query, ref, str, TEXT_TYPE, uuid, type JobTypeOpenApi, type Parameter } from '../common/openapi-build';

const counters = obj({
  execs: decimal('Execs that returned and passed the filters.'),
  opens: decimal('Opens that returned and passed the filters.'),
  streamed: decimal('Of those, sent to the controller.'),
  noStart: decimal('Calls not followed: the kernel map of calls in progress was full.'),
  overBudget: decimal('Events past maxEvents: counted, not kept.'),
  dropped: decimal('Events lost: ring buffer or agent queue full.'),
});

const filters: Parameter[] = [
  jobId,
  query('node', 'Only this node (counters and events).'),
  query('pid', 'Only events of this pid.', { type: 'integer', minimum: 1 }),
  query('comm', 'Only events of this comm (exact, 1..15 bytes).', { type: 'string', minLength: 1, maxLength: 15 }),
  query('kind', 'Only execs or only opens.', { type: 'string', enum: ['exec', 'open'] }),
  query('failed', 'true: only calls that returned an error; false: only those that succeeded.', { type: 'string', enum: ['true', 'false'] }),
  query('path', 'Only events whose path (file name or opened path) contains this.', { type: 'string', minLength: 1, maxLength: 1024 }),
  query('limit', 'Events per page (default 100).', { type: 'integer', minimum: 1, maximum: 1000 }),
  query('after', "The previous page's next.", { type: 'string', pattern: '^[0-9]{1,18}$' }),
];

/** The exec-open job type's part of the OpenAPI document: its tag, a request example, its read routes and their views. */
export const EXEC_OPEN_OPENAPI: JobTypeOpenApi = {
  tag: 'Execs (execsnoop) and opens (opensnoop).',
  example: { summary: 'Failed execs and opens of every process for 10 s on every node', value: { type: 'exec-open', durationSec: 10, target: { all: true }, failedOnly: true, nodes: 'all' } },
  paths: {
    '/jobs/{id}/exec-open': {
      get: op('token', {
        operationId: 'execOpenResults',
        summary: 'Exec-open: counters merged and per node, and a page of the matching execs and opens',
        tags: ['exec-open'],
        parameters: filters,
        responses: { ...ok('Results.', ref('ExecOpenResults')), ...errors(400, 404) },
      }),
    },
    '/jobs/{id}/exec-open.txt': {
      get: op('token', {
        operationId: 'execOpenText',
        summary: "A page of events in the classic columns, a NODE column first: execs as execsnoop's (PCOMM PID PPID RET ARGS), opens as opensnoop's (PID COMM FD ERR PATH)",
        tags: ['exec-open'],
        parameters: filters,
        responses: { ...ok('Text.', str(), TEXT_TYPE), ...errors(400, 404) },
      }),
    },
  },
  schemas: {
    ExecOpenResults: obj({
      jobId: uuid(),
      counters,
      nodes: arrayOf(obj({ node: str(), status: str(), reported: bool('The agent sent its counters (at the end of its run).'), counters })),
      matching: int('Stored events that match the filters, whatever the page.'),
      events: arrayOf(
        obj({
          id: decimal(),
          node: str(),
          kind: str('exec or open.'),
          syscall: str('execve, execveat, open, openat or openat2.'),
          pid: int(),
          tid: int(),
          ppid: int(),
          uid: decimal(),
          comm: str('At the return: a successful exec shows the new program.'),
          ret: int('0 or an fd, or -errno.'),
          tsNs: decimal('CLOCK_MONOTONIC on the node, at the return.'),
          dfd: int('The directory fd of openat, openat2 and execveat; -100 (AT_FDCWD) otherwise.'),
          path: str('The file name executed or the path opened, as passed; control bytes escaped as \\xNN, a backslash doubled.'),
          args: nullable(arrayOf(str(), { description: 'exec: argv (at most 20 arguments of 127 bytes).' })),
          flags: nullable(decimal('open: the flags.')),
          mode: nullable(decimal('open: the mode.')),
          truncated: bool('An argument or the path was cut, argv had more arguments, or a read of the process failed.'),
        }),
      ),
      next: nullable(decimal('Pass as ?after= for the next page.')),
    }),
  },
};
