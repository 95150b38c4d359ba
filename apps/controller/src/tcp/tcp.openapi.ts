import { arrayOf, bool, decimal, errors, int, jobId, nullable, num, obj, ok, op, query, ref, str, SVG_TYPE, TEXT_TYPE, uuid, type JobTypeOpenApi, type Parameter } from '../common/openapi-build';

const histogram = obj({
  count: decimal('Connects counted.'),
  meanUs: num('Mean connect latency, µs (from the exact sum).'),
  p50Us: num('Median, µs, estimated from the log2 slots (linear within a slot).'),
  p90Us: num(),
  p99Us: num(),
  slots: arrayOf(obj({ lowUs: int(), highUs: nullable(int()), count: decimal() }), { description: 'Non-empty log2 slots: connects of [lowUs, highUs) µs (slot 0 from 0; the last is unbounded, highUs null).' }),
});

const counters = obj({
  connects: decimal('Active connects measured into the histogram.'),
  closed: decimal('Connections that closed and passed the filters.'),
  streamed: decimal('Of those, sent to the controller.'),
  noStart: decimal('Sockets a full kernel map refused (raise maxSockets).'),
  untracked: decimal('Closes of sockets not followed (not reported): born before the run, or refused by a full map (noStart).'),
  overBudget: decimal('Connections past maxEvents: counted, not kept.'),
  dropped: decimal('Connections lost: ring buffer or agent queue full.'),
});

const filters: Parameter[] = [
  jobId,
  query('node', 'Only this node (histograms and connections).'),
  query('pid', 'Only connections of this pid.', { type: 'integer', minimum: 1 }),
  query('comm', "Only connections of this comm (exact, 1..15 bytes).", { type: 'string', minLength: 1, maxLength: 15 }),
  query('port', 'Only connections with this local or remote port.', { type: 'integer', minimum: 1, maximum: 65535 }),
  query('family', 'Only IPv4 (4) or IPv6 (6) connections.', { type: 'integer', enum: [4, 6] }),
  query('limit', 'Connections per page (default 100).', { type: 'integer', minimum: 1, maximum: 1000 }),
  query('after', "The previous page's next.", { type: 'string', pattern: '^[0-9]{1,18}$' }),
];

/** The tcp job type's part of the OpenAPI document: its tag, a request example, its read routes and their views. */
export const TCP_OPENAPI: JobTypeOpenApi = {
  tag: 'TCP connections (tcplife) and connect latency (tcpconnlat).',
  example: { summary: 'Connections to or from port 5432 for 30 s on every node', value: { type: 'tcp', durationSec: 30, target: { all: true }, ports: [5432], nodes: 'all' } },
  paths: {
    '/jobs/{id}/tcp': {
      get: op('token', {
        operationId: 'tcpResults',
        summary: 'TCP: connect latency merged and per node, lifetimes of the matching connections, and a page of them',
        tags: ['tcp'],
        parameters: filters,
        responses: { ...ok('Results.', ref('TcpResults')), ...errors(400, 404) },
      }),
    },
    '/jobs/{id}/tcp.txt': {
      get: op('token', {
        operationId: 'tcpText',
        summary: "A page of connections in tcplife's columns (a NODE column first, tcpconnlat's LAT(ms) last), then the merged connect-latency histogram",
        tags: ['tcp'],
        parameters: filters,
        responses: { ...ok('Text.', str(), TEXT_TYPE), ...errors(400, 404) },
      }),
    },
    '/jobs/{id}/tcp.svg': {
      get: op('token', {
        operationId: 'tcpSvg',
        summary: 'The merged connect-latency histogram (SYN_SENT → ESTABLISHED, log2 µs slots) as an SVG bar chart',
        tags: ['tcp'],
        parameters: [jobId],
        responses: { ...ok('SVG.', str(), SVG_TYPE), ...errors(404) },
      }),
    },
  },
  schemas: {
    TcpResults: obj({
      jobId: uuid(),
      connectLatency: obj({
        merged: histogram,
        nodes: arrayOf(obj({ node: str(), status: str(), reported: bool('The agent sent its report (at the end of its run).'), counters, histogram })),
      }),
      lifetimes: obj({ count: int(), meanMs: num(), minMs: num(), maxMs: num(), rxBytes: decimal(), txBytes: decimal() }, { description: 'Over every stored connection that matches the filters.' }),
      connections: arrayOf(
        obj({
          id: decimal(),
          node: str(),
          pid: int(),
          comm: str(),
          family: int(),
          saddr: str(),
          sport: int(),
          daddr: str(),
          dport: int(),
          active: bool('This side connected.'),
          pidSource: str('connect: the task that called connect(); close: the task that called close(); current: whoever ran at the final CLOSE.'),
          startNs: decimal('CLOCK_MONOTONIC on the node.'),
          lifetimeMs: num(),
          connectUs: nullable(num('SYN_SENT -> ESTABLISHED (active connections).')),
          rxBytes: decimal(),
          txBytes: decimal(),
        }),
      ),
      next: nullable(decimal('Pass as ?after= for the next page.')),
    }),
  },
};
