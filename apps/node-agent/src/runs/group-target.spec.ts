// Cgroup and container targets on this host's real cgroups: a v2 cgroup is filtered by id in the kernel, a v1
// cgroup becomes a pid set the agent keeps current (processes that join are added, those that leave removed),
// and targets that name nothing are refused with the reason. Needs root (it makes cgroups).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Target } from '@tracefleet/proto';
import { findCgroup2Mount } from '../lib/proc';
import { GroupTarget, pidListSink, RESCAN_MS } from './group-target';
import { RunRejected } from './tracing-run';

const tag = `tf-spec-gt-${process.pid}-${Date.now().toString(36)}`;
const cgroup = (value: string): Target => ({ kind: { $case: 'cgroup', value } });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('GroupTarget', () => {
  const children: ChildProcess[] = [];
  const dirs: string[] = [];
  const sleeper = (): ChildProcess => {
    const c = spawn('sleep', ['30'], { stdio: 'ignore' });
    children.push(c);
    return c;
  };
  const makeCgroup = (root: string, name = tag): string => {
    const dir = join(root, name);
    mkdirSync(dir);
    dirs.push(dir);
    return dir;
  };

  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await sleep(100);
    for (const d of dirs) if (existsSync(d)) rmdirSync(d);
  });

  it('is none for pid, comm and all targets', () => {
    assert.equal(GroupTarget.from({ kind: { $case: 'pid', value: 1 } }, 'n1'), undefined);
    assert.equal(GroupTarget.from({ kind: { $case: 'all', value: true } }, 'n1'), undefined);
    assert.equal(GroupTarget.from(undefined, 'n1'), undefined);
  });

  it('filters a cgroup v2 cgroup in the kernel by its id and depth', () => {
    const mount = findCgroup2Mount();
    assert.ok(mount, 'this test needs a cgroup2 hierarchy mounted (this host mounts it at /sys/fs/cgroup/unified)');
    const dir = makeCgroup(mount);
    const child = sleeper();
    writeFileSync(join(dir, 'cgroup.procs'), String(child.pid));
    const g = GroupTarget.from(cgroup(`/${tag}`), 'n1')!;
    assert.deepEqual(g.filter, { targetCgroup: { id: statSync(dir, { bigint: true }).ino, level: 1 } });
    assert.deepEqual(g.pids(), [child.pid]);
    assert.match(g.notes()[0], /filtered in the kernel by its cgroup id/);
    // Nothing to follow: the kernel does it.
    g.follow({ addTargetPid: () => assert.fail('no pid set for a v2 cgroup'), removeTargetPid: () => undefined });
    g.close();
  });

  it('keeps a pid set for a cgroup v1 cgroup: members now, those that join, not those that leave', async () => {
    // Its own name: a path that is a v2 cgroup too is filtered as the v2 one.
    const dir = makeCgroup('/sys/fs/cgroup/cpu', `${tag}-v1`);
    const first = sleeper();
    writeFileSync(join(dir, 'cgroup.procs'), String(first.pid));
    const g = GroupTarget.from(cgroup(`/${tag}-v1`), 'n1')!;
    assert.deepEqual(g.filter, { targetPids: true });
    const set = new Set<number>();
    const news: number[][] = [];
    g.follow({ addTargetPid: (p) => set.add(p), removeTargetPid: (p) => set.delete(p) }, (pids) => news.push(pids));
    try {
      assert.deepEqual([...set], [first.pid]);
      const second = sleeper();
      writeFileSync(join(dir, 'cgroup.procs'), String(second.pid));
      await sleep(RESCAN_MS * 3);
      assert.deepEqual([...set].sort(), [first.pid, second.pid].sort());
      assert.deepEqual(news, [[first.pid], [second.pid]]);
      writeFileSync('/sys/fs/cgroup/cpu/cgroup.procs', String(first.pid)); // moved out
      await sleep(RESCAN_MS * 3);
      assert.deepEqual([...set], [second.pid]);
    } finally {
      g.close();
    }
    assert.match(g.notes()[0], /cgroup v1 cgroup: its processes are followed by a \/proc scan every 500 ms/);
  });

  it('says why a pid could not join the set (a full map)', async () => {
    assert.ok(existsSync(join('/sys/fs/cgroup/cpu', `${tag}-v1`)));
    const g = GroupTarget.from(cgroup(`/${tag}-v1`), 'n1')!;
    g.follow({ addTargetPid: () => { throw new Error('the set is full (16384 pids)'); }, removeTargetPid: () => undefined });
    g.close();
    assert.match(g.notes().join('\n'), /1 processes of the target could not be added to the pid set \(the set is full/);
  });

  it('refuses targets that name nothing here, or are malformed, with the reason', () => {
    const rejects = (t: Target, msg: RegExp) => assert.throws(() => GroupTarget.from(t, 'n1'), (e: unknown) => e instanceof RunRejected && msg.test(e.message));
    rejects(cgroup(`/${tag}-missing`), /no cgroup \/tf-spec-gt-.*-missing on node n1/);
    rejects(cgroup('/a/../b'), /\.\./);
    rejects(cgroup('relative'), /absolute/);
    rejects({ kind: { $case: 'container', value: 'XYZ' } }, /4 to 64 lowercase hex/);
    rejects({ kind: { $case: 'container', value: '0123456789abcdef' } }, /no running container has an id starting with 0123456789abcdef on node n1/);
  });

  it('drives a tracer that takes its whole pid list at once', () => {
    const lists: number[][] = [];
    const sink = pidListSink((p) => lists.push(p));
    sink.addTargetPid(5);
    sink.addTargetPid(7);
    sink.removeTargetPid(5);
    sink.removeTargetPid(99);
    assert.deepEqual(lists, [[5], [5, 7], [7]]);
  });
});
