// Job targets filtered in the kernel (target.bpf.h), with the Profiler: a cgroup v2 subtree, a pid set the
// caller keeps, both together, and the options and methods refused at the boundary.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { objectPath } from '@tracefleet/bpf';

import { MemleakTracer, Profiler, SslTracer, SyscountTracer, UsdtTracer, layouts, type ProfilerOptions } from './index';
import { SPINNER_SOURCE, compileC, profileFor, profileObject, runUntilReady, sleep, tempDir, waitForExit } from './spec-support';
import { TestCgroup } from './target-spec-support';

const pids = (samples: Array<{ pid: number }>): number[] => [...new Set(samples.map((s) => s.pid))].sort((a, b) => a - b);

async function stopAll(children: ChildProcess[]): Promise<void> {
  for (const child of children) child.kill('SIGKILL');
  await Promise.all(children.map(waitForExit));
}

describe('Profiler job targets (real kernel)', () => {
  const dir = tempDir('target');
  let spinner = '';
  before(() => {
    spinner = compileC(dir, 'tgspin', SPINNER_SOURCE, ['-O1']);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('targetCgroup: samples of the cgroup and the cgroups below it, none of a busy process outside', async () => {
    const cgroup = new TestCgroup('profile');
    const children: ChildProcess[] = [];
    try {
      const inside = await runUntilReady(spinner, ['5']);
      children.push(inside);
      const nested = await runUntilReady(spinner, ['5']);
      children.push(nested);
      const outside = await runUntilReady(spinner, ['5']);
      children.push(outside);
      cgroup.add(inside.pid!);
      cgroup.add(nested.pid!, cgroup.child('nested'));

      const { samples, stats } = await profileFor({ frequencyHz: 99, targetCgroup: cgroup.target }, 1500);
      console.log(`targetCgroup ${cgroup.id}: ${samples.length} samples of pids ${pids(samples)}; outside ${outside.pid}`);
      assert.ok(samples.length >= 50, `expected about 150 samples of the cgroup's two spinners on 2 CPUs, got ${samples.length}`);
      assert.deepEqual(pids(samples), [inside.pid!, nested.pid!].sort((a, b) => a - b), 'samples of a process outside the cgroup');
      assert.equal(stats.samplesSeen, stats.delivered);

      // The id as a number works the same; the spinner outside is busy all along (the control).
      const control = await profileFor({ frequencyHz: 99, targetPid: outside.pid! }, 500);
      assert.ok(control.samples.length > 10, `the process outside ran too (${control.samples.length} samples)`);
      const asNumber = await profileFor({ frequencyHz: 99, targetCgroup: { id: Number(cgroup.id), level: 1 }, targetPid: inside.pid! }, 500);
      assert.ok(asNumber.samples.length > 10 && asNumber.samples.every((s) => s.pid === inside.pid), 'a number id, ANDed with targetPid');
    } finally {
      await stopAll(children);
      await cgroup.close();
    }
  });

  test('targetPids: nothing before addTargetPid, then only that process, nothing once removed', async () => {
    const children: ChildProcess[] = [];
    const samples: Array<{ pid: number }> = [];
    const profiler = new Profiler({ objectPath: profileObject(), frequencyHz: 199, targetPids: true, onSamples: (b) => samples.push(...b) });
    try {
      const wanted = await runUntilReady(spinner, ['5']);
      children.push(wanted);
      const other = await runUntilReady(spinner, ['5']);
      children.push(other);
      profiler.start();
      await sleep(500);
      assert.equal(profiler.stats().samplesSeen, 0n, 'an empty pid set let samples through');

      profiler.addTargetPid(wanted.pid!);
      profiler.addTargetPid(wanted.pid!); // again: no error, no second entry
      await sleep(800);
      const seen = profiler.stats().samplesSeen;
      assert.ok(seen >= 50n, `expected about 160 samples at 199 Hz for 0.8 s, got ${seen}`);

      profiler.removeTargetPid(wanted.pid!);
      profiler.removeTargetPid(wanted.pid!); // not there any more: nothing to do
      await sleep(50); // a sample that looked the pid up just before the delete may still count
      const afterRemove = profiler.stats().samplesSeen;
      await sleep(500);
      assert.equal(profiler.stats().samplesSeen, afterRemove, 'samples after removeTargetPid');

      const stats = await profiler.stop();
      assert.equal(stats.delivered, stats.samplesSeen);
      assert.deepEqual(pids(samples), [wanted.pid!]);
    } finally {
      profiler.close();
      await stopAll(children);
    }
  });

  test('targetCgroup and targetPids together: a process must be in both', async () => {
    const cgroup = new TestCgroup('both');
    const children: ChildProcess[] = [];
    const samples: Array<{ pid: number }> = [];
    const profiler = new Profiler({
      objectPath: profileObject(),
      frequencyHz: 199,
      targetCgroup: cgroup.target,
      targetPids: true,
      onSamples: (b) => samples.push(...b),
    });
    try {
      const inside = await runUntilReady(spinner, ['5']);
      children.push(inside);
      const outside = await runUntilReady(spinner, ['5']);
      children.push(outside);
      cgroup.add(inside.pid!);
      profiler.start();
      profiler.addTargetPid(outside.pid!);
      await sleep(500);
      assert.equal(profiler.stats().samplesSeen, 0n, 'a listed process outside the cgroup was sampled');
      profiler.addTargetPid(inside.pid!);
      await sleep(500);
      await profiler.stop();
      assert.ok(samples.length > 20, `got ${samples.length} samples`);
      assert.deepEqual(pids(samples), [inside.pid!]);
    } finally {
      profiler.close();
      await stopAll(children);
      await cgroup.close();
    }
  });
});

describe('job target options and methods at the boundary', () => {
  const base = { objectPath: objectPath('profile'), frequencyHz: 99, onSamples: () => {} };
  const profiler = (extra: Record<string, unknown>) => () => new Profiler({ ...base, ...extra } as ProfilerOptions);

  test('bad targetCgroup and targetPids values are TypeErrors naming the option', () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ targetCgroup: { id: -1, level: 1 } }, /option targetCgroup\.id must be an integer in 1\.\.9007199254740991, got -1/],
      [{ targetCgroup: { id: -1 } }, /option targetCgroup\.id must be an integer/],
      [{ targetCgroup: { id: -1n, level: 1 } }, /option targetCgroup\.id must be a bigint in 0\.\.2\^64-1/],
      [{ targetCgroup: { id: 0n, level: 1 } }, /option targetCgroup\.id must be a cgroup id > 0/],
      [{ targetCgroup: { id: 0, level: 1 } }, /option targetCgroup\.id must be an integer in 1\.\./],
      [{ targetCgroup: { id: 1.5, level: 1 } }, /option targetCgroup\.id must be an integer/],
      [{ targetCgroup: { id: '7', level: 1 } }, /option targetCgroup\.id must be a bigint or an integer, got "7"/],
      [{ targetCgroup: { id: 1, level: 'x' } }, /option targetCgroup\.level must be an integer in 0\.\.1000, got "x"/],
      [{ targetCgroup: { id: 1 } }, /option targetCgroup\.level must be an integer in 0\.\.1000, got undefined/],
      [{ targetCgroup: { id: 1, level: 1001 } }, /option targetCgroup\.level must be an integer in 0\.\.1000/],
      [{ targetCgroup: { id: 1, level: 1, path: '/x' } }, /unknown option targetCgroup\.path/],
      [{ targetCgroup: 5 }, /option targetCgroup must be an object, got 5/],
      [{ targetCgroup: [1, 1] }, /option targetCgroup must be an object, got an array/],
      [{ targetPids: 'yes' }, /option targetPids must be a boolean/],
    ];
    for (const [extra, message] of cases) {
      assert.throws(profiler(extra), (err: Error) => err instanceof TypeError && message.test(err.message) && /Usage: new Profiler/.test(err.message), `${JSON.stringify(extra, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v))}`);
    }
    const syscount = objectPath('syscount');
    assert.throws(() => new SyscountTracer({ objectPath: syscount, targetCgroup: { id: 1, level: 'x' as unknown as number } }), /targetCgroup\.level/);
    assert.throws(() => new SyscountTracer({ objectPath: syscount, targetCgroup: { id: 1, level: 1, x: 1 } as never }), /unknown option targetCgroup\.x/);
    const usdt = { objectPath: objectPath('usdt'), probes: [{ path: '/bin/true', provider: 'p', name: 'n', probe: 0 }], maxEvents: 1, onEvents: () => {} };
    assert.throws(() => new UsdtTracer({ ...usdt, targetCgroup: { id: -1, level: 1 } }), /targetCgroup\.id/);
    // Memleak and SSL take the cgroup only: their pid filters are their own.
    assert.throws(() => new MemleakTracer({ objectPath: objectPath('memleak'), mode: 'kernel', targetPids: true } as never), /unknown option targetPids/);
    assert.throws(() => new SslTracer({ objectPath: objectPath('ssl'), maxDataBytes: 0, targetPids: true, onEvents: () => {} } as never), /unknown option targetPids/);
    assert.throws(() => new SslTracer({ objectPath: objectPath('ssl'), maxDataBytes: 0, targetCgroup: { id: 1, level: -1 }, onEvents: () => {} }), /targetCgroup\.level/);
  });

  test('addTargetPid/removeTargetPid: a bad pid is a TypeError; without targetPids or once closed, an error saying so', () => {
    const listed = new Profiler({ ...base, targetPids: true });
    const plain = new Profiler(base);
    const counter = new SyscountTracer({ objectPath: objectPath('syscount') });
    try {
      for (const bad of [0, -1, 1.5, 2 ** 31, '12', undefined]) {
        assert.throws(() => listed.addTargetPid(bad as number), /TypeError: pid must be an integer in 1\.\.2147483647.*Usage: tracer\.addTargetPid/);
        assert.throws(() => listed.removeTargetPid(bad as number), TypeError);
      }
      assert.throws(() => plain.addTargetPid(1), /^Error: Profiler\.addTargetPid\(\): this Profiler was made without targetPids: true$/);
      assert.throws(() => plain.removeTargetPid(1), /Profiler\.removeTargetPid\(\): this Profiler was made without targetPids: true/);
      assert.throws(() => counter.addTargetPid(1), /SyscountTracer\.addTargetPid\(\): this SyscountTracer was made without targetPids: true/);
      listed.addTargetPid(process.pid);
      listed.close();
      assert.throws(() => listed.addTargetPid(process.pid), /Profiler\.addTargetPid\(\): the tracer is closed/);
      counter.close();
      assert.throws(() => counter.removeTargetPid(1), /SyscountTracer\.removeTargetPid\(\): the tracer is closed/);
    } finally {
      listed.close();
      plain.close();
      counter.close();
    }
  });

  test('a full pid set is an error naming the limit; a pid already there still updates', () => {
    const limit = layouts().limits.TRACEFLEET_MAX_TARGET_PIDS;
    const counter = new SyscountTracer({ objectPath: objectPath('syscount'), targetPids: true });
    try {
      for (let pid = 1; pid <= limit; pid++) counter.addTargetPid(pid);
      assert.throws(
        () => counter.addTargetPid(limit + 1),
        new RegExp(`SyscountTracer\\.addTargetPid\\(\\): add pid ${limit + 1} to the target pids of syscount\\.bpf\\.o: the set is full \\(${limit} pids, TRACEFLEET_MAX_TARGET_PIDS\\)`),
      );
      counter.addTargetPid(limit);
      counter.removeTargetPid(1);
      counter.addTargetPid(limit + 1);
    } finally {
      counter.close();
    }
  });
});
