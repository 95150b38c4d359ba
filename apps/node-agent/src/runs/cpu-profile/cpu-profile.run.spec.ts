import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Profiler, RawSample, Symbolizer } from '@tracefleet/native';
import type { AgentMessage, StartRun } from '@tracefleet/proto';
import { loadConfig } from '../../config';
import { CpuProfileRun, type NativeParts } from './cpu-profile.run';

const cfg = { ...loadConfig({ TRACEFLEET_CA_CERT: '/fleet/ca.pem', TRACEFLEET_ENROLLMENT_TOKEN: 'x'.repeat(32), TRACEFLEET_NODE_NAME: 'n1' }), flushIntervalMs: 50 };

function sample(): RawSample {
  return { pid: process.pid, tid: process.pid, cpu: 0, comm: 'app', userStack: BigUint64Array.of(1n, 2n), kernelStack: new BigUint64Array(), userStackError: 0, kernelStackError: 0, pyFrames: new BigUint64Array(), pyStatus: 0, pyTruncated: false, count: 1 };
}

/** A stand-in for the native addon: emits `perTick` samples every 10 ms while started. */
function fakeNative(perTick: number, opts: { failStart?: boolean } = {}) {
  const state = { closed: 0, symbolizerClosed: 0, seen: 0, python: undefined as boolean | undefined, createdAt: [] as number[], startedAt: [] as number[] };
  const parts: NativeParts = {
    createProfiler(o) {
      state.python = o.python;
      state.createdAt.push(Date.now());
      let timer: NodeJS.Timeout | undefined;
      const stats = () => ({ samplesSeen: BigInt(state.seen), kernelDrops: 2n, queueDrops: 1n, delivered: BigInt(state.seen) });
      return {
        start() {
          state.startedAt.push(Date.now());
          if (opts.failStart) throw new Error('attach perf_event on cpu 0: Permission denied');
          timer = setInterval(() => {
            state.seen += perTick;
            o.onSamples(Array.from({ length: perTick }, sample));
          }, 10);
        },
        async stop() {
          clearInterval(timer);
          return stats();
        },
        stats,
        close() {
          clearInterval(timer);
          state.closed++;
        },
      } as unknown as Profiler;
    },
    createSymbolizer() {
      return {
        symbolizeUser: (_pid: number, a: BigUint64Array) => [...a].map((x) => `f${x}`),
        symbolizeKernel: (a: BigUint64Array) => [...a].map((x) => `k${x}_[k]`),
        forget() {},
        close() {
          state.symbolizerClosed++;
        },
      } as unknown as Symbolizer;
    },
  };
  return { parts, state };
}

function start(over: Partial<StartRun> = {}): StartRun {
  return {
    jobId: 'j',
    runId: 'r',
    durationSec: 1,
    target: { kind: { $case: 'pid', value: process.pid } },
    spec: { $case: 'cpuProfile', value: { frequencyHz: 99, skipJavaPerfMaps: false, skipPythonFrames: false } },
    startAtUnixMs: 0n,
    ...over,
  };
}

function sink() {
  const sent: AgentMessage[] = [];
  return { sent, send: async (m: AgentMessage) => void sent.push(m) };
}

describe('CpuProfileRun', () => {
  it('reads Python frames unless the job or the node turns them off', async () => {
    const cases: Array<[boolean, boolean, boolean]> = [
      [false, true, true],
      [true, true, false],
      [false, false, false],
    ];
    for (const [skip, nodeOn, expected] of cases) {
      const { parts, state } = fakeNative(1);
      const spec = { $case: 'cpuProfile' as const, value: { frequencyHz: 99, skipJavaPerfMaps: true, skipPythonFrames: skip } };
      await new CpuProfileRun(start({ spec }), { ...cfg, pythonFrames: nodeOn }, sink(), parts, () => {}).run();
      assert.equal(state.python, expected, `skip ${skip}, node ${nodeOn}`);
    }
  });

  it('streams numbered batches and finishes with counts that add up', async () => {
    const { parts, state } = fakeNative(3);
    const out = sink();
    await new CpuProfileRun(start(), cfg, out, parts, () => {}).run();
    const kinds = out.sent.map((m) => m.msg?.$case);
    assert.equal(kinds[0], 'runEvent');
    assert.equal(kinds.at(-1), 'runFinished');
    const batches = out.sent.flatMap((m) => (m.msg?.$case === 'profileBatch' ? [m.msg.value] : []));
    assert.ok(batches.length >= 5, `${batches.length} batches`);
    assert.deepEqual(batches.map((b) => b.seq), batches.map((_, i) => BigInt(i + 1)));
    const sent = batches.reduce((a, b) => a + b.stacks.reduce((x, s) => x + s.count, 0n), 0n);
    const fin = out.sent.at(-1)!.msg!;
    assert.equal(fin.$case, 'runFinished');
    if (fin.$case !== 'runFinished') return;
    assert.equal(fin.value.ok, true);
    assert.equal(fin.value.samplesSent, sent);
    assert.equal(fin.value.samplesTaken, BigInt(state.seen));
    assert.equal(fin.value.samplesDroppedKernel, 2n);
    assert.equal(fin.value.samplesDroppedAgent, 1n);
    assert.equal(fin.value.lastSeq, BigInt(batches.length));
    assert.equal(state.closed, 1);
    assert.equal(state.symbolizerClosed, 1);
  });

  it('fails with the reason and still frees everything when attaching fails', async () => {
    const { parts, state } = fakeNative(1, { failStart: true });
    const out = sink();
    await new CpuProfileRun(start(), cfg, out, parts, () => {}).run();
    const fin = out.sent.at(-1)!.msg!;
    assert.equal(fin.$case, 'runFinished');
    if (fin.$case !== 'runFinished') return;
    assert.equal(fin.value.ok, false);
    assert.match(fin.value.reason, /Permission denied/);
    assert.equal(state.closed, 1);
    assert.equal(state.symbolizerClosed, 1);
  });

  it('refuses what is past the agent\'s own limits or names no live target', async () => {
    const cases: [Partial<StartRun>, RegExp][] = [
      [{ durationSec: cfg.maxDurationSec + 1 }, /durationSec .* outside this agent's limit/],
      [{ spec: { $case: 'cpuProfile', value: { frequencyHz: 5000, skipJavaPerfMaps: false, skipPythonFrames: false } } }, /frequencyHz 5000/],
      [{ target: { kind: { $case: 'pid', value: 4_000_000 } } }, /pid 4000000 does not exist on node n1/],
      [{ target: undefined }, /names no target/],
    ];
    for (const [over, re] of cases) {
      const { parts } = fakeNative(1);
      const out = sink();
      await new CpuProfileRun(start(over), cfg, out, parts, () => {}).run();
      const fin = out.sent.at(-1)!.msg!;
      assert.ok(fin.$case === 'runFinished' && !fin.value.ok && re.test(fin.value.reason), JSON.stringify(fin, (_k, v) => (typeof v === 'bigint' ? String(v) : v)));
    }
  });

  it('prepares before start_at_unix_ms and attaches no earlier; refuses a start far ahead; stop() while waiting attaches nothing', async () => {
    const { parts, state } = fakeNative(1);
    const out = sink();
    const at = Date.now() + 300;
    await new CpuProfileRun(start({ startAtUnixMs: BigInt(at) }), cfg, out, parts, () => {}).run();
    const started = out.sent.find((m) => m.msg?.$case === 'runEvent')!.msg!;
    assert.ok(started.$case === 'runEvent' && Number(started.value.atUnixMs) >= at, `started ${started.$case === 'runEvent' ? started.value.atUnixMs : '?'} < ${at}`);
    // Loaded while waiting (an incident's runs then start together however long each takes to load), attached at the time.
    assert.equal(state.createdAt.length, 1);
    assert.ok(state.createdAt[0] < at, `created ${at - state.createdAt[0]} ms before the start time`);
    assert.ok(state.startedAt[0] >= at, `attached ${at - state.startedAt[0]} ms early`);

    const far = sink();
    await new CpuProfileRun(start({ startAtUnixMs: BigInt(Date.now() + 10 * 60_000) }), cfg, far, parts, () => {}).run();
    const farFin = far.sent.at(-1)!.msg!;
    assert.ok(farFin.$case === 'runFinished' && !farFin.value.ok && /ahead of this node's clock/.test(farFin.value.reason));
    assert.equal(state.createdAt.length, 1, 'nothing is loaded for a start refused as too far ahead');

    const closedBefore = state.closed;
    const stopped = sink();
    const run = new CpuProfileRun(start({ startAtUnixMs: BigInt(Date.now() + 60_000) }), cfg, stopped, parts, () => {});
    const done = run.run();
    setTimeout(() => run.stop('deadline passed'), 50);
    await done;
    const fin = stopped.sent.at(-1)!.msg!;
    assert.ok(fin.$case === 'runFinished' && !fin.value.ok && /stopped before the start time: deadline passed/.test(fin.value.reason));
    assert.equal(stopped.sent.filter((m) => m.msg?.$case === 'runEvent').length, 0);
    assert.equal(state.createdAt.length, 2, 'the profiler was loaded while waiting');
    assert.equal(state.startedAt.length, 1, '...and never attached');
    assert.equal(state.closed, closedBefore + 1, '...and closed when the run was stopped');
  });

  it('ends early on stop() and says why', async () => {
    const { parts } = fakeNative(1);
    const out = sink();
    const run = new CpuProfileRun(start({ durationSec: 30 }), cfg, out, parts, () => {});
    const done = run.run();
    setTimeout(() => run.stop('controller link lost'), 100);
    const t0 = Date.now();
    await done;
    assert.ok(Date.now() - t0 < 5000);
    const fin = out.sent.at(-1)!.msg!;
    assert.ok(fin.$case === 'runFinished' && fin.value.ok && /stopped early: controller link lost/.test(fin.value.reason));
  });
});
