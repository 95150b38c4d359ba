import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BadRequestException } from '@nestjs/common';
import { AgentMessage, type TcpConnection, type TcpReport } from '@tracefleet/proto';
import { checkAgentMessage } from '../agents/batch-limits';
import { jobTypeDef } from '../job-types/registry';
import { typeParams } from '../jobs/job-spec';
import type { CreateJobDto } from '../jobs/dto/create-job.dto';
import { MAX_BATCH_CONNECTIONS, TCP } from './tcp.type';
import { tcpQuery } from './tcp.controller';
import { mergeConnect, tcplifeText, TCP_SLOTS, type TcpResults } from './tcp.view';

const RUN = '11111111-2222-3333-4444-555555555555';
const slots = (at: Record<number, bigint>): bigint[] => Array.from({ length: TCP_SLOTS }, (_, i) => at[i] ?? 0n);
const names = (e: unknown): string => JSON.stringify((e as BadRequestException).getResponse());

const conn = (over: Partial<TcpConnection> = {}): TcpConnection => ({
  pid: 1, comm: 0, family: 4, saddr: '127.0.0.1', daddr: '127.0.0.1', sport: 1, dport: 2, startNs: 1n, endNs: 2n,
  connectNs: 0n, rxBytes: 0n, txBytes: 0n, active: true, pidSource: 'connect', ...over,
});

describe('tcp job type', () => {
  it('is registered by its name', () => {
    assert.equal(jobTypeDef('tcp'), TCP);
  });

  it('params: defaults, ports deduplicated, the StartRun spec', () => {
    const base = { type: 'tcp', durationSec: 5, target: { all: true }, nodes: 'all' } as unknown as CreateJobDto;
    assert.deepEqual(typeParams(base), { ports: [], family: 0, maxEvents: 100_000, maxSockets: 16_384 });
    const p = typeParams({ ...base, ports: [80, 443, 80], family: 6, maxEvents: 0, maxSockets: 64 } as CreateJobDto);
    assert.deepEqual(p, { ports: [80, 443], family: 6, maxEvents: 0, maxSockets: 64 });
    assert.deepEqual(TCP.spec(p as never), { $case: 'tcp', value: { ports: [80, 443], family: 6, maxEvents: 0, maxSockets: 64 } });
    // Every target kind is accepted: pid, comm, all, cgroup, container.
    for (const target of [{ pid: 1 }, { comm: 'nginx' }, { cgroup: '/x' }]) assert.doesNotThrow(() => TCP.params({ ...base, target } as never));
  });

  it('params: hostile values are 400s naming the field', () => {
    const base = { type: 'tcp', durationSec: 5, target: { all: true } } as never as object;
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ ports: [0] }, /ports\[0\]/],
      [{ ports: [65536] }, /ports\[0\]/],
      [{ ports: [80, 'x'] }, /ports\[1\]/],
      [{ ports: [1, 2, 3, 4, 5, 6, 7, 8, 9] }, /ports /],
      [{ ports: 'http' }, /ports /],
      [{ family: 5 }, /family/],
      [{ family: '4' }, /family/],
      [{ maxEvents: -1 }, /maxEvents/],
      [{ maxEvents: 2_000_000 }, /maxEvents/],
      [{ maxSockets: 63 }, /maxSockets/],
      [{ maxSockets: 1.5 }, /maxSockets/],
    ];
    for (const [over, re] of cases) assert.throws(() => TCP.params({ ...base, ...over } as never), (e) => re.test(names(e)), JSON.stringify(over));
    assert.throws(() => typeParams({ ...base, type: 'runqlat', ports: [1] } as never), (e) => /ports applies only to tcp/.test(names(e)));
  });

  it('the query: hostile values are 400s naming the parameter', () => {
    assert.deepEqual(tcpQuery({}), { node: undefined, pid: undefined, comm: undefined, port: undefined, family: undefined, limit: 100, afterId: undefined });
    assert.deepEqual(tcpQuery({ pid: '7', port: '80', family: '6', limit: '5', after: '9', comm: 'curl', node: 'n1' }), { node: 'n1', pid: 7, comm: 'curl', port: 80, family: 6, limit: 5, afterId: 9n });
    const cases: [Record<string, string | string[]>, RegExp][] = [
      [{ pid: '0' }, /pid/], [{ pid: '-1' }, /pid/], [{ pid: '1e3' }, /pid/], [{ port: '65536' }, /port/], [{ family: '5' }, /family/],
      [{ limit: '0' }, /limit/], [{ limit: '1001' }, /limit/], [{ after: 'x' }, /after/], [{ after: '1'.repeat(19) }, /after/],
      [{ comm: 'x'.repeat(16) }, /comm/], [{ comm: '' }, /comm/], [{ node: '' }, /node/], [{ pid: ['1', '2'] }, /pid must be given once/], [{ bogus: '1' }, /bogus/],
    ];
    for (const [q, re] of cases) assert.throws(() => tcpQuery(q), (e) => re.test(names(e)), JSON.stringify(q));
  });

  it('the wire caps refuse more connections, longer addresses or more slots than an agent sends, before decoding', () => {
    const batch = (connections: TcpConnection[]) => AgentMessage.encode({ msg: { $case: 'tcpConnections', value: { runId: RUN, seq: 1n, strings: ['curl'], connections } } }).finish();
    assert.equal(checkAgentMessage(batch([conn()])).violation, undefined);
    assert.equal(checkAgentMessage(batch([conn()])).runId, RUN);
    assert.ok(checkAgentMessage(batch(Array.from({ length: MAX_BATCH_CONNECTIONS + 1 }, () => conn()))).violation, 'too many connections');
    assert.ok(checkAgentMessage(batch([conn({ saddr: 'x'.repeat(65) })])).violation, 'address too long');
    const report = (n: number): TcpReport => ({ runId: RUN, connectSlots: Array.from({ length: n }, () => 1n), connectTotalNs: 0n, connects: 0n, closed: 0n, streamed: 0n, noStart: 0n, untracked: 0n, overBudget: 0n, dropped: 0n });
    assert.equal(checkAgentMessage(AgentMessage.encode({ msg: { $case: 'tcpReport', value: report(TCP_SLOTS) } }).finish()).violation, undefined);
    assert.ok(checkAgentMessage(AgentMessage.encode({ msg: { $case: 'tcpReport', value: report(TCP_SLOTS + 1) } }).finish()).violation, 'too many slots');
  });

  it('connect latency: merged is the sum of the nodes; a node without a report counts nothing', () => {
    const totals = (at: Record<number, bigint>, ns: bigint) => ({ connectSlots: slots(at), connectTotalNs: ns, connects: 1n, closed: 2n, streamed: 2n, noStart: 0n, untracked: 3n, overBudget: 0n, dropped: 0n });
    const r = mergeConnect([
      { node: 'a', status: 'completed', totals: totals({ 16: 2n }, 200_000_000n) },
      { node: 'b', status: 'completed', totals: totals({ 16: 1n, 17: 1n }, 300_000_000n) },
      { node: 'c', status: 'running', totals: null },
    ]);
    assert.equal(r.merged.count, '4');
    assert.deepEqual(r.merged.slots.map((s) => [s.lowUs, s.count]), [[65536, '3'], [131072, '1']]);
    assert.deepEqual(r.nodes.map((n) => [n.node, n.histogram.count, n.reported, n.counters.untracked]), [['a', '2', true, '3'], ['b', '2', true, '3'], ['c', '0', false, '0']]);
    assert.equal(r.merged.meanUs, 125_000, 'mean from the exact sums');
  });

  it("text: tcplife's columns, then the histogram", () => {
    const r: TcpResults = {
      jobId: RUN,
      connectLatency: mergeConnect([]),
      lifetimes: { count: 1, meanMs: 500, minMs: 500, maxMs: 500, rxBytes: '3001', txBytes: '5002' },
      connections: [{ id: '1', node: 'n1', pid: 42, comm: 'curl', family: 4, saddr: '10.0.0.1', sport: 5555, daddr: '10.0.0.2', dport: 80, active: true, pidSource: 'connect', startNs: '1', lifetimeMs: 500.25, connectUs: 1234.5, rxBytes: '3001', txBytes: '5002' }],
      next: '1',
    };
    const text = tcplifeText(r);
    assert.match(text, /^NODE\s+PID\s+COMM\s+LADDR\s+LPORT\s+RADDR\s+RPORT\s+TX_KB\s+RX_KB\s+MS\s+LAT\(ms\)/);
    assert.match(text, /n1\s+42\s+curl\s+10\.0\.0\.1\s+5555\s+10\.0\.0\.2\s+80\s+4\s+2\s+500\.25\s+1\.23[45]/);
    assert.match(text, /\(more: \?after=1\)/);
    assert.match(text, /usecs\s+: count\s+distribution/);
  });
});
