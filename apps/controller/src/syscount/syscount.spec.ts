import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BadRequestException } from '@nestjs/common';
import type { SyscountReport } from '@tracefleet/proto';
import { checkAgentMessage } from '../agents/batch-limits';
import { AgentMessage } from '@tracefleet/proto';
import { jobTypeDef } from '../job-types/registry';
import { typeParams } from '../jobs/job-spec';
import type { CreateJobDto } from '../jobs/dto/create-job.dto';
import { MAX_REPORT_ENTRIES, SYSCOUNT } from './syscount.type';
import { mergeSyscount } from './syscount.view';

const RUN = '11111111-2222-3333-4444-555555555555';

/** A stand-in for Prisma that records what the store wrote. */
function fakePrisma() {
  const written: { rows: unknown[]; update?: unknown; totals?: unknown; deleted: number } = { rows: [], deleted: 0 };
  const prisma = {
    syscountCount: {
      deleteMany: () => (written.deleted++, 'delete'),
      createMany: (a: { data: unknown[] }) => ((written.rows = a.data), 'create'),
    },
    syscountTotals: { upsert: (a: unknown) => ((written.totals = a), 'upsert') },
    jobRun: { update: (a: unknown) => ((written.update = a), 'update') },
    $transaction: async (ops: unknown[]) => ops,
  };
  return { prisma: prisma as never, written };
}

const report = (entries: SyscountReport['entries'], over: Partial<SyscountReport> = {}): SyscountReport => ({
  runId: RUN,
  entries,
  calls: 10n,
  uncounted: 0n,
  entriesLeftOut: 0n,
  callsLeftOut: 0n,
  ...over,
});

describe('syscount job type', () => {
  it('is registered by its REST and database names', () => {
    assert.equal(jobTypeDef('syscount'), SYSCOUNT);
    assert.equal(jobTypeDef('memleak')?.name, 'memleak');
  });

  it('params: maxKeys within [1, 2^20], defaulted; other types refuse it and it refuses theirs', () => {
    const base = { type: 'syscount', durationSec: 5, target: { all: true }, nodes: 'all' } as unknown as CreateJobDto;
    assert.deepEqual(typeParams(base), { maxKeys: 16_384 });
    assert.deepEqual(typeParams({ ...base, maxKeys: 7 }), { maxKeys: 7 });
    for (const bad of [0, -1, 1.5, 2 ** 20 + 1, '9'] as unknown[]) assert.throws(() => SYSCOUNT.params({ ...base, maxKeys: bad }), BadRequestException);
    assert.throws(() => typeParams({ ...base, frequencyHz: 99 }), (e: BadRequestException) => /frequencyHz applies only to cpu-profile/.test(JSON.stringify(e.getResponse())));
    assert.throws(() => typeParams({ ...base, type: 'memleak', maxKeys: 5 } as CreateJobDto), (e: BadRequestException) => /maxKeys applies only to syscount/.test(JSON.stringify(e.getResponse())));
    assert.deepEqual(SYSCOUNT.spec({ maxKeys: 7 }), { $case: 'syscount', value: { maxKeys: 7 } });
  });

  it('store: hostile entries are cleaned or dropped, a pair sent twice counts once, totals kept', async () => {
    const { prisma, written } = fakePrisma();
    const stored = await SYSCOUNT.store(prisma, { id: RUN }, report([
      { pid: 10, comm: 'a\nFAKE', nr: 1, name: 'write', count: 3n },
      { pid: 10, comm: 'a', nr: 1, name: 'write', count: 4n },
      { pid: 11, comm: 'b', nr: 2, name: '<script>', count: 1n },
      { pid: 0, comm: 'c', nr: 3, name: 'x', count: 1n },
      { pid: 12, comm: 'd', nr: 3, name: 'x', count: 2n ** 63n },
    ]));
    assert.equal(stored, 2n);
    assert.deepEqual(written.rows, [
      { runId: RUN, pid: 10, nr: 1, name: 'write', comm: 'a', count: 4n },
      { runId: RUN, pid: 11, nr: 2, name: '', comm: 'b', count: 1n },
    ]);
    assert.equal(written.deleted, 1);
    const totals = written.totals as { create: { totals: { entriesRefused: number; calls: string } }; update: { totals: unknown } };
    assert.equal(totals.create.totals.entriesRefused, 3);
    assert.equal(totals.create.totals.calls, '10');
    assert.deepEqual(totals.update.totals, totals.create.totals);
    const update = written.update as { data: { samplesReceived: bigint } };
    assert.equal(update.data.samplesReceived, 2n);
  });

  it('the wire caps refuse a report with more entries than an agent sends, before decoding', () => {
    const entry = { pid: 1, comm: 'x', nr: 1, name: 'read', count: 1n };
    const ok = AgentMessage.encode({ msg: { $case: 'syscountReport', value: report([entry]) } }).finish();
    assert.equal(checkAgentMessage(ok).violation, undefined);
    assert.equal(checkAgentMessage(ok).runId, RUN);
    const many = AgentMessage.encode({ msg: { $case: 'syscountReport', value: report(Array.from({ length: MAX_REPORT_ENTRIES + 1 }, () => entry)) } }).finish();
    assert.ok(checkAgentMessage(many).violation, 'too many entries');
    const longName = AgentMessage.encode({ msg: { $case: 'syscountReport', value: report([{ ...entry, name: 'n'.repeat(65) }]) } }).finish();
    assert.ok(checkAgentMessage(longName).violation, 'name over 64 bytes');
  });

  it('merges across nodes by syscall and per (node, process), largest first', () => {
    const r = mergeSyscount('j', [
      { node: 'b', status: 'completed', report: { calls: '7', uncounted: '1', callsLeftOut: '0', entriesLeftOut: '0' }, counts: [{ pid: 5, nr: 0, name: 'read', comm: 'app', count: 7n }] },
      { node: 'a', status: 'completed', report: { calls: '12', uncounted: '0', callsLeftOut: '2', entriesLeftOut: '1' }, counts: [
        { pid: 5, nr: 0, name: 'read', comm: 'app', count: 2n },
        { pid: 5, nr: 1, name: 'write', comm: 'app', count: 8n },
        { pid: 6, nr: 400, name: '', comm: 'odd', count: 1n },
      ] },
    ], 50);
    assert.deepEqual(r.totals, { calls: '19', uncounted: '1', callsLeftOut: '2', entriesLeftOut: '1' });
    assert.deepEqual(r.bySyscall.map((s) => [s.name, s.count, s.byNode]), [['read', '9', { b: '7', a: '2' }], ['write', '8', { a: '8' }], ['syscall 400', '1', { a: '1' }]]);
    assert.deepEqual(r.byProcess.map((p) => [p.node, p.pid, p.count, p.top.map((t) => t.name)]), [['a', 5, '10', ['write', 'read']], ['b', 5, '7', ['read']], ['a', 6, '1', ['syscall 400']]]);
    assert.deepEqual(r.nodes.map((n) => n.node), ['a', 'b']);
    assert.equal(mergeSyscount('j', [], 1).bySyscall.length, 0);
  });
});
