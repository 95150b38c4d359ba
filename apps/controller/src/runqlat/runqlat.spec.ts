import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BadRequestException } from '@nestjs/common';
import { AgentMessage, type RunqlatReport } from '@tracefleet/proto';
import { checkAgentMessage } from '../agents/batch-limits';
import { jobTypeDef } from '../job-types/registry';
import { typeParams } from '../jobs/job-spec';
import type { CreateJobDto } from '../jobs/dto/create-job.dto';
import { MAX_REPORT_HISTOGRAMS, RUNQLAT } from './runqlat.type';
import { histogramView, log2Svg, log2Text, mergeRunqlat, percentileUs, RUNQLAT_SLOTS } from './runqlat.view';

const RUN = '11111111-2222-3333-4444-555555555555';
const slots = (at: Record<number, bigint>): bigint[] => Array.from({ length: RUNQLAT_SLOTS }, (_, i) => at[i] ?? 0n);

function fakePrisma() {
  const written: { rows: unknown[]; update?: unknown; totals?: unknown; deleted: number } = { rows: [], deleted: 0 };
  const prisma = {
    runqlatHistogram: {
      deleteMany: () => (written.deleted++, 'delete'),
      createMany: (a: { data: unknown[] }) => ((written.rows = a.data), 'create'),
    },
    runqlatTotals: { upsert: (a: unknown) => ((written.totals = a), 'upsert') },
    jobRun: { update: (a: unknown) => ((written.update = a), 'update') },
    $transaction: async (ops: unknown[]) => ops,
  };
  return { prisma: prisma as never, written };
}

const report = (histograms: RunqlatReport['histograms'], over: Partial<RunqlatReport> = {}): RunqlatReport => ({
  runId: RUN,
  histograms,
  latencies: 10n,
  noStart: 1n,
  noHist: 0n,
  final: true,
  ...over,
});

describe('runqlat job type', () => {
  it('is registered by its name', () => {
    assert.equal(jobTypeDef('runqlat'), RUNQLAT);
  });

  it('params: perCgroup boolean, maxTasks within [64, 2^20], defaulted; a comm target is refused naming target.comm', () => {
    const base = { type: 'runqlat', durationSec: 5, target: { all: true }, nodes: 'all' } as unknown as CreateJobDto;
    assert.deepEqual(typeParams(base), { perCgroup: false, maxTasks: 10_240 });
    assert.deepEqual(typeParams({ ...base, perCgroup: true, maxTasks: 64 } as CreateJobDto), { perCgroup: true, maxTasks: 64 });
    for (const bad of [0, 63, 1.5, 2 ** 20 + 1, '9'] as unknown[]) {
      assert.throws(() => RUNQLAT.params({ ...base, maxTasks: bad }), (e: BadRequestException) => /maxTasks/.test(JSON.stringify(e.getResponse())));
    }
    assert.throws(() => RUNQLAT.params({ ...base, perCgroup: 'yes' }), (e: BadRequestException) => /perCgroup/.test(JSON.stringify(e.getResponse())));
    assert.throws(() => RUNQLAT.params({ ...base, target: { comm: 'x' } }), (e: BadRequestException) => /target.comm/.test(JSON.stringify(e.getResponse())));
    assert.throws(() => typeParams({ ...base, type: 'syscount', perCgroup: true } as CreateJobDto), (e: BadRequestException) => /perCgroup applies only to runqlat/.test(JSON.stringify(e.getResponse())));
    assert.deepEqual(RUNQLAT.spec({ perCgroup: true, maxTasks: 99 }), { $case: 'runqlat', value: { perCgroup: true, maxTasks: 99 } });
  });

  it('store: a snapshot replaces the run\'s earlier one; malformed histograms are not stored', async () => {
    const { prisma, written } = fakePrisma();
    const stored = await RUNQLAT.store(prisma, { id: RUN }, report([
      { cgroupId: 0n, slots: slots({ 3: 5n }), totalNs: 50_000n },
      { cgroupId: 7n, slots: [1n, 2n], totalNs: 1n },
      { cgroupId: 8n, slots: slots({ 1: 2n ** 63n }), totalNs: 1n },
    ]));
    assert.equal(stored, 1n);
    assert.deepEqual(written.rows, [{ runId: RUN, cgroupId: 0n, slots: slots({ 3: 5n }), totalNs: 50_000n }]);
    assert.equal(written.deleted, 1);
    assert.deepEqual((written.totals as { update: unknown }).update, { latencies: 10n, noStart: 1n, noHist: 0n, final: true });
  });

  it('the wire caps refuse more histograms or slots than an agent sends, before decoding', () => {
    const h = { cgroupId: 1n, slots: slots({}), totalNs: 0n };
    const ok = AgentMessage.encode({ msg: { $case: 'runqlatReport', value: report([h]) } }).finish();
    assert.equal(checkAgentMessage(ok).violation, undefined);
    assert.equal(checkAgentMessage(ok).runId, RUN);
    const many = AgentMessage.encode({ msg: { $case: 'runqlatReport', value: report(Array.from({ length: MAX_REPORT_HISTOGRAMS + 1 }, () => h)) } }).finish();
    assert.ok(checkAgentMessage(many).violation, 'too many histograms');
    const long = AgentMessage.encode({ msg: { $case: 'runqlatReport', value: report([{ ...h, slots: [...h.slots, 1n] }]) } }).finish();
    assert.ok(checkAgentMessage(long).violation, 'too many slots');
  });

  it('percentiles from log2 slots: linear within the slot', () => {
    assert.equal(percentileUs(slots({}), 0.5), 0);
    assert.equal(percentileUs(slots({ 10: 100n }), 0.5), 1536); // middle of [1024, 2048)
    assert.equal(percentileUs(slots({ 0: 50n, 10: 50n }), 0.99), 2027.5);
    assert.equal(percentileUs(slots({ [RUNQLAT_SLOTS - 1]: 3n }), 0.5), 2 ** (RUNQLAT_SLOTS - 1));
    const v = histogramView(slots({ 2: 3n, 4: 1n }), 40_000n);
    assert.deepEqual(v.slots, [{ lowUs: 4, highUs: 8, count: '3' }, { lowUs: 16, highUs: 32, count: '1' }]);
    assert.equal(v.meanUs, 10);
    assert.equal(v.count, '4');
  });

  it('merges across nodes, keeps each node and, per cgroup, each (node, cgroup)', () => {
    const r = mergeRunqlat('j', [
      { node: 'b', status: 'completed', totals: { latencies: 4n, noStart: 2n, noHist: 0n, final: true }, histograms: [{ cgroupId: 5n, slots: slots({ 1: 4n }), totalNs: 8000n }] },
      { node: 'a', status: 'running', totals: null, histograms: [
        { cgroupId: 5n, slots: slots({ 1: 1n, 12: 2n }), totalNs: 9_000_000n },
        { cgroupId: 6n, slots: slots({ 12: 1n }), totalNs: 5_000_000n },
      ] },
    ]);
    assert.equal(r.merged.count, '8');
    assert.deepEqual(r.merged.slots.map((s) => [s.lowUs, s.count]), [[2, '5'], [4096, '3']]);
    assert.deepEqual(r.nodes.map((n) => [n.node, n.histogram.count, n.final, n.noStart]), [['a', '4', false, '0'], ['b', '4', true, '2']]);
    assert.deepEqual(r.notMeasured, { noStart: '2', noHist: '0' });
    assert.deepEqual(r.byCgroup.map((c) => [c.node, c.cgroupId, c.histogram.count]), [['b', '5', '4'], ['a', '5', '3'], ['a', '6', '1']]);
    assert.deepEqual(mergeRunqlat('j', [{ node: 'a', status: 'completed', totals: null, histograms: [{ cgroupId: 0n, slots: slots({ 1: 1n }), totalNs: 1n }] }]).byCgroup, []);
  });

  it('text and SVG renderings name the slots and the counts', () => {
    const v = histogramView(slots({ 0: 1n, 3: 40n, 5: 20n }), 1_000_000n);
    const text = log2Text(v, 'title');
    assert.match(text, /usecs\s+: count\s+distribution/);
    assert.match(text, /\s+8 -> 15\s+: 40\s+\|\*{40}\|/);
    assert.match(text, /\s+16 -> 31\s+: 0 /);
    assert.match(text, /\s+32 -> 63\s+: 20\s+\|\*{20}\s+\|/);
    const svg = log2Svg(v, 'a <title>');
    assert.match(svg, /^<\?xml/);
    assert.match(svg, /a &lt;title&gt;/);
    assert.equal((svg.match(/<rect /g) ?? []).length, 1 + 6);
  });
});
