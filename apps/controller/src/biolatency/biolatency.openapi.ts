import { arrayOf, bool, decimal, errors, int, jobId, nullable, num, obj, ok, op, ref, str, TEXT_TYPE, SVG_TYPE, uuid, type JobTypeOpenApi } from '../common/openapi-build';

const histogram = (unit: string) =>
  obj({
    count: decimal('Requests counted.'),
    mean: num(`Mean, ${unit} (from the exact sum).`),
    p50: num(`Median, ${unit}, estimated from the log2 slots (linear within a slot).`),
    p90: num(),
    p99: num(),
    slots: arrayOf(obj({ low: int(), high: nullable(int()), count: decimal() }), { description: `Non-empty log2 slots: [low, high) ${unit} (slot 0 from 0; the last is unbounded, high null).` }),
  });

const pair = { latency: histogram('µs'), size: histogram('KiB'), totalBytes: decimal('Bytes of the requests counted.') };

const textOrSvg = (what: string, path: string, operationId: string, mediaType: string) => ({
  [path]: {
    get: op('token', {
      operationId,
      summary: what,
      tags: ['biolatency'],
      parameters: [jobId],
      responses: { ...ok(what, str(), mediaType), ...errors(404) },
    }),
  },
});

/** The biolatency job type's part of the OpenAPI document: its tag, a request example, its read routes and their views. */
export const BIOLATENCY_OPENAPI: JobTypeOpenApi = {
  tag: 'Block I/O latency and size histograms.',
  example: { summary: 'Block I/O latency and size of every disk for 10 s, per process', value: { type: 'biolatency', durationSec: 10, target: { all: true }, perProcess: true, nodes: 'all' } },
  paths: {
    '/jobs/{id}/biolatency': {
      get: op('token', {
        operationId: 'biolatencyResults',
        summary: 'Block I/O latency and size: histograms merged across nodes, per node, per disk and per process, with estimated percentiles',
        tags: ['biolatency'],
        parameters: [jobId],
        responses: { ...ok('Results.', ref('BiolatencyResults')), ...errors(404) },
      }),
    },
    ...textOrSvg("The histograms as bcc's biolatency and bitesize print them (usecs / Kbytes : count distribution), merged, per disk and per process.", '/jobs/{id}/biolatency.txt', 'biolatencyText', TEXT_TYPE),
    ...textOrSvg('The merged latency and size histograms as SVG bar charts.', '/jobs/{id}/biolatency.svg', 'biolatencySvg', SVG_TYPE),
  },
  schemas: {
    BiolatencyResults: obj({
      jobId: uuid(),
      merged: obj(pair),
      notMeasured: obj({
        startFull: decimal('Requests a full kernel map refused (raise maxRequests).'),
        noHist: decimal('Requests not counted: the histogram map of a node was full.'),
        histogramsLeftOut: decimal('Histograms beyond 1024 per node left out of the reports (the smallest).'),
      }),
      nodes: arrayOf(obj({ node: str(), status: str(), final: bool('The agent sent its final report (else the last snapshot).'), startFull: decimal(), noHist: decimal(), ...pair })),
      disks: arrayOf(obj({ disk: str('The disk name on the nodes (major:minor when a node could not name it).'), ...pair }), { description: 'Each disk merged across nodes by name, most requests first.' }),
      byNodeDisk: arrayOf(obj({ node: str(), disk: str(), major: int(), minor: int(), ...pair })),
      byProcess: arrayOf(obj({ node: str(), disk: str(), pid: int('The process current at issue (a kworker for writeback).'), comm: str(), ...pair }), { description: 'perProcess only (empty otherwise); most requests first, at most 200.' }),
      byProcessLeftOut: int('Per-process rows beyond 200, not listed.'),
    }),
  },
};
