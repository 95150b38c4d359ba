import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BadRequestException } from '@nestjs/common';
import { AgentMessage, type BiolatencyReport } from '@tracefleet/proto';
import { checkAgentMessage } from '../agents/batch-limits';
import { jobTypeDef } from '../job-types/registry';
import { typeParams } from '../jobs/job-spec';
import type { CreateJobDto } from '../jobs/dto/create-job.dto';
import { BIOLATENCY, MAX_REPORT_HISTOGRAMS } from './biolatency.type';
import { biolatencySvg, biolatencyText, LAT_SLOTS, LATENCY, mergeBiolatency, SIZE, SIZE_SLOTS } from './biolatency.view';
import { percentile } from './log2';

const RUN = '11111111-2222-3333-4444-555555555555';
const fill = (n: number, at: Record<number, bigint>): bigint[] => Array.from({ length: n }, (_, i) => at[i] ?? 0n);
const lat = (at: Record<number, bigint>): bigint[] => fill(LAT_SLOTS, at);
const size = (at: Record<number, bigint>): bigint[] => fill(SIZE_SLOTS, at);

function fakePrisma() {
  const written: { rows: unknown[]; update?: unknown; totals?: unknown; deleted: number } = { rows: [], deleted: 0 };
  const prisma = {
    biolatencyHistogram: {
      deleteMany: () => (written.deleted++, 'delete'),
      createMany: (a: { data: unknown[] }) => ((written.rows = a.data), 'create'),
    },
    biolatencyTotals: { upsert: (a: unknown) => ((written.totals = a), 'upsert') },
    jobRun: { update: (a: unknown) => ((written.update = a), 'update') },
    $transaction: async (ops: unknown[]) => ops,
  };
  return { prisma: prisma as never, written };
}

type Hist = BiolatencyReport['histograms'][number];
const hist = (over: Partial<Hist> = {}): Hist => ({
  disk: 'loop0', major: 7, minor: 0, pid: 0, comm: '', latency: lat({ 5: 3n }), size: size({ 2: 3n }), totalNs: 90_000n, totalBytes: 12_288n, ...over,
});
const report = (histograms: Hist[], over: Partial<BiolatencyReport> = {}): BiolatencyReport => ({
  runId: RUN, histograms, ios: 3n, startFull: 1n, noStart: 2n, noHist: 0n, final: true, histogramsLeftOut: 0n, ...over,
});

describe('biolatency job type', () => {
  it('is registered by its name', () => {
    assert.equal(jobTypeDef('biolatency'), BIOLATENCY);
  });

  it('params: booleans, a disk name, maxRequests within [64, 2^20], defaulted; a comm target is refused naming target.comm', () => {
    const base = { type: 'biolatency', durationSec: 5, target: { all: true }, nodes: 'all' } as unknown as CreateJobDto;
    assert.deepEqual(typeParams(base), { perProcess: false, queued: false, disk: '', maxRequests: 10_240 });
    assert.deepEqual(typeParams({ ...base, perProcess: true, queued: true, disk: 'nvme0n1', maxRequests: 64 } as CreateJobDto), { perProcess: true, queued: true, disk: 'nvme0n1', maxRequests: 64 });
    const refused = (over: Record<string, unknown>, field: RegExp) =>
      assert.throws(() => BIOLATENCY.params({ ...base, ...over }), (e: BadRequestException) => field.test(JSON.stringify(e.getResponse())), JSON.stringify(over));
    for (const bad of [0, 63, 1.5, 2 ** 20 + 1, '9']) refused({ maxRequests: bad }, /maxRequests/);
    for (const bad of ['../sda', '/dev/sda', 'a b', '.x', 'x'.repeat(65), 7]) refused({ disk: bad }, /disk/);
    refused({ perProcess: 'yes' }, /perProcess/);
    refused({ queued: 1 }, /queued/);
    refused({ target: { comm: 'x' } }, /target.comm/);
    assert.throws(() => typeParams({ ...base, type: 'runqlat', perProcess: true } as CreateJobDto), (e: BadRequestException) => /perProcess applies only to biolatency/.test(JSON.stringify(e.getResponse())));
    assert.deepEqual(BIOLATENCY.spec({ perProcess: true, queued: false, disk: 'sda', maxRequests: 99 }), { $case: 'biolatency', value: { perProcess: true, queued: false, disk: 'sda', maxRequests: 99 } });
  });

  it('store: a snapshot replaces the run\'s earlier one; malformed histograms are not stored', async () => {
    const { prisma, written } = fakePrisma();
    const stored = await BIOLATENCY.store(prisma, { id: RUN }, report([
      hist({ pid: 42, comm: 'dd' }),
      hist({ latency: [1n, 2n] }),
      hist({ size: size({ 1: 2n ** 63n }) }),
      hist({ disk: '../etc' }),
    ]));
    assert.equal(stored, 1n);
    assert.deepEqual(written.rows, [{ runId: RUN, disk: 'loop0', major: 7, minor: 0, pid: 42, comm: 'dd', latency: lat({ 5: 3n }), size: size({ 2: 3n }), totalNs: 90_000n, totalBytes: 12_288n }]);
    assert.equal(written.deleted, 1);
    assert.deepEqual((written.totals as { update: unknown }).update, { ios: 3n, startFull: 1n, noStart: 2n, noHist: 0n, histogramsLeftOut: 0n, final: true });
  });

  it('the wire caps refuse more histograms or slots than an agent sends, before decoding', () => {
    const ok = AgentMessage.encode({ msg: { $case: 'biolatencyReport', value: report([hist()]) } }).finish();
    assert.equal(checkAgentMessage(ok).violation, undefined);
    assert.equal(checkAgentMessage(ok).runId, RUN);
    const many = AgentMessage.encode({ msg: { $case: 'biolatencyReport', value: report(Array.from({ length: MAX_REPORT_HISTOGRAMS + 1 }, () => hist())) } }).finish();
    assert.ok(checkAgentMessage(many).violation, 'too many histograms');
    for (const h of [hist({ latency: [...lat({}), 1n] }), hist({ size: [...size({}), 1n] }), hist({ comm: 'x'.repeat(65) })]) {
      assert.ok(checkAgentMessage(AgentMessage.encode({ msg: { $case: 'biolatencyReport', value: report([h]) } }).finish()).violation);
    }
  });

  it('percentiles from log2 slots, in either unit', () => {
    assert.equal(percentile(LATENCY, lat({}), 0.5), 0);
    assert.equal(percentile(LATENCY, lat({ 10: 100n }), 0.5), 1536);
    assert.equal(percentile(SIZE, size({ 2: 1n, 6: 1n }), 1), 128);
    assert.equal(percentile(SIZE, size({ [SIZE_SLOTS - 1]: 3n }), 0.5), 2 ** (SIZE_SLOTS - 1));
  });

  it('merges across nodes, keeps each node, each disk (by name), each node\'s disk and each process', () => {
    const r = mergeBiolatency('j', [
      { node: 'b', status: 'completed', totals: { ios: 4n, startFull: 2n, noStart: 0n, noHist: 0n, histogramsLeftOut: 1n, final: true }, histograms: [
        hist({ pid: 9, comm: 'dd', latency: lat({ 4: 4n }), size: size({ 6: 4n }), totalNs: 80_000n, totalBytes: 4n * 65536n }),
      ] },
      { node: 'a', status: 'running', totals: null, histograms: [
        hist({ pid: 5, comm: 'dd', latency: lat({ 4: 1n, 12: 2n }), size: size({ 2: 3n }), totalNs: 9_000_000n, totalBytes: 3n * 4096n }),
        hist({ disk: 'sda', major: 8, minor: 0, pid: 5, comm: 'dd', latency: lat({ 12: 1n }), size: size({ 0: 1n }), totalNs: 5_000_000n, totalBytes: 512n }),
      ] },
    ]);
    assert.equal(r.merged.latency.count, '8');
    assert.equal(r.merged.size.count, '8');
    assert.deepEqual(r.merged.size.slots.map((s) => [s.low, s.count]), [[0, '1'], [4, '3'], [64, '4']]);
    assert.deepEqual(r.merged.latency.slots.map((s) => [s.low, s.count]), [[16, '5'], [4096, '3']]);
    assert.equal(r.merged.totalBytes, String(4n * 65536n + 3n * 4096n + 512n));
    assert.deepEqual(r.nodes.map((n) => [n.node, n.latency.count, n.final, n.startFull]), [['a', '4', false, '0'], ['b', '4', true, '2']]);
    assert.deepEqual(r.notMeasured, { startFull: '2', noHist: '0', histogramsLeftOut: '1' });
    assert.deepEqual(r.disks.map((d) => [d.disk, d.latency.count]), [['loop0', '7'], ['sda', '1']]);
    assert.deepEqual(r.byNodeDisk.map((d) => [d.node, d.disk, d.latency.count]), [['a', 'loop0', '3'], ['a', 'sda', '1'], ['b', 'loop0', '4']]);
    assert.deepEqual(r.byProcess.map((p) => [p.node, p.disk, p.pid, p.latency.count]), [['b', 'loop0', 9, '4'], ['a', 'loop0', 5, '3'], ['a', 'sda', 5, '1']]);
    assert.equal(r.merged.size.mean, Math.round((Number(4n * 65536n + 3n * 4096n + 512n) / 8 / 1024) * 10) / 10);
    const perDisk = mergeBiolatency('j', [{ node: 'a', status: 'completed', totals: null, histograms: [hist(), hist({ disk: '', major: 8, minor: 16 })] }]);
    assert.deepEqual(perDisk.byProcess, []);
    assert.deepEqual(perDisk.disks.map((d) => d.disk), ['8:16', 'loop0'].sort((x, y) => x.localeCompare(y)));
  });

  it('text (bcc layout) and SVG renderings name the slots and the counts', () => {
    const r = mergeBiolatency('j', [{ node: 'a', status: 'completed', totals: null, histograms: [
      hist({ pid: 7, comm: 'dd', latency: lat({ 0: 1n, 3: 40n, 5: 20n }), size: size({ 2: 40n, 6: 21n }) }),
    ] }]);
    const text = biolatencyText(r, 'title');
    assert.match(text, /usecs\s+: count\s+distribution/);
    assert.match(text, /Kbytes\s+: count\s+distribution/);
    assert.match(text, /\s+8 -> 15\s+: 40\s+\|\*{40}\|/);
    assert.match(text, /\s+16 -> 31\s+: 0 /);
    assert.match(text, /\s+4 -> 7\s+: 40\s+\|\*{40}\|/);
    assert.match(text, /\s+64 -> 127\s+: 21\s+\|\*{21}\s+\|/);
    assert.match(text, /disk = loop0/);
    assert.match(text, /Process Name = dd · pid 7/);
    const svg = biolatencySvg(r, 'a <title>');
    assert.match(svg, /^<\?xml/);
    assert.match(svg, /a &lt;title&gt;/);
    assert.equal((svg.match(/<rect /g) ?? []).length, 1 + 6 + 5);
  });
});
