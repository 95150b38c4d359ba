import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BadRequestException } from '@nestjs/common';
import type { CreateJobDto } from './dto/create-job.dto';
import { typeParams } from './job-spec';
import type { SslParams, UsdtParams } from '../common/job-params';
import { runSpec } from '../agents/run-spec';

const usdt = (over: Partial<CreateJobDto>): CreateJobDto =>
  ({ type: 'usdt', durationSec: 5, target: { pid: 1 }, nodes: 'all', ...over }) as CreateJobDto;

function rejects(dto: CreateJobDto, re: RegExp): void {
  assert.throws(() => typeParams(dto), (e: unknown) => e instanceof BadRequestException && re.test(JSON.stringify(e.getResponse())));
}

describe('typeParams', () => {
  it('expands presets and adds pair probes', () => {
    const p = typeParams(usdt({ preset: 'python-gc', pairs: [{ begin: 'a:b', end: 'a:c' }] })) as UsdtParams;
    assert.deepEqual(p.probes, ['python:gc__start', 'python:gc__done', 'a:b', 'a:c']);
    assert.deepEqual(p.pairs.map((x) => x.label), ['gc', 'a:b..a:c']);
    assert.equal(p.maxEvents, 10_000);
  });
  it('names the field that is wrong', () => {
    rejects(usdt({}), /probes must name at least one/);
    rejects(usdt({ target: { comm: 'java' } }), /target.comm is not supported/);
    rejects(usdt({ target: { all: true }, probes: ['a:b'] }), /binary is required/);
    rejects(usdt({ probes: ['a:b'], frequencyHz: 99 }), /frequencyHz applies only/);
    rejects(usdt({ probes: ['a:b'], pairs: [{ begin: 'a:b', end: 'a:b' }] }), /pairs\[0\] begin and end/);
    rejects({ type: 'cpu-profile', durationSec: 1, target: { all: true }, nodes: 'all', probes: ['a:b'] } as CreateJobDto, /probes applies only to usdt/);
  });
  it('checks memleak fields', () => {
    const m = (over: Partial<CreateJobDto>): CreateJobDto => ({ type: 'memleak', durationSec: 10, target: { pid: 1 }, nodes: 'all', ...over }) as CreateJobDto;
    assert.deepEqual(typeParams(m({})), { mode: 'user', intervalSec: 5, minAgeSec: 0, sampleEvery: 1, sampleBytes: 0, maxAllocs: 1_000_000, topN: 50, mallocProbe: 'entry' });
    const returns = typeParams(m({ mallocProbe: 'returns' } as Partial<CreateJobDto>));
    assert.equal((returns as { mallocProbe: string }).mallocProbe, 'returns');
    const spec = runSpec('memleak', returns as unknown as Record<string, unknown>);
    assert.equal(spec?.$case === 'memleak' && spec.value.mallocReturnsOnly, true);
    const entry = runSpec('memleak', typeParams(m({})) as unknown as Record<string, unknown>);
    assert.equal(entry?.$case === 'memleak' && entry.value.mallocReturnsOnly, undefined, 'the default sends nothing new');
    rejects(m({ mallocProbe: 'returns', target: { all: true } } as Partial<CreateJobDto>), /mallocProbe is for user mode/);
    assert.equal((typeParams(m({ target: { all: true } })) as { mode: string }).mode, 'kernel');
    rejects(m({ intervalSec: 20 }), /intervalSec must not be greater than durationSec/);
    rejects(m({ sampleEvery: 4, sampleBytes: 4096 }), /sampleBytes cannot be combined/);
    rejects(m({ probes: ['a:b'] }), /probes applies only to usdt/);
    rejects(usdt({ probes: ['a:b'], intervalSec: 2 }), /intervalSec applies only to memleak/);
  });
  it('builds the StartRun spec', () => {
    const spec = runSpec('usdt', typeParams(usdt({ preset: 'jvm-gc' })) as unknown as Record<string, unknown>);
    assert.equal(spec?.$case, 'usdt');
    if (spec?.$case !== 'usdt') return;
    assert.deepEqual(spec.value.probes[0], { provider: 'hotspot', name: 'gc__begin' });
    assert.equal(spec.value.pairs.length, 2);
  });
  it('cpu-profile: runtime names on by default, each turned off on its own; a stored job without them reads them', () => {
    const c = (over: Partial<CreateJobDto>): CreateJobDto => ({ type: 'cpu-profile', durationSec: 5, target: { all: true }, nodes: 'all', ...over }) as CreateJobDto;
    assert.deepEqual(typeParams(c({})), { frequencyHz: 99, javaPerfMaps: true, pythonFrames: true });
    const spec = runSpec('cpu-profile', typeParams(c({ javaPerfMaps: false })) as unknown as Record<string, unknown>);
    assert.deepEqual(spec, { $case: 'cpuProfile', value: { frequencyHz: 99, skipJavaPerfMaps: true, skipPythonFrames: false } });
    assert.deepEqual(runSpec('cpu-profile', { frequencyHz: 49 }), { $case: 'cpuProfile', value: { frequencyHz: 49, skipJavaPerfMaps: false, skipPythonFrames: false } });
    rejects(usdt({ probes: ['a:b'], pythonFrames: false } as Partial<CreateJobDto>), /pythonFrames applies only to cpu-profile/);
  });
  it('checks ssl-capture fields and fills defaults', () => {
    const s = (over: Partial<CreateJobDto>): CreateJobDto => ({ type: 'ssl-capture', durationSec: 10, target: { comm: 'curl' }, nodes: 'all', ...over }) as CreateJobDto;
    assert.deepEqual(typeParams(s({})), {
      maxDataBytes: 4096,
      binaries: [],
      userStacks: false,
      maxEvents: 100_000,
      maxTotalBytes: 64 * 1024 * 1024,
      redactHeaders: [],
      redactPatterns: [],
      redaction: true,
      handshakes: false,
      retentionHours: 24,
      mode: 'full',
    });
    const p = typeParams(s({ redactHeaders: ['X-Api-Key', 'x-api-key'], binaries: ['/a', '/a'], redactPatterns: ['token=\\w+'] })) as SslParams;
    assert.deepEqual(p.redactHeaders, ['x-api-key']);
    assert.deepEqual(p.binaries, ['/a']);
    rejects(s({ redactPatterns: ['ok', '(unclosed'] }), /redactPatterns\[1\] \\"\(unclosed\\" is refused: missing closing \)/);
    rejects(s({ redactPatterns: ['a*'] }), /redactPatterns\[0\] \\"a\*\\" is refused: must not match the empty string/);
    rejects(s({ maxEvents: 0 }), /maxEvents must be at least 1 for ssl-capture/);
    rejects(s({ probes: ['a:b'] }), /probes applies only to usdt/);
    rejects(s({ intervalSec: 2 }), /intervalSec applies only to memleak/);
    rejects(usdt({ probes: ['a:b'], maxDataBytes: 10 }), /maxDataBytes applies only to ssl-capture/);
    rejects(usdt({ probes: ['a:b'], redaction: false }), /redaction applies only to ssl-capture/);
    rejects({ type: 'memleak', durationSec: 10, target: { pid: 1 }, nodes: 'all', userStacks: true } as CreateJobDto, /userStacks applies only to usdt and ssl-capture/);
  });
  it('builds the ssl-capture StartRun spec', () => {
    const params = typeParams({
      type: 'ssl-capture',
      durationSec: 5,
      target: { all: true },
      nodes: 'all',
      redaction: false,
      maxTotalBytes: 1000,
      redactHeaders: ['x-k'],
    } as CreateJobDto);
    const spec = runSpec('ssl_capture', params as unknown as Record<string, unknown>);
    assert.equal(spec?.$case, 'sslCapture');
    if (spec?.$case !== 'sslCapture') return;
    assert.deepEqual(spec.value, {
      maxDataBytes: 4096,
      binaries: [],
      userStacks: false,
      maxEvents: 100_000,
      maxTotalBytes: 1000n,
      redactHeaders: ['x-k'],
      redactPatterns: [],
      redactionOff: true,
      handshakes: false,
      filterPrefixes: [],
      filterPorts: [],
    });
  });
});
