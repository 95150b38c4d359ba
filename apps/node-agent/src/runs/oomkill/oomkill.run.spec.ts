import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { OomkillRawKill, OomkillStats, OomkillTracer, OomkillTracerOptions } from '@tracefleet/native';
import type { AgentMessage, OomKillBatch, OomkillReport, StartRun } from '@tracefleet/proto';
import { loadConfig } from '../../config';
import { loadavg, OomkillRun, oomkillRingBytes, type OomkillNativeParts } from './oomkill.run';

const cfg = { ...loadConfig({ TRACEFLEET_CA_CERT: '/fleet/ca.pem', TRACEFLEET_ENROLLMENT_TOKEN: 'x'.repeat(32), TRACEFLEET_NODE_NAME: 'n1' }), flushIntervalMs: 300 };

const kill = (i: number): OomkillRawKill => ({
  tsNs: BigInt(i), victimPid: 100 + i, victimComm: i % 2 ? 'java' : 'python3', triggerPid: 200, triggerTid: 201, triggerComm: 'java', uid: 0, oomScoreAdj: -100,
  totalVmKb: 9000n, anonRssKb: 8000n, fileRssKb: 100n, shmemRssKb: 0n, pgtablesKb: 40n,
});

const STATS: OomkillStats = { kills: 5n, overBudget: 2n, kernelDrops: 0n, queueDrops: 0n, delivered: 3n, ring: { sizeBytes: 0, availBytes: 0, peakBytes: 0 } };

function fakeNative(emit: number) {
  const state: { opts?: Omit<OomkillTracerOptions, 'objectPath'>; closed: number } = { closed: 0 };
  const parts: OomkillNativeParts = {
    createOomkill(opts) {
      state.opts = opts;
      return {
        start: () => setTimeout(() => opts.onEvents(Array.from({ length: emit }, (_, i) => kill(i))), 10),
        stop: async () => STATS,
        stats: () => STATS,
        close: () => void state.closed++,
      } as unknown as OomkillTracer;
    },
  };
  return { parts, state };
}

const start = (target: StartRun['target'], maxEvents = 3): StartRun => ({ jobId: 'j', runId: 'r', durationSec: 1, target, spec: { $case: 'oomkill', value: { maxEvents } }, startAtUnixMs: 0n });

async function run(s: StartRun, emit = 3) {
  const sent: AgentMessage[] = [];
  const { parts, state } = fakeNative(emit);
  await new OomkillRun(s, cfg, { send: async (m) => void sent.push(m) }, parts, () => undefined).run();
  const of = <T>(c: string): T[] => sent.filter((m) => m.msg?.$case === c).map((m) => (m.msg as unknown as { value: T }).value);
  return { sent, state, batches: of<OomKillBatch>('oomKills'), reports: of<OomkillReport>('oomkillReport') };
}

describe('OomkillRun', () => {
  it('streams a numbered batch with a comm string table and the loadavg, then one report before RunFinished', async () => {
    const { sent, state, batches, reports } = await run(start({ kind: { $case: 'all', value: true } }));
    assert.equal(state.opts?.maxEvents, 3);
    assert.equal(state.opts?.ringBufferBytes, oomkillRingBytes(3));
    assert.deepEqual(batches.map((b) => b.seq), [1n]);
    const b = batches[0];
    assert.equal(b.kills.length, 3);
    assert.deepEqual([...b.strings].sort(), ['java', 'python3']);
    assert.deepEqual(b.kills.map((k) => [b.strings[k.victimComm], b.strings[k.triggerComm], k.victimPid, k.oomScoreAdj]), [['python3', 'java', 100, -100], ['java', 'java', 101, -100], ['python3', 'java', 102, -100]]);
    assert.match(b.kills[0].loadavg, /^\d+\.\d+ \d+\.\d+ \d+\.\d+$/);
    assert.ok(Math.abs(Number(b.kills[0].unixMs) - Date.now()) < 10_000);
    assert.deepEqual(reports, [{ runId: 'r', kills: 5n, streamed: 3n, overBudget: 2n, dropped: 0n }]);
    const finished = sent.at(-1)!.msg;
    assert.equal(finished?.$case, 'runFinished');
    if (finished?.$case === 'runFinished') {
      assert.equal(finished.value.lastSeq, 1n);
      assert.match(finished.value.reason, /2 kills counted but not kept/);
    }
    assert.equal(state.closed, 1);
  });

  it('pid and comm targets go to the kernel filter (the victim)', async () => {
    assert.equal((await run(start({ kind: { $case: 'pid', value: process.pid } }), 0)).state.opts?.pid, process.pid);
    const byComm = await run(start({ kind: { $case: 'comm', value: 'java' } }), 0);
    assert.equal(byComm.state.opts?.comm, 'java');
    assert.equal(byComm.batches.length, 0);
  });

  it('loadavg reads /proc/loadavg', () => {
    assert.match(loadavg(), /^\d+\.\d+ \d+\.\d+ \d+\.\d+$/);
  });
});
