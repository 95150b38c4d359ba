import { arrayOf, bool, decimal, errors, jobId, nullable, num, obj, ok, op, ref, str, TEXT_TYPE, SVG_TYPE, uuid, int, type JobTypeOpenApi } from '../common/openapi-build';

const histogram = obj({
  count: decimal('Waits counted.'),
  meanUs: num('Mean wait, µs (from the exact sum).'),
  p50Us: num('Median wait, µs, estimated from the log2 slots (linear within a slot).'),
  p90Us: num(),
  p99Us: num(),
  slots: arrayOf(obj({ lowUs: int(), highUs: nullable(int()), count: decimal() }), { description: 'Non-empty log2 slots: waits of [lowUs, highUs) µs (slot 0 from 0; the last is unbounded, highUs null).' }),
});

const textOrSvg = (what: string, path: string, operationId: string, mediaType: string) => ({
  [path]: {
    get: op('token', {
      operationId,
      summary: what,
      tags: ['runqlat'],
      parameters: [jobId],
      responses: { ...ok(what, str(), mediaType), ...errors(404) },
    }),
  },
});

/** The runqlat job type's part of the OpenAPI document: its tag, a request example, its read routes and their views. */
export const RUNQLAT_OPENAPI: JobTypeOpenApi = {
  tag: 'Scheduler run-queue latency histograms.',
  example: { summary: 'Run-queue latency of every thread for 10 s, per cgroup', value: { type: 'runqlat', durationSec: 10, target: { all: true }, perCgroup: true, nodes: 'all' } },
  paths: {
    '/jobs/{id}/runqlat': {
      get: op('token', {
        operationId: 'runqlatResults',
        summary: 'Run-queue latency: the histogram merged across nodes, per node and per cgroup, with estimated percentiles',
        tags: ['runqlat'],
        parameters: [jobId],
        responses: { ...ok('Results.', ref('RunqlatResults')), ...errors(404) },
      }),
    },
    ...textOrSvg("The merged histogram as bcc's runqlat prints it (usecs : count distribution).", '/jobs/{id}/runqlat.txt', 'runqlatText', TEXT_TYPE),
    ...textOrSvg('The merged histogram as an SVG bar chart.', '/jobs/{id}/runqlat.svg', 'runqlatSvg', SVG_TYPE),
  },
  schemas: {
    RunqlatResults: obj({
      jobId: uuid(),
      merged: histogram,
      notMeasured: obj({ noStart: decimal('Enqueues a full kernel map refused (raise maxTasks).'), noHist: decimal('Waits not counted: over 1024 cgroups on a node.') }),
      nodes: arrayOf(obj({ node: str(), status: str(), final: bool('The agent sent its final report (else the last snapshot).'), noStart: decimal(), noHist: decimal(), histogram })),
      byCgroup: arrayOf(obj({ node: str(), cgroupId: decimal('The cgroup v2 id on that node.'), histogram }), { description: 'perCgroup only; empty otherwise.' }),
    }),
  },
};
