import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { TcpRawConnection, TcpStats, TcpTracer, TcpTracerOptions } from '@tracefleet/native';
import type { AgentMessage, StartRun, TcpConnectionBatch, TcpReport } from '@tracefleet/proto';
import { loadConfig } from '../../config';
import { CONNECTIONS_PER_BATCH, TcpRun, tcpRingBytes, type TcpNativeParts } from './tcp.run';

const cfg = { ...loadConfig({ TRACEFLEET_CA_CERT: '/fleet/ca.pem', TRACEFLEET_ENROLLMENT_TOKEN: 'x'.repeat(32), TRACEFLEET_NODE_NAME: 'n1' }), flushIntervalMs: 300 };

const conn = (i: number): TcpRawConnection => ({
  pid: 100 + (i % 2), comm: i % 2 ? 'curl' : 'nginx', family: 4, saddr: '127.0.0.1', daddr: '127.0.0.1', sport: 1000 + i, dport: 80,
  startNs: 1n, endNs: 2n, connectNs: 5n, rxBytes: 10n, txBytes: 20n, active: true, pidSource: 'connect',
});

const STATS: TcpStats = {
  closed: 7003n, connects: 5n, noStart: 2n, untracked: 1n, overBudget: 3n, kernelDrops: 0n, queueDrops: 0n, delivered: 7000n,
  connectSlots: Array.from({ length: 27 }, (_, i) => (i === 7 ? 5n : 0n)), connectTotalNs: 999n, ring: { sizeBytes: 0, availBytes: 0, peakBytes: 0 },
};

/** A stand-in for the native tracer: `emit` connections arrive once started, in one callback. */
function fakeNative(emit: number) {
  const state: { opts?: Omit<TcpTracerOptions, 'objectPath'>; closed: number } = { closed: 0 };
  const parts: TcpNativeParts = {
    createTcp(opts) {
      state.opts = opts;
      return {
        start: () => setTimeout(() => opts.onEvents(Array.from({ length: emit }, (_, i) => conn(i))), 10),
        stop: async () => STATS,
        stats: () => STATS,
        close: () => void state.closed++,
      } as unknown as TcpTracer;
    },
  };
  return { parts, state };
}

function start(target: StartRun['target'], spec: Partial<{ ports: number[]; family: number; maxEvents: number; maxSockets: number }> = {}): StartRun {
  return { jobId: 'j', runId: 'r', durationSec: 1, target, spec: { $case: 'tcp', value: { ports: [], family: 0, maxEvents: 10_000, maxSockets: 0, ...spec } }, startAtUnixMs: 0n };
}

async function run(s: StartRun, emit = 7000) {
  const sent: AgentMessage[] = [];
  const { parts, state } = fakeNative(emit);
  await new TcpRun(s, cfg, { send: async (m) => void sent.push(m) }, parts, () => undefined).run();
  const of = <T>(c: string): T[] => sent.filter((m) => m.msg?.$case === c).map((m) => (m.msg as unknown as { value: T }).value);
  return { sent, state, batches: of<TcpConnectionBatch>('tcpConnections'), reports: of<TcpReport>('tcpReport') };
}

describe('TcpRun', () => {
  it('streams numbered batches with a comm string table, then one report before RunFinished', async () => {
    const { sent, state, batches, reports } = await run(start({ kind: { $case: 'all', value: true } }, { ports: [80], family: 4, maxSockets: 128 }));
    assert.equal(state.opts?.maxSockets, 128);
    assert.deepEqual(state.opts?.ports, [80]);
    assert.equal(state.opts?.family, 4);
    assert.equal(state.opts?.ringBufferBytes, tcpRingBytes(10_000));
    assert.deepEqual(batches.map((b) => b.seq), batches.map((_, i) => BigInt(i + 1)));
    assert.ok(batches.every((b) => b.connections.length <= CONNECTIONS_PER_BATCH));
    assert.equal(batches.reduce((n, b) => n + b.connections.length, 0), 7000);
    const first = batches[0];
    assert.deepEqual([...first.strings].sort(), ['curl', 'nginx']);
    assert.equal(first.strings[first.connections[1].comm], 'curl');
    assert.equal(reports.length, 1);
    assert.equal(reports[0].streamed, 7000n);
    assert.equal(reports[0].overBudget, 3n);
    assert.deepEqual(reports[0].connectSlots, STATS.connectSlots);
    const finished = sent.at(-1)!.msg;
    assert.equal(finished?.$case, 'runFinished');
    if (finished?.$case === 'runFinished') {
      assert.equal(finished.value.ok, true);
      assert.equal(finished.value.lastSeq, BigInt(batches.length));
      assert.match(finished.value.reason, /2 sockets not followed.*3 connections counted but not kept/);
    }
    assert.equal(state.closed, 1);
  });

  it('pid and comm targets go to the kernel filter; family 0 is both', async () => {
    const byPid = await run(start({ kind: { $case: 'pid', value: process.pid } }), 0);
    assert.equal(byPid.state.opts?.pid, process.pid);
    assert.equal(byPid.state.opts?.family, undefined);
    const byComm = await run(start({ kind: { $case: 'comm', value: 'curl' } }), 0);
    assert.equal(byComm.state.opts?.comm, 'curl');
    assert.equal(byComm.batches.length, 0);
  });
});
