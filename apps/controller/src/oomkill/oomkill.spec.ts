import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BadRequestException } from '@nestjs/common';
import { AgentMessage, type OomKill } from '@tracefleet/proto';
import { checkAgentMessage } from '../agents/batch-limits';
import { jobTypeDef } from '../job-types/registry';
import { typeParams } from '../jobs/job-spec';
import type { CreateJobDto } from '../jobs/dto/create-job.dto';
import { MAX_BATCH_KILLS, OOMKILL } from './oomkill.type';
import { oomkillQuery } from './oomkill.controller';
import { mergeTotals, oomkillText, type OomkillResults } from './oomkill.view';

const RUN = '11111111-2222-3333-4444-555555555555';
const names = (e: unknown): string => JSON.stringify((e as BadRequestException).getResponse());

const kill = (over: Partial<OomKill> = {}): OomKill => ({
  tsNs: 1n, unixMs: 2n, victimPid: 10, victimComm: 0, triggerPid: 11, triggerTid: 11, triggerComm: 0, uid: 0, oomScoreAdj: 0,
  totalVmKb: 1n, anonRssKb: 1n, fileRssKb: 0n, shmemRssKb: 0n, pgtablesKb: 0n, loadavg: '0.00 0.01 0.05', ...over,
});

describe('oomkill job type', () => {
  it('is registered by its name', () => {
    assert.equal(jobTypeDef('oomkill'), OOMKILL);
  });

  it('params: the default, the StartRun spec; every target kind', () => {
    const base = { type: 'oomkill', durationSec: 5, target: { all: true }, nodes: 'all' } as unknown as CreateJobDto;
    assert.deepEqual(typeParams(base), { maxEvents: 1000 });
    const p = typeParams({ ...base, maxEvents: 0 } as CreateJobDto);
    assert.deepEqual(OOMKILL.spec(p as never), { $case: 'oomkill', value: { maxEvents: 0 } });
    for (const target of [{ pid: 1 }, { comm: 'java' }, { cgroup: '/x' }]) assert.doesNotThrow(() => OOMKILL.params({ ...base, target } as never));
  });

  it('params: hostile values are 400s naming the field', () => {
    const base = { type: 'oomkill', durationSec: 5, target: { all: true } } as never as object;
    for (const v of [-1, 2_000_000, 1.5, '3']) assert.throws(() => OOMKILL.params({ ...base, maxEvents: v } as never), (e) => /maxEvents/.test(names(e)), String(v));
    assert.throws(() => typeParams({ ...base, type: 'oomkill', ports: [1] } as never), (e) => /ports applies only to tcp/.test(names(e)));
  });

  it('the query: hostile values are 400s naming the parameter', () => {
    assert.deepEqual(oomkillQuery({}), { node: undefined, pid: undefined, comm: undefined, limit: 100, afterId: undefined });
    assert.deepEqual(oomkillQuery({ pid: '7', limit: '5', after: '9', comm: 'java', node: 'n1' }), { node: 'n1', pid: 7, comm: 'java', limit: 5, afterId: 9n });
    const cases: [Record<string, string | string[]>, RegExp][] = [
      [{ pid: '0' }, /pid/], [{ pid: '-1' }, /pid/], [{ pid: '1e3' }, /pid/], [{ limit: '0' }, /limit/], [{ limit: '1001' }, /limit/],
      [{ after: 'x' }, /after/], [{ after: '1'.repeat(19) }, /after/], [{ comm: 'x'.repeat(16) }, /comm/], [{ comm: '' }, /comm/],
      [{ node: '' }, /node/], [{ pid: ['1', '2'] }, /pid must be given once/], [{ port: '80' }, /port is not a parameter/],
    ];
    for (const [q, re] of cases) assert.throws(() => oomkillQuery(q), (e) => re.test(names(e)), JSON.stringify(q));
  });

  it('the wire caps refuse more kills or a longer loadavg than an agent sends, before decoding', () => {
    const batch = (kills: OomKill[]) => AgentMessage.encode({ msg: { $case: 'oomKills', value: { runId: RUN, seq: 1n, strings: ['java'], kills } } }).finish();
    assert.equal(checkAgentMessage(batch([kill()])).violation, undefined);
    assert.equal(checkAgentMessage(batch([kill()])).runId, RUN);
    assert.ok(checkAgentMessage(batch(Array.from({ length: MAX_BATCH_KILLS + 1 }, () => kill()))).violation, 'too many kills');
    assert.ok(checkAgentMessage(batch([kill({ loadavg: 'x'.repeat(65) })])).violation, 'loadavg too long');
    const report = AgentMessage.encode({ msg: { $case: 'oomkillReport', value: { runId: RUN, kills: 1n, streamed: 1n, overBudget: 0n, dropped: 0n } } }).finish();
    assert.equal(checkAgentMessage(report).violation, undefined);
  });

  it('counters: merged is the sum of the nodes; a node without a report counts nothing', () => {
    const t = (k: bigint) => ({ kills: k, streamed: k, overBudget: 1n, dropped: 0n });
    const r = mergeTotals([
      { node: 'a', status: 'completed', totals: t(2n) },
      { node: 'b', status: 'completed', totals: t(3n) },
      { node: 'c', status: 'running', totals: null },
    ]);
    assert.deepEqual(r.merged, { kills: '5', streamed: '5', overBudget: '2', dropped: '0' });
    assert.deepEqual(r.nodes.map((n) => [n.node, n.reported, n.counters.kills]), [['a', true, '2'], ['b', true, '3'], ['c', false, '0']]);
  });

  it("text: oomkill's line with a node first", () => {
    const r: OomkillResults = {
      jobId: RUN,
      totals: mergeTotals([]),
      count: 1,
      kills: [{ id: '1', node: 'n1', time: '2026-12-05T19:04:05.000Z', tsNs: '1', victimPid: 10, victimComm: 'java', triggerPid: 11, triggerTid: 12, triggerComm: 'python3', uid: 0, oomScoreAdj: 0, totalVmKb: '9000', anonRssKb: '8000', fileRssKb: '400', shmemRssKb: '0', pgtablesKb: '40', rssPages: '2100', loadavg: '0.50 0.40 0.30' }],
      next: '1',
    };
    const text = oomkillText(r);
    assert.match(text, /^Tracing OOM kills/);
    assert.match(text, /n1\s+19:04:05 Triggered by PID 11 \("python3"\), OOM kill of PID 10 \("java"\), 2100 pages, loadavg: 0\.50 0\.40 0\.30/);
    assert.match(text, /\(more: \?after=1\)/);
  });
});
