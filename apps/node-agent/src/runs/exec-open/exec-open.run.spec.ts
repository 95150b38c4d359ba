import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ExecOpenRawEvent, ExecOpenStats, ExecOpenTracer, ExecOpenTracerOptions } from '@tracefleet/native';
import type { AgentMessage, ExecOpenEventBatch, ExecOpenReport, StartRun } from '@tracefleet/proto';
import { loadConfig } from '../../config';
import { EVENTS_PER_BATCH, ExecOpenRun, execOpenRingBytes, type ExecOpenNativeParts } from './exec-open.run';

const cfg = { ...loadConfig({ TRACEFLEET_CA_CERT: '/fleet/ca.pem', TRACEFLEET_ENROLLMENT_TOKEN: 'x'.repeat(32), TRACEFLEET_NODE_NAME: 'n1' }), flushIntervalMs: 300 };

const event = (i: number): ExecOpenRawEvent =>
  i % 2
    ? { kind: 'exec', syscall: 'execve', pid: 100 + i, tid: 100 + i, ppid: 1, uid: 0, comm: 'true', ret: 0, tsNs: BigInt(i), dfd: -100, path: '/bin/true', args: ['/bin/true', 'x'.repeat(2000)], argsTruncated: false, truncated: true, readFailed: false }
    : { kind: 'open', syscall: 'openat', pid: 7, tid: 7, ppid: 1, uid: 0, comm: 'cat', ret: -2, tsNs: BigInt(i), dfd: -100, path: '/missing', flags: 0x80000, mode: 0, argsTruncated: false, truncated: false, readFailed: false };

const STATS: ExecOpenStats = { execs: 1000n, opens: 1002n, noStart: 2n, overBudget: 3n, kernelDrops: 0n, queueDrops: 0n, delivered: 1999n, ring: { sizeBytes: 0, availBytes: 0, peakBytes: 0 } };

/** A stand-in for the native tracer: `emit` events arrive once started, in one callback. */
function fakeNative(emit: number) {
  const state: { opts?: Omit<ExecOpenTracerOptions, 'objectPath'>; closed: number } = { closed: 0 };
  const parts: ExecOpenNativeParts = {
    createExecOpen(opts) {
      state.opts = opts;
      return {
        start: () => setTimeout(() => opts.onEvents(Array.from({ length: emit }, (_, i) => event(i))), 10),
        stop: async () => STATS,
        stats: () => STATS,
        close: () => void state.closed++,
      } as unknown as ExecOpenTracer;
    },
  };
  return { parts, state };
}

function start(target: StartRun['target'], spec: Partial<{ exec: boolean; open: boolean; failedOnly: boolean; maxEvents: number }> = {}): StartRun {
  return { jobId: 'j', runId: 'r', durationSec: 1, target, spec: { $case: 'execOpen', value: { exec: true, open: true, failedOnly: false, maxEvents: 10_000, ...spec } }, startAtUnixMs: 0n };
}

async function run(s: StartRun, emit = 2500) {
  const sent: AgentMessage[] = [];
  const { parts, state } = fakeNative(emit);
  await new ExecOpenRun(s, cfg, { send: async (m) => void sent.push(m) }, parts, () => undefined).run();
  const of = <T>(c: string): T[] => sent.filter((m) => m.msg?.$case === c).map((m) => (m.msg as unknown as { value: T }).value);
  return { sent, state, batches: of<ExecOpenEventBatch>('execOpenEvents'), reports: of<ExecOpenReport>('execOpenReport') };
}

describe('ExecOpenRun', () => {
  it('streams numbered batches in order with a comm string table, then one report before RunFinished', async () => {
    const { sent, state, batches, reports } = await run(start({ kind: { $case: 'all', value: true } }, { open: false, failedOnly: true }));
    assert.deepEqual([state.opts?.exec, state.opts?.open, state.opts?.failedOnly], [true, false, true]);
    assert.equal(state.opts?.ringBufferBytes, execOpenRingBytes(10_000));
    assert.deepEqual(batches.map((b) => b.seq), batches.map((_, i) => BigInt(i + 1)));
    assert.ok(batches.every((b) => b.events.length <= EVENTS_PER_BATCH));
    const all = batches.flatMap((b) => b.events.map((e) => ({ ...e, comm: b.strings[e.comm] })));
    assert.equal(all.length, 2500);
    assert.deepEqual(all.map((e) => e.tsNs), all.map((_, i) => BigInt(i)), 'in the order they came');
    assert.deepEqual([all[0].kind, all[0].comm, all[0].ret, all[0].path, all[0].flags, all[0].args], [1, 'cat', -2, '/missing', 0x80000, []]);
    assert.deepEqual([all[1].kind, all[1].comm, all[1].args.length, all[1].args[1].length, all[1].truncated], [0, 'true', 2, 1024, true]);
    assert.equal(reports.length, 1);
    assert.deepEqual([reports[0].execs, reports[0].opens, reports[0].streamed, reports[0].overBudget, reports[0].noStart], [1000n, 1002n, 2500n, 3n, 2n]);
    const finished = sent.at(-1)!.msg;
    assert.equal(finished?.$case, 'runFinished');
    if (finished?.$case === 'runFinished') {
      assert.equal(finished.value.ok, true);
      assert.equal(finished.value.lastSeq, BigInt(batches.length));
      assert.match(finished.value.reason, /2 calls not followed.*3 events counted but not kept/);
    }
    assert.equal(state.closed, 1);
  });

  it('pid and comm targets go to the kernel filter; a spec with neither execs nor opens is refused', async () => {
    const byPid = await run(start({ kind: { $case: 'pid', value: process.pid } }), 0);
    assert.equal(byPid.state.opts?.pid, process.pid);
    const byComm = await run(start({ kind: { $case: 'comm', value: 'curl' } }), 0);
    assert.equal(byComm.state.opts?.comm, 'curl');
    assert.equal(byComm.batches.length, 0);
    const none = await run(start({ kind: { $case: 'all', value: true } }, { exec: false, open: false }), 0);
    assert.equal(none.state.opts, undefined);
    const finished = none.sent.at(-1)!.msg;
    assert.ok(finished?.$case === 'runFinished' && !finished.value.ok && /execs, opens or both/.test(finished.value.reason), JSON.stringify(finished, (_, v) => (typeof v === 'bigint' ? String(v) : v)));
  });
});
