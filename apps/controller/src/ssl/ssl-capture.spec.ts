// ssl-capture's mode and content filter as POST /jobs takes them: the global ValidationPipe (as main.ts
// configures it), then the type's params, then the StartRun spec the agent receives.
import 'reflect-metadata';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BadRequestException, ValidationPipe } from '@nestjs/common';
import { SslCaptureSpec } from '@tracefleet/proto';
import { CreateJobDto } from '../jobs/dto/create-job.dto';
import { typeParams } from '../jobs/job-spec';
import { runSpec } from '../agents/run-spec';
import type { SslParams } from '../common/job-params';
import { selectFrom, type Candidate } from '../nodes/selection';
import { SSL_CAPTURE } from './ssl-capture.type';

const pipe = new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true });

async function post(over: Record<string, unknown>): Promise<SslParams> {
  const body = { type: 'ssl-capture', durationSec: 10, target: { comm: 'curl' }, nodes: 'all', ...over };
  const dto = (await pipe.transform(body, { type: 'body', metatype: CreateJobDto })) as CreateJobDto;
  return typeParams(dto) as SslParams;
}

/** The 400's messages (fails when the body is accepted). */
async function refused(over: Record<string, unknown>): Promise<string[]> {
  try {
    await post(over);
  } catch (err) {
    assert.ok(err instanceof BadRequestException, String(err));
    return (err.getResponse() as { message: string[] }).message;
  }
  assert.fail(`${JSON.stringify(over)} was accepted`);
}

function spec(p: SslParams): SslCaptureSpec {
  const s = runSpec('ssl_capture', p as unknown as Record<string, unknown>);
  assert.equal(s?.$case, 'sslCapture');
  return (s as { value: SslCaptureSpec }).value;
}

const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));
const five = ['a', 'b', 'c', 'd', 'e'];

describe('ssl-capture filter and mode: refused with a 400 naming the field', () => {
  it('prefixes: byte lengths in UTF-8, NUL, empty, lone surrogates, counts', async () => {
    const cases: [Record<string, unknown>, string[]][] = [
      [{ filter: { prefixes: ['GET /', 'x', 'y'.repeat(19)] } }, ['filter.prefixes[2] is 19 bytes in UTF-8; at most 16']],
      [{ filter: { prefixes: ['x'.repeat(17)] } }, ['filter.prefixes[0] is 17 bytes in UTF-8; at most 16']],
      // 9 characters, 18 bytes; 4 emoji are 8 UTF-16 units but 16 bytes (accepted below), 5 are 20.
      [{ filter: { prefixes: ['é'.repeat(9)] } }, ['filter.prefixes[0] is 18 bytes in UTF-8; at most 16']],
      [{ filter: { prefixes: ['🔑'.repeat(5)] } }, ['filter.prefixes[0] is 20 bytes in UTF-8; at most 16']],
      [{ filter: { prefixes: ['ok', 'a\u0000b'] } }, ['filter.prefixes[1] contains a NUL character; prefixes must not']],
      [{ filter: { prefixes: ['\u0000'] } }, ['filter.prefixes[0] contains a NUL character; prefixes must not']],
      [{ filter: { prefixes: [''] } }, ['filter.prefixes[0] is empty; a prefix is 1 to 16 bytes of UTF-8']],
      [{ filter: { prefixes: ['\ud800x'] } }, ['filter.prefixes[0] holds a lone UTF-16 surrogate: not text that UTF-8 can encode']],
      [{ filter: { prefixes: Array.from({ length: 17 }, (_, i) => `p${i}`) } }, ['filter.prefixes must contain no more than 16 elements']],
      [{ filter: { http: true, prefixes: [...five, 'f'] } }, ['filter.prefixes has 6 prefixes; with filter.http at most 5 (it adds 11 of the 16 the kernel compares)']],
    ];
    for (const [over, want] of cases) assert.deepEqual(await refused(over), want, JSON.stringify(over));
  });

  it('shapes: mode, filter, prefixes and http of the wrong type; unknown keys in filter', async () => {
    const cases: [Record<string, unknown>, string[]][] = [
      [{ mode: 'bogus' }, ['mode must be one of: full, headers']],
      [{ mode: 'HEADERS' }, ['mode must be one of: full, headers']],
      [{ mode: 1 }, ['mode must be one of: full, headers']],
      [{ filter: { prefixes: ['GET ', 1] } }, ['filter.prefixes must be strings']],
      [{ filter: { prefixes: [null] } }, ['filter.prefixes must be strings']],
      [{ filter: { prefixes: [['GET ']] } }, ['filter.prefixes must be strings']],
      [{ filter: { http: 'yes' } }, ['filter.http must be a boolean value']],
      [{ filter: { http: true, bogus: 1 } }, ['filter.property bogus should not exist']],
    ];
    for (const [over, want] of cases) assert.deepEqual(await refused(over), want, JSON.stringify(over));
    // class-validator also words the count for a non-array, as for binaries and redactHeaders.
    assert.ok((await refused({ filter: { prefixes: 'GET ' } })).includes('filter.prefixes must be an array'));
    // Not an object: a string, an array (even of filter objects), a number.
    for (const filter of ['http', [], [{ http: true }], 5, true]) {
      const got = await refused({ filter });
      assert.ok(got.includes('filter must be an object: { http?: boolean, prefixes?: string[], ports?: number[] }'), `${JSON.stringify(filter)} → ${JSON.stringify(got)}`);
    }
    // Another type's job does not take them.
    await assert.rejects(
      pipe.transform({ type: 'cpu-profile', durationSec: 10, target: { all: true }, nodes: 'all', mode: 'headers' }, { type: 'body', metatype: CreateJobDto }).then((d) => typeParams(d as CreateJobDto)),
      (e: unknown) => e instanceof BadRequestException && JSON.stringify(e.getResponse()).includes('mode applies only to ssl-capture jobs'),
    );
  });

  it('ports: integers 1 to 65535, at most 16; stored deduplicated and sent as filterPorts', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ filter: { ports: [0] } }, 'ports must be 1 to 65535'],
      [{ filter: { ports: [443, 65536] } }, 'ports must be 1 to 65535'],
      [{ filter: { ports: [-1] } }, 'ports must be 1 to 65535'],
      [{ filter: { ports: [44.3] } }, 'ports must be integers'],
      [{ filter: { ports: ['443'] } }, 'ports must be integers'],
      [{ filter: { ports: 443 } }, 'filter.ports must be an array'],
      [{ filter: { ports: Array.from({ length: 17 }, (_, i) => i + 1) } }, 'filter.ports must contain no more than 16 elements'],
    ];
    for (const [over, want] of cases) {
      const got = await refused(over);
      assert.ok(got.some((m) => m.includes(want)), `${JSON.stringify(over)} → ${JSON.stringify(got)}`);
    }
    const p = await post({ filter: { ports: [443, 8443, 443] } });
    assert.deepEqual(p.filter, { http: false, prefixes: [], ports: [443, 8443] });
    assert.deepEqual(spec(p).filterPorts, [443, 8443]);
    assert.deepEqual(spec(p).filterPrefixes, []);
  });

  it('null is absent, as for every optional field; an empty filter filters nothing', async () => {
    for (const over of [{ filter: null }, { filter: {} }, { filter: { http: false, prefixes: [] } }, { filter: { prefixes: null } }, { mode: null }]) {
      const p = await post(over);
      assert.equal(p.filter, undefined, JSON.stringify(over));
      assert.equal(p.mode, 'full');
      assert.deepEqual(spec(p).filterPrefixes, []);
    }
  });
});

describe('ssl-capture filter and mode: stored params and the StartRun spec', () => {
  it('headers mode: headersOnly, and maxDataBytes 1024 unless given', async () => {
    const p = await post({ mode: 'headers' });
    assert.equal(p.mode, 'headers');
    assert.equal(p.maxDataBytes, 1024);
    const s = spec(p);
    assert.equal(s.headersOnly, true);
    assert.equal(s.maxDataBytes, 1024);
    assert.equal(s.filterHttp, undefined);
    assert.equal((await post({ mode: 'headers', maxDataBytes: 4096 })).maxDataBytes, 4096);
    assert.equal((await post({ mode: 'headers', maxDataBytes: 100 })).maxDataBytes, 100);
    assert.equal((await post({ mode: 'full' })).maxDataBytes, 4096);
  });

  it('full mode and jobs stored before these fields send nothing new', async () => {
    const s = spec(await post({ mode: 'full' }));
    assert.equal('headersOnly' in s, false);
    assert.equal('filterHttp' in s, false);
    assert.deepEqual(s.filterPrefixes, []);
    const old: Record<string, unknown> = { maxDataBytes: 4096, binaries: [], userStacks: false, maxEvents: 10, maxTotalBytes: 1000, redactHeaders: [], redactPatterns: [], redaction: true, handshakes: false, retentionHours: 24 };
    const o = spec(old as unknown as SslParams);
    assert.equal('headersOnly' in o, false);
    assert.deepEqual(o.filterPrefixes, []);
  });

  it('prefixes as UTF-8 bytes, deduplicated; http as a flag; both survive the wire', async () => {
    const prefixes = ['GET /api', 'é', '🔑'.repeat(4), '€'.repeat(5) + 'a', 'GET /api'];
    const p = await post({ mode: 'headers', filter: { http: true, prefixes } });
    assert.deepEqual(p.filter, { http: true, prefixes: ['GET /api', 'é', '🔑🔑🔑🔑', '€€€€€a'] });
    const s = spec(p);
    assert.equal(s.filterHttp, true);
    assert.deepEqual(s.filterPrefixes, [bytes('GET /api'), new Uint8Array([0xc3, 0xa9]), bytes('🔑🔑🔑🔑'), bytes('€€€€€a')]);
    assert.deepEqual(s.filterPrefixes.map((b) => b.length), [8, 2, 16, 16]);
    const wire = SslCaptureSpec.decode(SslCaptureSpec.encode(s).finish());
    assert.deepEqual(wire.filterPrefixes.map((b) => Buffer.from(b).toString('utf8')), ['GET /api', 'é', '🔑🔑🔑🔑', '€€€€€a']);
    assert.equal(wire.filterHttp, true);
    assert.equal(wire.headersOnly, true);
  });

  it('at the limits: 16 prefixes without http, 5 with it, http alone', async () => {
    const sixteen = Array.from({ length: 16 }, (_, i) => `p${i}`);
    assert.equal(spec(await post({ filter: { prefixes: sixteen } })).filterPrefixes.length, 16);
    const withHttp = await post({ filter: { http: true, prefixes: five } });
    assert.deepEqual(withHttp.filter, { http: true, prefixes: five });
    const httpOnly = await post({ filter: { http: true } });
    assert.deepEqual(httpOnly.filter, { http: true, prefixes: [] });
    assert.deepEqual(spec(httpOnly).filterPrefixes, []);
    assert.equal(spec(httpOnly).filterHttp, true);
  });
});

describe('ssl-capture filter and mode: only agents that apply them get the job', () => {
  it('a filter or headers mode needs ssl-capture:filters; an older agent is skipped with the reason', async () => {
    const need = async (over: Record<string, unknown>) => SSL_CAPTURE.capability(await post(over) as unknown as Record<string, unknown>);
    assert.equal(await need({}), 'ssl-capture');
    assert.equal(await need({ mode: 'full' }), 'ssl-capture');
    assert.equal(await need({ mode: 'headers' }), 'ssl-capture:filters');
    assert.equal(await need({ filter: { http: true } }), 'ssl-capture:filters');
    assert.equal(await need({ filter: { ports: [443] } }), 'ssl-capture:filters');
    const node = (name: string, capabilities: string[]): Candidate => ({ name, labels: {}, capabilities, state: 'connected' });
    const s = selectFrom([node('new', ['ssl-capture', 'ssl-capture:filters']), node('old', ['ssl-capture'])], { all: true }, 'ssl-capture:filters');
    assert.deepEqual(s.selected, ['new']);
    assert.deepEqual(s.skipped, [{ node: 'old', code: 'capability', reason: 'cannot run ssl-capture:filters (capabilities: ssl-capture)' }]);
    assert.deepEqual(selectFrom([node('old', ['ssl-capture'])], { all: true }, 'ssl-capture').selected, ['old'], 'a job without them still runs on it');
  });
});
