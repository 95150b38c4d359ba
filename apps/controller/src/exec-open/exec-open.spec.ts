import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BadRequestException } from '@nestjs/common';
import { AgentMessage, type ExecOpenEvent } from '@tracefleet/proto';
import { checkAgentMessage } from '../agents/batch-limits';
import { jobTypeDef } from '../job-types/registry';
import { typeParams } from '../jobs/job-spec';
import type { CreateJobDto } from '../jobs/dto/create-job.dto';
import { EXEC_OPEN, MAX_ARGS, MAX_BATCH_EVENTS, MAX_STRING_BYTES } from './exec-open.type';
import { execOpenQuery } from './exec-open.controller';
import { execOpenText, mergeCounters, type ExecOpenEventView, type ExecOpenResults } from './exec-open.view';

const RUN = '11111111-2222-3333-4444-555555555555';
const names = (e: unknown): string => JSON.stringify((e as BadRequestException).getResponse());

const ev = (over: Partial<ExecOpenEvent> = {}): ExecOpenEvent => ({
  kind: 0, syscall: 'execve', pid: 1, tid: 1, ppid: 0, uid: 0, comm: 0, ret: 0, tsNs: 1n, dfd: -100, path: '/bin/true', args: ['/bin/true'], flags: 0, mode: 0, truncated: false, ...over,
});

describe('exec-open job type', () => {
  it('is registered by its name', () => {
    assert.equal(jobTypeDef('exec-open'), EXEC_OPEN);
  });

  it('params: defaults, events, the StartRun spec', () => {
    const base = { type: 'exec-open', durationSec: 5, target: { all: true }, nodes: 'all' } as unknown as CreateJobDto;
    assert.deepEqual(typeParams(base), { exec: true, open: true, failedOnly: false, maxEvents: 100_000 });
    const p = typeParams({ ...base, events: ['open'], failedOnly: true, maxEvents: 0 } as CreateJobDto);
    assert.deepEqual(p, { exec: false, open: true, failedOnly: true, maxEvents: 0 });
    assert.deepEqual(EXEC_OPEN.spec(p as never), { $case: 'execOpen', value: { exec: false, open: true, failedOnly: true, maxEvents: 0 } });
    for (const target of [{ pid: 1 }, { comm: 'nginx' }, { cgroup: '/x' }]) assert.doesNotThrow(() => EXEC_OPEN.params({ ...base, target } as never));
  });

  it('params: hostile values are 400s naming the field', () => {
    const base = { type: 'exec-open', durationSec: 5, target: { all: true } } as never as object;
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ events: [] }, /events /],
      [{ events: 'exec' }, /events /],
      [{ events: ['exec', 'open', 'exec'] }, /events /],
      [{ events: ['fork'] }, /events\[0\]/],
      [{ events: ['exec', 1] }, /events\[1\]/],
      [{ failedOnly: 'yes' }, /failedOnly/],
      [{ maxEvents: -1 }, /maxEvents/],
      [{ maxEvents: 2_000_000 }, /maxEvents/],
      [{ maxEvents: 1.5 }, /maxEvents/],
    ];
    for (const [over, re] of cases) assert.throws(() => EXEC_OPEN.params({ ...base, ...over } as never), (e) => re.test(names(e)), JSON.stringify(over));
    assert.throws(() => typeParams({ ...base, type: 'runqlat', failedOnly: true } as never), (e) => /failedOnly applies only to exec-open/.test(names(e)));
  });

  it('the query: hostile values are 400s naming the parameter', () => {
    assert.deepEqual(execOpenQuery({}), { node: undefined, pid: undefined, comm: undefined, kind: undefined, failed: undefined, path: undefined, limit: 100, afterId: undefined });
    assert.deepEqual(execOpenQuery({ pid: '7', kind: 'open', failed: 'false', path: '/etc', limit: '5', after: '9', comm: 'cat', node: 'n1' }), { node: 'n1', pid: 7, comm: 'cat', kind: 'open', failed: false, path: '/etc', limit: 5, afterId: 9n });
    const cases: [Record<string, string | string[]>, RegExp][] = [
      [{ pid: '0' }, /pid/], [{ pid: '1e3' }, /pid/], [{ kind: 'fork' }, /kind/], [{ failed: '1' }, /failed/], [{ path: '' }, /path/], [{ path: 'x'.repeat(1025) }, /path/],
      [{ path: 'a\0b' }, /path/], [{ limit: '0' }, /limit/], [{ limit: '1001' }, /limit/], [{ after: 'x' }, /after/], [{ comm: 'x'.repeat(16) }, /comm/], [{ node: '' }, /node/],
      [{ kind: ['exec', 'open'] }, /kind must be given once/], [{ bogus: '1' }, /bogus/],
    ];
    for (const [q, re] of cases) assert.throws(() => execOpenQuery(q), (e) => re.test(names(e)), JSON.stringify(q));
  });

  it('the wire caps refuse more events, longer paths or more arguments than an agent sends, before decoding', () => {
    const batch = (events: ExecOpenEvent[]) => AgentMessage.encode({ msg: { $case: 'execOpenEvents', value: { runId: RUN, seq: 1n, strings: ['sh'], events } } }).finish();
    assert.equal(checkAgentMessage(batch([ev()])).violation, undefined);
    assert.equal(checkAgentMessage(batch([ev()])).runId, RUN);
    assert.ok(checkAgentMessage(batch(Array.from({ length: MAX_BATCH_EVENTS + 1 }, () => ev()))).violation, 'too many events');
    assert.ok(checkAgentMessage(batch([ev({ path: 'x'.repeat(MAX_STRING_BYTES + 1) })])).violation, 'path too long');
    assert.ok(checkAgentMessage(batch([ev({ args: ['y'.repeat(MAX_STRING_BYTES + 1)] })])).violation, 'argument too long');
    assert.ok(checkAgentMessage(batch([ev({ args: Array.from({ length: MAX_ARGS + 1 }, () => 'a') })])).violation, 'too many arguments');
  });

  it('counters: merged is the sum of the nodes; a node without a report counts nothing', () => {
    const t = (n: bigint) => ({ execs: n, opens: 2n * n, streamed: 3n * n, noStart: 0n, overBudget: 1n, dropped: 0n });
    const r = mergeCounters([{ node: 'a', status: 'completed', totals: t(1n) }, { node: 'b', status: 'completed', totals: t(2n) }, { node: 'c', status: 'running', totals: null }]);
    assert.deepEqual(r.counters, { execs: '3', opens: '6', streamed: '9', noStart: '0', overBudget: '2', dropped: '0' });
    assert.deepEqual(r.nodes.map((n) => [n.node, n.reported, n.counters.execs]), [['a', true, '1'], ['b', true, '2'], ['c', false, '0']]);
  });

  it("text: execsnoop's columns for execs, opensnoop's for opens", () => {
    const base: Omit<ExecOpenEventView, 'id' | 'kind' | 'path' | 'ret'> = { node: 'n1', syscall: 'execve', pid: 42, tid: 42, ppid: 7, uid: '0', comm: 'true', tsNs: '1', dfd: -100, args: null, flags: null, mode: null, truncated: false };
    const r: ExecOpenResults = {
      jobId: RUN,
      ...mergeCounters([]),
      matching: 2,
      events: [
        { ...base, id: '1', kind: 'exec', path: '/bin/true', ret: 0, args: ['/bin/true', 'a', 'b c'] },
        { ...base, id: '2', kind: 'open', syscall: 'openat', comm: 'cat', path: '/missing', ret: -2, flags: '0', mode: '0' },
        { ...base, id: '3', kind: 'open', syscall: 'openat', comm: 'cat', path: '/etc/hostname', ret: 3, flags: '0', mode: '0' },
      ],
      next: '3',
    };
    const text = execOpenText(r);
    assert.match(text, /^NODE\s+PCOMM\s+PID\s+PPID\s+RET\s+ARGS\nn1\s+true\s+42\s+7\s+0 \/bin\/true a "b c"\n/);
    assert.match(text, /\nNODE\s+PID\s+COMM\s+FD\s+ERR\s+PATH\nn1\s+42\s+cat\s+-1\s+2 \/missing\nn1\s+42\s+cat\s+3\s+0 \/etc\/hostname\n/);
    assert.match(text, /\(more: \?after=3\)/);
  });
});
