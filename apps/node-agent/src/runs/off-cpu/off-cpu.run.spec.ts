import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { OffCpuDelta, OffCpuStats, OffCpuTracer, Symbolizer } from '@tracefleet/native';
import type { AgentMessage, StartRun } from '@tracefleet/proto';
import { loadConfig } from '../../config';
import { OffCpuRun, type OffCpuNativeParts } from './off-cpu.run';

const cfg = { ...loadConfig({ TRACEFLEET_CA_CERT: '/fleet/ca.pem', TRACEFLEET_ENROLLMENT_TOKEN: 'x'.repeat(32), TRACEFLEET_NODE_NAME: 'n1' }), flushIntervalMs: 300 };

const delta = (us: number, blocks: number, user: bigint[], kernel: bigint[] = [], tid = 0, onCpu = false): OffCpuDelta => ({
  pid: 42,
  tid,
  onCpu,
  comm: 'app',
  us,
  blocks,
  userStack: new BigUint64Array(user),
  kernelStack: new BigUint64Array(kernel),
  userStackError: 0,
  kernelStackError: 0,
});

const STATS: OffCpuStats = {
  blocks: 7n,
  short: 3n,
  noStart: 1n,
  noCount: 0n,
  noUserStack: 2n,
  unwind: {} as OffCpuStats['unwind'],
};

/** A stand-in for the native tracer: each read() returns the next list of deltas. */
function fakeNative(reads: OffCpuDelta[][]) {
  const state: { opts?: Record<string, unknown>; closed: number; stopped: number } = { closed: 0, stopped: 0 };
  const names: Record<string, string> = { '1': 'leaf', '2': 'sleeper', '3': 'main', '9': '__schedule' };
  const parts: OffCpuNativeParts = {
    createOffCpu(opts) {
      state.opts = opts as Record<string, unknown>;
      return {
        start() {},
        read: () => reads.shift() ?? [],
        stats: () => STATS,
        stop() {
          state.stopped++;
        },
        close() {
          state.closed++;
        },
      } as unknown as OffCpuTracer;
    },
    createSymbolizer: () =>
      ({
        symbolizeUser: (_pid: number, a: BigUint64Array) => [...a].map((x) => names[String(x)] ?? '?'),
        symbolizeKernel: (a: BigUint64Array) => [...a].map((x) => `${names[String(x)] ?? '?'}_[k]`),
        stats: () => ({}),
        close() {},
      }) as unknown as Symbolizer,
  };
  return { parts, state };
}

function start(target: StartRun['target'], minBlockUs = 0n, skipKernelStacks = false, wallClockHz = 0): StartRun {
  return { jobId: 'j', runId: 'r', durationSec: 1, target, spec: { $case: 'offCpu', value: { minBlockUs, skipKernelStacks, maxTasks: 0, wallClockHz } }, startAtUnixMs: 0n };
}

const folded = (sent: AgentMessage[]): Map<string, bigint> => {
  const sum = new Map<string, bigint>();
  for (const m of sent) {
    if (m.msg?.$case !== 'profileBatch') continue;
    const b = m.msg.value;
    for (const s of b.stacks) {
      const k = s.frames.map((f) => b.strings[f]).join(';');
      sum.set(k, (sum.get(k) ?? 0n) + s.count);
    }
  }
  return sum;
};

async function run(s: StartRun, reads: OffCpuDelta[][]) {
  const sent: AgentMessage[] = [];
  const { parts, state } = fakeNative(reads);
  await new OffCpuRun(s, cfg, { send: async (m) => void sent.push(m) }, parts, () => undefined).run();
  return { sent, state };
}

describe('OffCpuRun', () => {
  it('sends each key\'s blocked µs as profile batch counts, root first with the kernel below, and the kernel figures at the end', async () => {
    const reads = [[delta(1500, 2, [1n, 2n, 3n], [9n])], [delta(500, 1, [1n, 2n, 3n], [9n]), delta(0, 0, [3n])]];
    const { sent, state } = await run(start({ kind: { $case: 'all', value: true } }, 1000n), reads);
    assert.deepEqual(state.opts, { minBlockNs: 1_000_000, kernelStacks: true, maxTasks: undefined, unwinder: undefined });
    const stacks = sent
      .filter((m) => m.msg?.$case === 'profileBatch')
      .flatMap((m) => {
        const b = (m.msg as Extract<AgentMessage['msg'], { $case: 'profileBatch' }>).value;
        return b.stacks.map((s) => ({ frames: s.frames.map((f) => b.strings[f]).join(';'), count: s.count }));
      });
    const sum = new Map<string, bigint>();
    for (const s of stacks) sum.set(s.frames, (sum.get(s.frames) ?? 0n) + s.count);
    assert.deepEqual([...sum], [['app;main;sleeper;leaf;__schedule_[k]', 2000n]]);
    const finished = sent.at(-1)!.msg;
    assert.equal(finished?.$case, 'runFinished');
    if (finished?.$case === 'runFinished') {
      assert.equal(finished.value.ok, true);
      assert.equal(finished.value.samplesTaken, 2000n, 'µs read from the kernel');
      assert.equal(finished.value.samplesDroppedKernel, 1n, 'blocks the kernel could not time or keep');
      assert.equal(finished.value.samplesSent, 2000n, 'µs sent, as the controller sums them');
      assert.match(finished.value.reason, /7 blocks counted, 3 shorter than the minimum left out/);
      assert.match(finished.value.reason, /1 blocks not measured/);
      assert.match(finished.value.reason, /2 blocks counted without their user stack/);
    }
    assert.equal(state.stopped, 1);
    assert.equal(state.closed, 1);
  });

  it('the wall-clock view roots each stack at the process, the thread and on-CPU or off-CPU', async () => {
    const reads = [[delta(1200, 3, [1n, 2n, 3n], [9n], 7), delta(300, 30, [1n, 3n], [], 7, true), delta(100, 10, [1n, 3n], [], 8, true)]];
    const { sent, state } = await run(start({ kind: { $case: 'all', value: true } }, 0n, false, 99), reads);
    assert.equal(state.opts?.wallClockHz, 99);
    assert.deepEqual([...folded(sent)].sort(), [
      ['app;tid 7;off-CPU;main;sleeper;leaf;__schedule_[k]', 1200n],
      ['app;tid 7;on-CPU;main;leaf', 300n],
      ['app;tid 8;on-CPU;main;leaf', 100n],
    ]);
  });

  it('passes the pid, comm and kernel-stack choices to the tracer; refuses a missing pid with the reason', async () => {
    let r = await run(start({ kind: { $case: 'pid', value: process.pid } }, 0n, true), []);
    assert.deepEqual(r.state.opts, { minBlockNs: 1000, kernelStacks: false, maxTasks: undefined, pid: process.pid, unwinder: undefined });
    r = await run(start({ kind: { $case: 'comm', value: 'nginx' } }), []);
    assert.equal(r.state.opts?.comm, 'nginx');
    r = await run(start({ kind: { $case: 'pid', value: 2 ** 31 - 2 } }), []);
    const finished = r.sent.at(-1)!.msg;
    assert.equal(finished?.$case, 'runFinished');
    if (finished?.$case === 'runFinished') {
      assert.equal(finished.value.ok, false);
      assert.match(finished.value.reason, /target pid \d+ does not exist/);
    }
  });
});
