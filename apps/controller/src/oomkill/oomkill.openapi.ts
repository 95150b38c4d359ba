import { arrayOf, bool, decimal, errors, int, jobId, nullable, obj, ok, op, query, ref, str, TEXT_TYPE, uuid, type JobTypeOpenApi, type Parameter } from '../common/openapi-build';

const counters = obj({
  kills: decimal('Kills whose victim passed the filters.'),
  streamed: decimal('Of those, sent to the controller.'),
  overBudget: decimal('Kills past maxEvents: counted, not kept.'),
  dropped: decimal('Kills lost: ring buffer or agent queue full.'),
});

const filters: Parameter[] = [
  jobId,
  query('node', 'Only this node (counters and kills).'),
  query('pid', 'Only kills of this victim pid.', { type: 'integer', minimum: 1 }),
  query('comm', "Only kills of a victim with this comm (exact, 1..15 bytes).", { type: 'string', minLength: 1, maxLength: 15 }),
  query('limit', 'Kills per page (default 100).', { type: 'integer', minimum: 1, maximum: 1000 }),
  query('after', "The previous page's next.", { type: 'string', pattern: '^[0-9]{1,18}$' }),
];

/** The oomkill job type's part of the OpenAPI document: its tag, a request example, its read routes and their views. */
export const OOMKILL_OPENAPI: JobTypeOpenApi = {
  tag: 'OOM kills (oomkill): the victim, the trigger and memory figures.',
  example: { summary: 'OOM kills on every node for 10 minutes', value: { type: 'oomkill', durationSec: 600, target: { all: true }, nodes: 'all' } },
  paths: {
    '/jobs/{id}/oomkill': {
      get: op('token', {
        operationId: 'oomkillResults',
        summary: 'OOM kills: counters merged and per node, and a page of kills (oldest first)',
        tags: ['oomkill'],
        parameters: filters,
        responses: { ...ok('Results.', ref('OomkillResults')), ...errors(400, 404) },
      }),
    },
    '/jobs/{id}/oomkill.txt': {
      get: op('token', {
        operationId: 'oomkillText',
        summary: "A page of kills in libbpf-tools oomkill's line (a NODE column first; pages: the victim's RSS)",
        tags: ['oomkill'],
        parameters: filters,
        responses: { ...ok('Text.', str(), TEXT_TYPE), ...errors(400, 404) },
      }),
    },
  },
  schemas: {
    OomkillResults: obj({
      jobId: uuid(),
      totals: obj({ merged: counters, nodes: arrayOf(obj({ node: str(), status: str(), reported: bool('The agent sent its report (at the end of its run).'), counters })) }),
      count: int('Stored kills that match the filters.'),
      kills: arrayOf(
        obj({
          id: decimal(),
          node: str(),
          time: str("The agent's wall clock when it got the kill (ISO 8601)."),
          tsNs: decimal('CLOCK_MONOTONIC on the node when the victim was marked.'),
          victimPid: int(),
          victimComm: str(),
          triggerPid: int('The task whose allocation or memory-cgroup charge ran out (tgid).'),
          triggerTid: int(),
          triggerComm: str(),
          uid: int("The victim's uid."),
          oomScoreAdj: int(),
          totalVmKb: decimal(),
          anonRssKb: decimal(),
          fileRssKb: decimal(),
          shmemRssKb: decimal(),
          pgtablesKb: decimal(),
          rssPages: decimal('anon + file + shmem RSS in 4 KiB pages.'),
          loadavg: str('/proc/loadavg (1, 5, 15 min) on the node when the agent got the kill.'),
        }),
      ),
      next: nullable(decimal('Pass as ?after= for the next page.')),
    }),
  },
};
