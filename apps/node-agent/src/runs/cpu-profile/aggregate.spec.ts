import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { RawSample } from '@tracefleet/native';
import { originTable, splitFolded, StackAggregator, type FrameSymbolizer } from './aggregate';

function sample(pid: number, user: number[], kernel: number[] = [], comm = 'app', count = 1): RawSample {
  return {
    pid,
    tid: pid,
    cpu: 0,
    comm,
    userStack: BigUint64Array.from(user.map(BigInt)),
    kernelStack: BigUint64Array.from(kernel.map(BigInt)),
    userStackError: 0,
    kernelStackError: 0,
    pyFrames: new BigUint64Array(),
    pyStatus: 0,
    pyTruncated: false,
    count,
  };
}

const names: Record<string, string> = { '1': 'hot_spin', '2': 'work', '3': 'main', '4': 'work' };
const fakeSymbolizer: FrameSymbolizer & { calls: number } = {
  calls: 0,
  symbolizeUser(_pid, addrs) {
    this.calls++;
    return [...addrs].map((a) => names[String(a)] ?? `x+0x${a.toString(16)}`);
  },
  symbolizeKernel(addrs) {
    return [...addrs].map((a) => `k${a}_[k]`);
  },
};

describe('StackAggregator', () => {
  it('counts identical stacks once and folds them root first', () => {
    const agg = new StackAggregator(100);
    agg.add([sample(7, [1, 2, 3]), sample(7, [1, 2, 3]), sample(7, [2, 3], [9, 8])]);
    fakeSymbolizer.calls = 0;
    const batch = agg.drain(fakeSymbolizer);
    assert.equal(batch.samples, 3);
    assert.equal(fakeSymbolizer.calls, 2, 'each distinct raw stack is symbolized once');
    const folded = batch.stacks.map((s) => `${s.frames.map((f) => batch.strings[f]).join(';')} ${s.count}`).sort();
    assert.deepEqual(folded, ['app;main;work 1'.replace('work 1', 'work;k8_[k];k9_[k] 1'), 'app;main;work;hot_spin 2'].sort());
    assert.equal(agg.size, 0);
  });

  it('merges raw stacks that symbolize to the same path', () => {
    const agg = new StackAggregator(100);
    agg.add([sample(7, [2, 3]), sample(7, [4, 3])]);
    const batch = agg.drain(fakeSymbolizer);
    assert.equal(batch.stacks.length, 1);
    assert.equal(batch.stacks[0].count, 2);
  });

  it('counts samples past the bound as dropped', () => {
    const agg = new StackAggregator(2);
    agg.add([sample(1, [1]), sample(1, [2]), sample(1, [3]), sample(1, [1])]);
    assert.equal(agg.dropped, 1);
    assert.equal(agg.drain(fakeSymbolizer).samples, 3);
  });

  it('takes a folded sample as the samples it stands for, kept and dropped alike', () => {
    const agg = new StackAggregator(1);
    agg.add([sample(7, [1, 2, 3], [], 'app', 40), sample(7, [1, 2, 3], [], 'app', 2), sample(7, [5], [], 'app', 9)]);
    assert.equal(agg.dropped, 9, 'a folded sample past the bound drops every sample it stands for');
    const batch = agg.drain(fakeSymbolizer);
    assert.equal(batch.samples, 42);
    assert.deepEqual(batch.stacks.map((s) => s.count), [42]);
  });

  it('names an unreadable user stack instead of hiding it', () => {
    const agg = new StackAggregator(10);
    const s = sample(5, []);
    s.userStackError = -14;
    agg.add([s]);
    const batch = agg.drain(fakeSymbolizer);
    assert.deepEqual(batch.strings, ['app', '[user stack unreadable: errno 14]']);
  });

  it('labels stacks with where their process ran: same frames in two containers stay apart, same container merges', () => {
    const agg = new StackAggregator(100);
    agg.add([sample(7, [1, 2, 3]), sample(8, [1, 2, 3]), sample(9, [1, 2, 3]), sample(10, [1, 2, 3])]);
    const a = { cgroup: '/docker/a', containerId: 'a'.repeat(64) };
    // pids 7 and 8 in container a (distinct objects, equal labels), 9 elsewhere, 10 not known (exited)
    const origins: Record<number, object | undefined> = { 7: { ...a }, 8: { ...a }, 9: { cgroup: '/system.slice/x.service' } };
    const batch = agg.drain(fakeSymbolizer, undefined, (pid) => origins[pid] as never);
    assert.deepEqual(
      batch.stacks.map((s) => [s.count, s.origin?.cgroup]).sort(),
      [[1, '/system.slice/x.service'], [1, undefined], [2, '/docker/a']].sort(),
    );
    const [only] = splitFolded(batch);
    const { origins: table, index } = originTable(only.stacks);
    assert.equal(table.length, 2);
    assert.deepEqual(table.find((o) => o.cgroup === '/docker/a'), { cgroup: '/docker/a', containerId: 'a'.repeat(64), podUid: '' });
    only.stacks.forEach((s, i) => assert.equal(index[i] === 0 ? undefined : table[index[i] - 1].cgroup, s.origin?.cgroup));
  });
});
