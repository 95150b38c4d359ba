import type { StartRun } from '@tracefleet/proto';
import { compilePattern, MAX_TOTAL_PROGRAM_SIZE, PatternError } from '@tracefleet/redact';
import { badField } from '../common/bad-field';
import type { SslParams } from '../common/job-params';
import type { JobRequest } from '../common/job-request';
import type { SharedJobFields } from '../common/job-fields';
import type { NodePolicy } from '../common/node-policy';
import { SSL_HTTP_PREFIXES, SSL_MAX_FILTER_PREFIXES, SSL_MAX_PREFIX_BYTES, SslCaptureFields } from './ssl-capture.dto';
import { flameGraphLinks } from '../profiles/flamegraph/links';
import { MAX_RECEIVE_MESSAGE_BYTES, frames, runIdField, strings, text, type FieldCaps, type Shape } from '../common/wire-shape';
import type { JobRun } from '../generated/prisma/client';
import { sslRunView, sslTotals, type SslRunView } from './ssl-run.view';
import { SSL_CAPTURE_OPENAPI } from './ssl-capture.openapi';

export const SSL_DEFAULTS = {
  maxDataBytes: 4096,
  /** maxDataBytes with mode headers: a head, not a body. */
  headersMaxDataBytes: 1024,
  maxEvents: 100_000,
  maxTotalBytes: 64 * 1024 * 1024,
  retentionHours: 24,
} as const;

const SSL_EVENT: Shape = {
  3: { name: 'comm', kind: 'str', maxLen: 256 },
  // maxDataBytes <= 16,384 plus "[REDACTED]" per redacted span: 64 KiB bounds any real capture.
  12: { name: 'data', kind: 'str', maxLen: 64 * 1024 },
  15: frames('stack'),
  16: { name: 'binary', kind: 'str', maxLen: 4096 },
};

/** Its messages' caps, checked before decoding (agents/batch-limits.ts); the agent sends 1,000 events and about 1 MiB of plaintext per batch. */
const WIRE: readonly FieldCaps[] = [
  {
    field: 11,
    type: 'sslEvents',
    maxBytes: MAX_RECEIVE_MESSAGE_BYTES,
    shape: { 1: runIdField, 3: strings, 4: { name: 'events', kind: 'msg', total: 'events', shape: SSL_EVENT } },
    totals: { events: 2000, strings: 100_000, frames: 2000 * 256 },
  },
  {
    field: 12,
    type: 'sslReport',
    maxBytes: 1024 * 1024,
    shape: { 1: runIdField, 12: { ...text('attached'), maxPer: 4096 }, 13: { ...text('noOpenssl'), maxPer: 4096 } },
    totals: {},
  },
];

/** The filter as stored: prefixes checked one by one (the 400 names the index), deduplicated; undefined when it filters nothing. */
export function filterParams(f: SslCaptureFields['filter']): SslParams['filter'] {
  if (!f) return undefined;
  const prefixes = f.prefixes ?? [];
  prefixes.forEach((p, i) => {
    const field = `filter.prefixes[${i}]`;
    const bytes = Buffer.byteLength(p, 'utf8');
    if (bytes === 0) badField(field, `is empty; a prefix is 1 to ${SSL_MAX_PREFIX_BYTES} bytes of UTF-8`);
    if (/\p{Cs}/u.test(p)) badField(field, 'holds a lone UTF-16 surrogate: not text that UTF-8 can encode');
    if (bytes > SSL_MAX_PREFIX_BYTES) badField(field, `is ${bytes} bytes in UTF-8; at most ${SSL_MAX_PREFIX_BYTES}`);
    if (p.includes('\0')) badField(field, 'contains a NUL character; prefixes must not');
  });
  const http = f.http ?? false;
  const room = SSL_MAX_FILTER_PREFIXES - SSL_HTTP_PREFIXES.length;
  if (http && prefixes.length > room) {
    badField('filter.prefixes', `has ${prefixes.length} prefixes; with filter.http at most ${room} (it adds ${SSL_HTTP_PREFIXES.length} of the ${SSL_MAX_FILTER_PREFIXES} the kernel compares)`);
  }
  const ports = [...new Set(f.ports ?? [])];
  if (!http && prefixes.length === 0 && ports.length === 0) return undefined;
  return { http, prefixes: [...new Set(prefixes)], ...(ports.length ? { ports } : {}) };
}

/** The ssl-capture job type: TLS plaintext of OpenSSL calls, redacted on the agent; needs the ssl-capture scope. */
export const SSL_CAPTURE = {
  name: 'ssl-capture',
  fields: ['maxDataBytes', 'binaries', 'userStacks', 'maxEvents', 'maxTotalBytes', 'redactHeaders', 'redactPatterns', 'redaction', 'handshakes', 'retentionHours', 'dutyOnMs', 'dutyPeriodMs', 'mode', 'filter'] as const,
  /** Its own fields' shapes and limits (the request DTO joins them; maxEvents and userStacks are shared). */
  dto: SslCaptureFields,

  /** Its OpenAPI part: the description of its request and of its fields (limits come from the DTO's decorators); the rest in ssl-capture.openapi.ts. */
  docs: {
    description: 'TLS plaintext of OpenSSL calls, redacted on the agent. Needs the ssl-capture scope (TRACEFLEET_CAPTURE_TOKEN), to create and to read.',
    openapi: SSL_CAPTURE_OPENAPI,
    fields: {
    maxDataBytes: { description: `Plaintext bytes kept per SSL_read/SSL_write call (the rest is counted as truncated). With mode headers the default is ${SSL_DEFAULTS.headersMaxDataBytes}.`, default: SSL_DEFAULTS.maxDataBytes },
    binaries: { description: 'Files to probe besides what the targets map: libssl.so.* or executables with OpenSSL linked in.' },
    userStacks: { description: 'Capture the user stack at each event; stacks also form the job\'s flame graph.', default: false },
    maxTotalBytes: { description: 'Plaintext bytes kept per node for the whole run; past it events carry no data.', default: SSL_DEFAULTS.maxTotalBytes },
    redactHeaders: { description: 'Header names whose values are redacted on the agent, besides authorization, proxy-authorization, cookie and set-cookie.' },
    redactPatterns: { description: 'RE2 regular expressions (linear-time matching: no backreferences, no lookaround; compiled to check them, a refused one is a 400 naming it and why, as is one matching the empty string); every match in the plaintext, read as UTF-8, is redacted on the agent.' },
    redaction: { description: 'Redaction on the agent, before plaintext leaves the node.', default: true },
    handshakes: { description: 'Also time SSL_do_handshake (events without data).', default: false },
    retentionHours: { description: 'Captured events are deleted this long after the job was created.', default: SSL_DEFAULTS.retentionHours },
    dutyOnMs: { description: 'Duty cycle, with dutyPeriodMs: the probes are attached for dutyOnMs at the start of every dutyPeriodMs and taken out for the rest, so calls outside the windows cost nothing; the run\'s notes give the fraction attached (scale counts and rates by it). Absent: attached throughout.' },
    dutyPeriodMs: { description: 'Duty cycle period, more than dutyOnMs and at most durationSec.' },
    // At least 1 for ssl-capture (the DTO allows 0 for usdt).
    maxEvents: { description: 'Events sent per node; past it calls are only counted (overBudget).', minimum: 1, default: SSL_DEFAULTS.maxEvents },
    mode: {
      description:
        'full: the plaintext of every call (up to maxDataBytes). headers: only calls whose plaintext starts an HTTP/1 request or response are copied, ' +
        'and only their head; other calls are skipped in the kernel and counted on the next kept event of their connection and direction (skippedBytes, skippedCalls).',
      default: 'full',
    },
    filter: {
      $ref: '#/components/schemas/SslCaptureFilter',
      description:
        'In-kernel filter: a connection is captured from its first call whose plaintext starts with one of the prefixes (filter.http adds the HTTP ones), ' +
        'and only if its socket has one of the ports (local or peer); calls of other connections are only counted (filteredCalls). Absent: every connection.',
    },
    },
  },

  params(dto: JobRequest<SslCaptureFields & SharedJobFields>): SslParams {
    if (dto.maxEvents !== undefined && dto.maxEvents < 1) badField('maxEvents', 'must be at least 1 for ssl-capture jobs (every call is counted either way)');
    const redactPatterns = dto.redactPatterns ?? [];
    let instructions = 0;
    redactPatterns.forEach((p, i) => {
      try {
        instructions += compilePattern(p).programSize();
      } catch (err) {
        if (err instanceof PatternError) badField(`redactPatterns[${i}]`, `"${p}" is refused: ${err.message}`);
        throw err;
      }
    });
    if (instructions > MAX_TOTAL_PROGRAM_SIZE) badField('redactPatterns', `compile to ${instructions} RE2 instructions in all (at most ${MAX_TOTAL_PROGRAM_SIZE}: every captured call goes through each pattern)`);
    if ((dto.dutyOnMs === undefined) !== (dto.dutyPeriodMs === undefined)) badField(dto.dutyOnMs === undefined ? 'dutyOnMs' : 'dutyPeriodMs', 'is needed with the other duty cycle field');
    if (dto.dutyOnMs !== undefined && dto.dutyPeriodMs !== undefined) {
      if (dto.dutyOnMs >= dto.dutyPeriodMs) badField('dutyOnMs', `must be less than dutyPeriodMs (${dto.dutyPeriodMs})`);
      if (dto.dutyPeriodMs > dto.durationSec * 1000) badField('dutyPeriodMs', `must be at most durationSec (${dto.durationSec} s)`);
    }
    const lower = (dto.redactHeaders ?? []).map((h) => h.toLowerCase());
    const mode = dto.mode ?? 'full';
    const filter = filterParams(dto.filter);
    return {
      maxDataBytes: dto.maxDataBytes ?? (mode === 'headers' ? SSL_DEFAULTS.headersMaxDataBytes : SSL_DEFAULTS.maxDataBytes),
      binaries: [...new Set(dto.binaries ?? [])],
      userStacks: dto.userStacks ?? false,
      maxEvents: dto.maxEvents ?? SSL_DEFAULTS.maxEvents,
      maxTotalBytes: dto.maxTotalBytes ?? SSL_DEFAULTS.maxTotalBytes,
      redactHeaders: [...new Set(lower)],
      redactPatterns,
      redaction: dto.redaction ?? true,
      handshakes: dto.handshakes ?? false,
      retentionHours: dto.retentionHours ?? SSL_DEFAULTS.retentionHours,
      ...(dto.dutyOnMs !== undefined && dto.dutyPeriodMs !== undefined ? { dutyOnMs: dto.dutyOnMs, dutyPeriodMs: dto.dutyPeriodMs } : {}),
      mode,
      ...(filter ? { filter } : {}),
    };
  },

  /** A filter or headers mode needs an agent that applies them: an older one would capture whole calls of every connection. */
  capability(params: Record<string, unknown>): string {
    const p = params as unknown as SslParams;
    return p.filter || p.mode === 'headers' ? 'ssl-capture:filters' : 'ssl-capture';
  },

  spec(params: Record<string, unknown>): NonNullable<StartRun['spec']> {
      const p = params as unknown as SslParams;
      return {
        $case: 'sslCapture',
        value: {
          maxDataBytes: p.maxDataBytes,
          binaries: p.binaries,
          userStacks: p.userStacks,
          maxEvents: p.maxEvents,
          maxTotalBytes: BigInt(p.maxTotalBytes),
          redactHeaders: p.redactHeaders,
          redactPatterns: p.redactPatterns,
          redactionOff: !p.redaction,
          handshakes: p.handshakes,
          ...(p.dutyOnMs && p.dutyPeriodMs ? { dutyOnMs: p.dutyOnMs, dutyPeriodMs: p.dutyPeriodMs } : {}),
          filterPrefixes: (p.filter?.prefixes ?? []).map((s) => new Uint8Array(Buffer.from(s, 'utf8'))),
          filterPorts: p.filter?.ports ?? [],
          // Only when set: a job without them sends what it sent before.
          ...(p.filter?.http ? { filterHttp: true } : {}),
          ...(p.mode === 'headers' ? { headersOnly: true } : {}),
        },
      };
  },

  /** Captured plaintext: creating these jobs and reading what they captured needs the ssl-capture scope. */
  /** A node's policy must allow TLS capture, and redaction off when the job turns it off (the agent checks the same: its `admit`). */
  nodePolicy(params: Record<string, unknown>, policy: NodePolicy): string | undefined {
    if (!policy.allowSslCapture) return 'its policy does not allow TLS plaintext capture (allowSslCapture: false)';
    if (params.redaction === false && !policy.allowRedactionOff) return 'its policy does not allow ssl-capture with redaction off (allowRedactionOff: false)';
    return undefined;
  },

  scope: 'ssl-capture' as const,

  wire: WIRE,

  view: {
    run: (r: JobRun): Record<string, unknown> => ({ ssl: sslRunView(r) }),
    job: (runs: Record<string, unknown>[]): Record<string, unknown> => ({ sslTotals: sslTotals(runs.map((r) => r.ssl as SslRunView)) }),
  },

  links: (base: string): Record<string, string> => ({
    ...flameGraphLinks(base),
    sslEvents: `${base}/ssl-events`,
    sslEventsStream: `${base}/ssl-events/stream`,
    http: `${base}/http`,
  }),
};
