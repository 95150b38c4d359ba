import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { SyscountReading, SyscountTracer } from '@tracefleet/native';
import type { AgentMessage, StartRun } from '@tracefleet/proto';
import { loadConfig } from '../../config';
import { MAX_REPORT_ENTRIES, SyscountRun, type SyscountNativeParts } from './syscount.run';
import { syscallName } from './syscall-names';

const cfg = { ...loadConfig({ TRACEFLEET_CA_CERT: '/fleet/ca.pem', TRACEFLEET_ENROLLMENT_TOKEN: 'x'.repeat(32), TRACEFLEET_NODE_NAME: 'n1' }), flushIntervalMs: 50 };

/** A stand-in for the native tracer that returns `reading` and records the options it was made with. */
function fakeNative(reading: SyscountReading) {
  const state: { opts?: unknown; closed: number; stopped: number } = { closed: 0, stopped: 0 };
  const parts: SyscountNativeParts = {
    createSyscount(opts) {
      state.opts = opts;
      return {
        start() {},
        read: () => reading,
        stop() {
          state.stopped++;
        },
        close() {
          state.closed++;
        },
      } as unknown as SyscountTracer;
    },
  };
  return { parts, state };
}

function start(target: StartRun['target'], maxKeys = 0): StartRun {
  return { jobId: 'j', runId: 'r', durationSec: 1, target, spec: { $case: 'syscount', value: { maxKeys } }, startAtUnixMs: 0n };
}

async function run(s: StartRun, reading: SyscountReading) {
  const sent: AgentMessage[] = [];
  const { parts, state } = fakeNative(reading);
  await new SyscountRun(s, cfg, { send: async (m) => void sent.push(m) }, parts, () => undefined).run();
  return { sent, state };
}

describe('SyscountRun', () => {
  it('names syscalls from the build-time table', () => {
    assert.equal(syscallName(110), 'getppid');
    assert.equal(syscallName(0), 'read');
    assert.equal(syscallName(99_999), '');
  });

  it('reports the counts largest first with names, then RunFinished with the kernel figures', async () => {
    const reading: SyscountReading = {
      entries: [
        { pid: 7, nr: 0, comm: 'a', count: 5n },
        { pid: 7, nr: 110, comm: 'a', count: 50n },
      ],
      calls: 55n,
      uncounted: 0n,
    };
    const { sent, state } = await run(start({ kind: { $case: 'comm', value: 'a' } }, 64), reading);
    assert.deepEqual(state.opts, { comm: 'a', maxKeys: 64 });
    assert.equal(state.closed, 1);
    const report = sent.find((m) => m.msg?.$case === 'syscountReport')?.msg;
    assert.ok(report?.$case === 'syscountReport');
    assert.deepEqual(report.value.entries.map((e) => [e.name, e.count]), [['getppid', 50n], ['read', 5n]]);
    const fin = sent.at(-1)?.msg;
    assert.ok(fin?.$case === 'runFinished' && fin.value.ok, JSON.stringify(fin?.$case));
    assert.equal(fin.value.samplesTaken, 55n);
  });

  it('keeps the largest MAX_REPORT_ENTRIES and sums the rest as left out; a full map is a note', async () => {
    const entries = Array.from({ length: MAX_REPORT_ENTRIES + 3 }, (_, i) => ({ pid: i + 1, nr: 1, comm: 'x', count: BigInt(i + 1) }));
    const { sent } = await run(start({ kind: { $case: 'all', value: true } }), { entries, calls: 10n, uncounted: 4n });
    const report = sent.find((m) => m.msg?.$case === 'syscountReport')?.msg;
    assert.ok(report?.$case === 'syscountReport');
    assert.equal(report.value.entries.length, MAX_REPORT_ENTRIES);
    assert.equal(report.value.entriesLeftOut, 3n);
    assert.equal(report.value.callsLeftOut, 1n + 2n + 3n);
    const fin = sent.at(-1)?.msg;
    assert.ok(fin?.$case === 'runFinished');
    assert.match(fin.value.reason, /4 syscalls not counted: the kernel map .* was full/);
    assert.match(fin.value.reason, /3 smallest/);
  });

  it('refuses a pid that does not exist, and a start without a syscount spec', async () => {
    const gone = await run(start({ kind: { $case: 'pid', value: 2 ** 22 + 1 } }), { entries: [], calls: 0n, uncounted: 0n });
    const fin = gone.sent.at(-1)?.msg;
    assert.ok(fin?.$case === 'runFinished' && !fin.value.ok);
    assert.match(fin.value.reason, /does not exist/);
    const wrong = await run({ ...start({ kind: { $case: 'all', value: true } }), spec: { $case: 'cpuProfile', value: { frequencyHz: 99, skipJavaPerfMaps: false, skipPythonFrames: false } } }, { entries: [], calls: 0n, uncounted: 0n });
    const fin2 = wrong.sent.at(-1)?.msg;
    assert.ok(fin2?.$case === 'runFinished' && !fin2.value.ok);
    assert.match(fin2.value.reason, /without a syscount spec/);
  });
});
