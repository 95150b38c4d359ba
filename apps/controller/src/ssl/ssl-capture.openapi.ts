import { DEFAULT_STREAMS_PER_TOKEN } from '../auth/stream-limiter';
import { PID_MAX } from '../common/job-params';
import {
  arrayOf,
  bool,
  dateTime,
  decimal,
  errors,
  eventId,
  int,
  jobId,
  mapOf,
  nullable,
  obj,
  ok,
  op,
  query,
  ref,
  str,
  uuid,
  type JobTypeOpenApi,
  type Parameter,
  type Schema,
} from '../common/openapi-build';
import { SslDirection } from '../generated/prisma/enums';
import { MAX_CONTAINS_BYTES, MAX_PAGE, SSL_DIRECTIONS } from './ssl-query';
import { SSL_HTTP_PREFIXES, SSL_MAX_FILTER_PORTS, SSL_MAX_FILTER_PREFIXES, SSL_MAX_PREFIX_BYTES, SslCaptureFilter } from './ssl-capture.dto';
import { STREAM_HEARTBEAT_MS, STREAM_POLL_MS } from './sse';

const sslFilters: Parameter[] = [
  query('node', 'Only this node.'),
  query('pid', 'Only this process.', { type: 'integer', minimum: 1, maximum: PID_MAX }),
];
const sslEventFilters: Parameter[] = [
  ...sslFilters,
  query('direction', 'Only reads, writes or handshakes.', { type: 'string', enum: [...SSL_DIRECTIONS] }),
  query('contains', 'The UTF-8 bytes of this text occur in the stored plaintext.', { type: 'string', minLength: 1, description: `At most ${MAX_CONTAINS_BYTES} bytes of UTF-8.` }),
  query('container', 'Only events of this container: its id or a prefix (4 to 64 lowercase hex digits).', { type: 'string', pattern: '^[0-9a-f]{4,64}$' }),
  query('cgroup', 'Only events of processes in this cgroup or below it.', { type: 'string', maxLength: 4096 }),
];

/** A run's counters (ssl-run.view.ts); the job's sslTotals sums them. */
const sslCounters: Record<string, Schema> = {
  eventsSeen: int('Calls the probes saw (passed the in-kernel filters).'),
  eventsSent: int(),
  eventsStored: int(),
  droppedKernel: int('Ring buffer full.'),
  droppedAgent: int('Bounded queues on the agent.'),
  overBudget: int('Past maxEvents: counted only.'),
  bytesOverBudget: int('Past maxTotalBytes: events without data.'),
  truncatedEvents: int(),
  redactions: int(),
  orphanReturns: int(),
  readErrors: int(),
  filteredCalls: int('Calls of connections the content filter did not admit: counted, not copied.'),
  skippedCalls: int('mode headers: calls that started no HTTP/1 message, skipped in the kernel.'),
  noSocketCalls: int('filter.ports: calls filtered before their connection\'s socket was known (also in filteredCalls).'),
  bytesStored: int(),
  refusedByController: obj({ events: int(), bytes: int() }, { description: "Sent by the agent past the job's limits: counted, not stored." }),
};

/**
 * The ssl-capture job type's part of the OpenAPI document: its tag, a request example, its read routes
 * (all need the ssl-capture scope), their views, and its counters in the run and job views.
 */
export const SSL_CAPTURE_OPENAPI: JobTypeOpenApi = {
  tag: 'TLS plaintext: every route needs the ssl-capture scope.',
  example: {
    summary: 'TLS plaintext of curl (capture token)',
    value: { type: 'ssl-capture', durationSec: 30, target: { comm: 'curl' }, nodes: 'all', maxDataBytes: 4096, redactHeaders: ['x-api-key'], retentionHours: 24 },
  },
  flameGraph: 'call stacks (with userStacks)',
  requestSchemas: {
    SslCaptureFilter: {
      dto: SslCaptureFilter,
      props: ['http', 'prefixes', 'ports'],
      overrides: {
        http: { description: `Only connections that carry HTTP: adds ${SSL_HTTP_PREFIXES.map((p) => JSON.stringify(p)).join(', ')}.`, default: false },
        prefixes: {
          description: `A connection is captured from its first call whose plaintext starts with one of these. At most ${SSL_MAX_FILTER_PREFIXES} in all; with http, at most ${SSL_MAX_FILTER_PREFIXES - SSL_HTTP_PREFIXES.length}.`,
          items: { type: 'string', minLength: 1, maxLength: SSL_MAX_PREFIX_BYTES, description: `1 to ${SSL_MAX_PREFIX_BYTES} bytes of UTF-8, no NUL; compared as bytes, case-sensitive.` },
        },
        ports: {
          description:
            `Only connections whose socket's local or peer port is one of these (at most ${SSL_MAX_FILTER_PORTS}). The socket is learnt from the first read/write/send/recv syscall ` +
            'inside one of the connection\'s calls (Go: from its *net.TCPConn); until then its calls are filtered (noSocketCalls).',
          items: { type: 'integer', minimum: 1, maximum: 65535 },
        },
      },
    },
  },
  paths: {
    '/jobs/{id}/ssl-events': {
      get: op('ssl-capture', {
        operationId: 'sslEvents',
        summary: 'Captured TLS plaintext events (keyset pages)',
        description: '400 for a job of another type or a bad parameter (naming it). Events past the job\'s retention are never served.',
        tags: ['ssl-capture'],
        parameters: [
          jobId,
          ...sslEventFilters,
          query('limit', 'Events per page.', { type: 'integer', minimum: 1, maximum: MAX_PAGE, default: 100 }),
          query('order', 'Oldest or newest first.', { type: 'string', enum: ['oldest', 'newest'], default: 'oldest' }),
          query('after', 'Events with a greater id (order=oldest paging: the previous nextCursor).', eventId),
          query('before', 'Events with a smaller id (order=newest paging).', eventId),
        ],
        responses: { ...ok('A page of events.', ref('SslEventPage')), ...errors(400, 404) },
      }),
    },
    '/jobs/{id}/ssl-events/stream': {
      get: op('ssl-capture', {
        operationId: 'sslEventStream',
        summary: 'Server-Sent Events: every stored event and each new one',
        description:
          `\`event: ssl\` (id: the event id, data: an SslEvent as JSON) for each event; a \`: keepalive\` comment every ${STREAM_HEARTBEAT_MS / 1000} s when idle; ` +
          '`event: status` (data: {"status","reason","finishedAt","eventsSent","lastEventId"}) when the job has ended, then the stream closes. ' +
          `The controller polls PostgreSQL every ${STREAM_POLL_MS} ms, so any replica serves it. before, order and limit do not apply (400). ` +
          `One token may hold at most TRACEFLEET_SSE_STREAMS_PER_TOKEN streams open at once (default ${DEFAULT_STREAMS_PER_TOKEN}, on each replica): past it 429. ` +
          'Streams are closed (the connection ends) at controller shutdown.',
        tags: ['ssl-capture'],
        parameters: [
          jobId,
          ...sslEventFilters,
          query('after', 'Start after this event id.', eventId),
          { name: 'Last-Event-ID', in: 'header', description: 'What a reconnecting EventSource sends: resume after it (the `after` parameter wins).', schema: eventId },
        ],
        responses: { ...ok('The event stream.', { type: 'string' }, 'text/event-stream'), ...errors(400, 404, 429) },
      }),
    },
    '/jobs/{id}/http': {
      get: op('ssl-capture', {
        operationId: 'sslHttp',
        summary: 'HTTP/1.x exchanges and HTTP/2 frame headers per connection',
        tags: ['ssl-capture'],
        parameters: [
          jobId,
          ...sslFilters,
          query('limit', 'Connections per page.', { type: 'integer', minimum: 1, maximum: MAX_PAGE, default: 100 }),
          query('after', 'The nextCursor of the previous page.'),
        ],
        responses: { ...ok('Connections in time order.', ref('HttpSummaries')), ...errors(400, 404) },
      }),
    },
  },
  schemas: {
    SslRunCounters: obj({ ...sslCounters, noOpenssl: arrayOf(str()), attached: arrayOf(str()), reported: bool('False until the agent\'s SslReport arrived.') }),
    SslEvent: obj({
      id: decimal(),
      node: str(),
      pid: int(),
      tid: int(),
      comm: str(),
      function: str('SSL_read, SSL_write, their _ex forms, SSL_do_handshake (OpenSSL); gnutls_record_recv, gnutls_record_send (GnuTLS); crypto/tls.(*Conn).Read, crypto/tls.(*Conn).Write (Go); PR_Read, PR_Write, PR_Recv, PR_Send (NSS).'),
      library: str('The TLS library of the call.', { enum: ['openssl', 'gnutls', 'go', 'nss', 'unknown'] }),
      direction: str(undefined, { enum: Object.values(SslDirection) }),
      ret: int(),
      length: int('Plaintext bytes the call moved.'),
      latencyNs: decimal(),
      sslPtr: str('The SSL* or gnutls_session_t (hex): one connection.'),
      tsNs: decimal('Node monotonic clock.'),
      at: dateTime(),
      truncated: bool(),
      redactions: int(),
      binary: str(),
      skippedBytes: int('mode headers, only when above 0: plaintext bytes of this connection and direction skipped in the kernel since its previous kept event; they came before data.'),
      skippedCalls: int('mode headers, only when above 0: the calls those bytes were moved by.'),
      dataBase64: str('The stored (redacted) plaintext, exact.', { contentEncoding: 'base64' }),
      text: str('The first 1 KiB as UTF-8; other bytes as ".".'),
      stack: nullable(arrayOf(str(), { description: 'Root first, when the job captured user stacks.' })),
      cgroup: nullable(str('The cgroup the process ran in; null where not known.')),
      container: nullable(str('Its container id, when the cgroup path names one.')),
      podUid: nullable(str('Its Kubernetes pod uid, when the cgroup path names one.')),
    }, { optional: ['skippedBytes', 'skippedCalls'] }),
    SslEventPage: obj({
      jobId: uuid(),
      order: str(undefined, { enum: ['oldest', 'newest'] }),
      events: arrayOf(ref('SslEvent')),
      nextCursor: nullable(decimal('Pass as `after` (oldest) or `before` (newest); null on a short page.')),
    }),
    HttpConnection: {
      type: 'object',
      description: 'One connection (node, pid, sslPtr) in time order: HTTP/1.x exchanges, or HTTP/2 frame headers (HPACK not decoded), or unknown.',
      properties: {
        node: str(),
        pid: int(),
        comm: str(),
        sslPtr: str(),
        library: str('The TLS library of its calls.', { enum: ['openssl', 'gnutls', 'go', 'nss', 'unknown'] }),
        events: int(),
        firstAt: dateTime(),
        lastAt: dateTime(),
        protocol: str(undefined, { enum: ['http/1.1', 'http/1.0', 'h2', 'unknown'] }),
        role: nullable(str(undefined, { enum: ['client', 'server'] })),
        bytes: obj({ read: int(), write: int() }),
        unparsedBytes: int(),
        notes: arrayOf(str(), { description: 'What the summary could not follow, e.g. "headers-only capture: 12 calls, 65536 bytes of bodies were not captured".' }),
        exchanges: arrayOf(ref('HttpExchange'), { description: 'HTTP/1.x.' }),
        exchangesOmitted: int(),
        frames: arrayOf(
          obj({ direction: str(undefined, { enum: ['read', 'write'] }), type: str(), flags: int(), streamId: int(), length: int(), tsNs: decimal() }),
          { description: 'h2.' },
        ),
        framesOmitted: int(),
        frameCounts: mapOf(int()),
      },
      required: ['node', 'pid', 'comm', 'sslPtr', 'events', 'firstAt', 'lastAt', 'protocol', 'role', 'bytes', 'unparsedBytes', 'notes'],
    },
    HttpMessage: obj({
      version: str(),
      headers: mapOf(str(), 'Redacted values stay redacted.'),
      headersComplete: bool(),
      body: nullable(obj({ framing: str(undefined, { enum: ['none', 'content-length', 'chunked', 'until-close'] }), bytes: int(), complete: bool() })),
      firstTsNs: decimal(),
      lastTsNs: decimal(),
    }),
    HttpExchange: obj({
      protocol: str(undefined, { enum: ['http/1.1', 'http/1.0'] }),
      method: nullable(str()),
      path: nullable(str()),
      status: nullable(int()),
      reason: nullable(str()),
      interim: arrayOf(int(), { description: '1xx responses before the final one.' }),
      request: nullable(ref('HttpMessage')),
      response: nullable(ref('HttpMessage')),
      latencyNs: nullable(decimal("From the request's last byte to the response's first.")),
      complete: bool(),
    }),
    HttpSummaries: obj({
      jobId: uuid(),
      connections: arrayOf(ref('HttpConnection')),
      nextCursor: nullable(str('Pass as `after` for the next connections.')),
      scanned: obj({ events: int(), bytes: int() }),
    }),
  },
  runFields: { ssl: ref('SslRunCounters') },
  jobFields: { sslTotals: obj(sslCounters, { description: 'ssl-capture: the runs\' counters summed.' }) },
};
