import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemleakMode, type StartRun } from '@tracefleet/proto';
import { Admission, jobTypeOf, staticRefusal, type Ticket } from './policy-admission';
import { DEFAULT_POLICY, type AgentPolicy } from './policy';
import { memleakKernelBytes } from './runs/memleak/memleak.type';

const MIB = 1024 * 1024;
const policy = (p: Partial<AgentPolicy> = {}): AgentPolicy => ({ ...DEFAULT_POLICY, source: 'test', ...p });

function start(runId: string, spec: StartRun['spec'], durationSec = 10): StartRun {
  return { jobId: 'j', runId, durationSec, target: { kind: { $case: 'all', value: true } }, spec, startAtUnixMs: 0n };
}
const profile = (id: string, d?: number): StartRun => start(id, { $case: 'cpuProfile', value: { frequencyHz: 99, skipJavaPerfMaps: false, skipPythonFrames: false } }, d);
const memleak = (id: string, maxAllocs: number): StartRun =>
  start(id, { $case: 'memleak', value: { mode: MemleakMode.MEMLEAK_MODE_KERNEL, intervalSec: 5, minAgeSec: 0, sampleEvery: 1, sampleBytes: 0n, maxAllocs, topN: 50 } });
const ssl = (id: string, redactionOff = false): StartRun =>
  start(id, {
    $case: 'sslCapture',
    value: { maxDataBytes: 4096, binaries: [], userStacks: false, maxEvents: 1000, maxTotalBytes: 1n << 20n, redactHeaders: [], redactPatterns: [], redactionOff, handshakes: false, filterPrefixes: [], filterPorts: [] },
  });

function admitted(r: Ticket | { refused: string }): Ticket {
  if ('refused' in r) assert.fail(`refused: ${r.refused}`);
  return r;
}
function refused(r: Ticket | { refused: string }): string {
  assert.ok('refused' in r, 'admitted, but should have been refused');
  return r.refused;
}

describe('run admission', () => {
  it('names the job type of each spec (no spec is a cpu-profile, as the agent runs it)', () => {
    assert.equal(jobTypeOf(profile('a')), 'cpu-profile');
    assert.equal(jobTypeOf(start('a', undefined)), 'cpu-profile');
    assert.equal(jobTypeOf(memleak('a', 1000)), 'memleak');
    assert.equal(jobTypeOf(ssl('a')), 'ssl-capture');
    assert.equal(jobTypeOf(start('a', { $case: 'usdt', value: { probes: [], binary: '', pairs: [], maxEvents: 0, slowestN: 0, userStacks: false, preset: '' } })), 'usdt');
  });

  it('refuses a job type the policy leaves out, and says which key', () => {
    const a = new Admission(policy({ allowJobTypes: ['cpu-profile'] }));
    assert.match(refused(a.admit(memleak('m', 1000))), /does not run memleak jobs \(allowJobTypes: cpu-profile\)/);
    assert.match(refused(new Admission(policy({ allowJobTypes: [] })).admit(profile('p'))), /allowJobTypes: none/);
  });

  it('ssl-capture: refused when allowSslCapture is false; redaction off refused by default', () => {
    assert.match(refused(new Admission(policy({ allowSslCapture: false })).admit(ssl('s'))), /allowSslCapture: false/);
    const dflt = new Admission(policy());
    assert.match(refused(dflt.admit(ssl('s1', true))), /redaction off \(allowRedactionOff: false\)/);
    admitted(dflt.admit(ssl('s2', false)));
    admitted(new Admission(policy({ allowRedactionOff: true })).admit(ssl('s3', true)));
  });

  it('syscount: a hostile maxKeys from a controller is refused by kernel memory before anything loads; the default is admitted', () => {
    const syscount = (id: string, maxKeys: number): StartRun => start(id, { $case: 'syscount', value: { maxKeys } });
    const a = new Admission(policy());
    assert.equal(jobTypeOf(syscount('y', 0)), 'syscount');
    assert.match(refused(a.admit(syscount('huge', 0xffff_ffff))), /kernel memory, over this node's policy \(maxKernelMemoryMb: 512\)/);
    admitted(a.admit(syscount('default', 0)));
  });

  it('refuses a duration over the policy', () => {
    assert.match(refused(new Admission(policy({ maxDurationSec: 60 })).admit(profile('p', 61))), /durationSec 61 is over this node's policy \(maxDurationSec: 60\)/);
  });

  it('refuses a memleak whose maps alone pass the kernel memory cap: 10 M entries is ~1 GiB', () => {
    const a = new Admission(policy({ maxKernelMemoryBytes: 512 * MIB }));
    const why = refused(a.admit(memleak('m', 10_000_000)));
    assert.match(why, /would take ~10\d\d MiB of kernel memory, over this node's policy \(maxKernelMemoryMb: 512\)/);
    assert.ok(memleakKernelBytes(10_000_000) > 1000 * MIB);
    admitted(a.admit(memleak('m2', 1_000_000)));
  });

  it('counts kernel memory of running runs and gives it back when they end, once', () => {
    const each = memleakKernelBytes(1_000_000);
    const a = new Admission(policy({ maxKernelMemoryBytes: Math.floor(each * 2.5) }));
    const t1 = admitted(a.admit(memleak('a', 1_000_000)));
    const t2 = admitted(a.admit(memleak('b', 1_000_000)));
    assert.equal(a.kernelBytes, 2 * each);
    assert.match(refused(a.admit(memleak('c', 1_000_000))), /node's running runs take ~\d+ MiB, over this node's policy/);
    t1.release();
    t1.release(); // a second release must not free another run's share
    assert.equal(a.kernelBytes, each);
    admitted(a.admit(memleak('c', 1_000_000)));
    t2.release();
    assert.equal(a.running, 1);
  });

  it('refuses past the concurrency cap until a run ends', () => {
    const a = new Admission(policy({ maxConcurrentRuns: 2 }));
    const t1 = admitted(a.admit(profile('a')));
    admitted(a.admit(profile('b')));
    assert.match(refused(a.admit(profile('c'))), /already runs 2 run\(s\), its policy's limit \(maxConcurrentRuns: 2\)/);
    t1.release();
    admitted(a.admit(profile('c')));
  });

  it('does not admit the same run id twice (a re-delivered start must not double-count)', () => {
    const a = new Admission(policy());
    admitted(a.admit(profile('a')));
    assert.match(refused(a.admit(profile('a'))), /already admitted/);
    assert.equal(a.running, 1);
  });

  it('refuses what it cannot estimate, and a refusal holds nothing', () => {
    const a = new Admission(policy(), () => {
      throw new Error('boom');
    });
    assert.match(refused(a.admit(profile('a'))), /cannot estimate .*boom/);
    assert.equal(a.running, 0);
    assert.equal(a.kernelBytes, 0);
  });

  it('hostile spec values: maxAllocs at the wire maximum is refused, not wrapped around', () => {
    const a = new Admission(policy({ maxKernelMemoryBytes: 65536 * MIB }));
    assert.match(refused(a.admit(memleak('m', 0xffffffff))), /kernel memory/);
    assert.equal(staticRefusal(policy(), memleak('m', 0), memleakKernelBytes(1_000_000)), undefined);
  });
});
