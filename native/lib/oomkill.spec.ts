import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { objectPath } from '@tracefleet/bpf';

import { OomkillTracer, layouts, type OomkillRawKill, type OomkillStats, type OomkillTracerOptions } from './index';
import { Target, ownBpfFds } from './usdt-spec-support';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const MEMCG = '/sys/fs/cgroup/memory';
const CG = join(MEMCG, `tf-oomkill-spec-${process.pid}`);
const LIMIT = 32 << 20;

function ensureTracefs(): void {
  if (existsSync('/sys/kernel/tracing/events') || existsSync('/sys/kernel/debug/tracing/events')) return;
  spawnSync('mount', ['-t', 'tracefs', 'tracefs', '/sys/kernel/tracing']);
}

describe('OomkillTracer (tracepoint oom:mark_victim, real kernel)', () => {
  let hog = '';
  before(() => {
    ensureTracefs();
    hog = join(mkdtempSync(join(tmpdir(), 'tf-oomkill-')), 'oom_hog'); // the comm is the file's name
    const res = spawnSync('gcc', ['-O1', '-o', hog, join(__dirname, '../../e2e/fixtures/oom_hog.c')], { encoding: 'utf8' });
    assert.equal(res.status, 0, res.stderr);
  });
  after(() => {
    if (existsSync(CG)) rmdirSync(CG);
    if (hog) rmSync(join(hog, '..'), { recursive: true, force: true });
  });

  test('the addon and oomkill.h agree on the event layout', () => {
    const l = layouts().oomkill;
    assert.equal(l.size, 104);
    assert.deepEqual(l.offsets, {
      ts_ns: 0, total_vm_kb: 8, anon_rss_kb: 16, file_rss_kb: 24, shmem_rss_kb: 32, pgtables_kb: 40, victim_pid: 48, trigger_pid: 52,
      trigger_tid: 56, uid: 60, oom_score_adj: 64, victim_comm: 72, trigger_comm: 88,
    });
    assert.equal(l.OOMKILL_COUNTER_MAX, 3);
  });

  test('a memory-cgroup OOM: the holder is the victim, the allocating process the trigger, with its memory figures', async () => {
    assert.ok(existsSync(MEMCG), `${MEMCG} is missing: the OOM kill needs a cgroup v1 memory hierarchy`);
    mkdirSync(CG);
    writeFileSync(join(CG, 'memory.limit_in_bytes'), String(LIMIT));
    if (existsSync(join(CG, 'memory.memsw.limit_in_bytes'))) writeFileSync(join(CG, 'memory.memsw.limit_in_bytes'), String(LIMIT));
    const kills: OomkillRawKill[] = [];
    const other: OomkillRawKill[] = [];
    const base = { objectPath: objectPath('oomkill'), maxEvents: 10 };
    const tracer = new OomkillTracer({ ...base, comm: 'oom_holder', onEvents: (k) => kills.push(...k) });
    const none = new OomkillTracer({ ...base, comm: 'not-the-holder', onEvents: (k) => other.push(...k) });
    const holder = new Target(hog, [join(CG, 'cgroup.procs'), '24', 'hold']);
    let trigger: Target | undefined;
    let stats: OomkillStats;
    try {
      tracer.start();
      none.start();
      await holder.waitFor('held');
      trigger = new Target(hog, [join(CG, 'cgroup.procs'), '16']);
      // The trigger usually finishes; on a loaded machine the kernel can run a second OOM before the holder's memory
      // is uncharged, which kills the trigger (a kill this tracer's comm filter leaves out): 0 or killed, not a hang.
      const triggerExit = await trigger.exited;
      assert.ok(triggerExit === 0 || triggerExit === null, `the trigger exited with ${triggerExit}`);
      assert.equal(await holder.exited, null, 'the holder was killed (a signal)');
      await sleep(100);
      stats = await tracer.stop();
      assert.equal((await none.stop()).kills, 0n);
    } finally {
      tracer.close();
      none.close();
      holder.kill();
      trigger?.kill();
      await holder.exited;
    }
    assert.equal(other.length, 0);
    assert.equal(kills.length, 1, JSON.stringify(kills, (_, v) => (typeof v === 'bigint' ? String(v) : v)));
    const k = kills[0];
    assert.equal(k.victimPid, holder.pid);
    assert.equal(k.victimComm, 'oom_holder');
    assert.equal(k.triggerPid, trigger!.pid);
    assert.equal(k.triggerTid, trigger!.pid);
    assert.equal(k.triggerComm, 'oom_hog');
    assert.equal(k.uid, process.getuid!());
    assert.equal(k.oomScoreAdj, 0);
    assert.ok(k.anonRssKb >= 24_000n && k.anonRssKb <= 32_768n, `anon rss ${k.anonRssKb} kB (24 MiB touched, 32 MiB limit)`);
    assert.ok(k.totalVmKb >= k.anonRssKb + k.fileRssKb, `total vm ${k.totalVmKb} kB`);
    assert.ok(k.pgtablesKb > 0n);
    assert.equal(stats!.kills, 1n);
    assert.equal(stats!.kernelDrops + stats!.overBudget + stats!.queueDrops, 0n);
  });

  test('bad options are TypeErrors naming the option', () => {
    const base = { objectPath: objectPath('oomkill'), maxEvents: 1, onEvents: () => undefined };
    const cases: [object, RegExp][] = [
      [{ comm: 'x'.repeat(16) }, /comm/],
      [{ pid: -1 }, /pid/],
      [{ maxEvents: -1 }, /maxEvents/],
      [{ maxEvents: 2_000_000 }, /maxEvents/],
      [{ ringBufferBytes: 5000 }, /ringBufferBytes/],
      [{ nope: 1 }, /nope/],
    ];
    for (const [over, re] of cases) assert.throws(() => new OomkillTracer({ ...base, ...over } as OomkillTracerOptions), (e: Error) => e instanceof TypeError && re.test(e.message));
  });

  test('close() leaves no BPF program, map or link behind', async () => {
    const before = ownBpfFds();
    const tracer = new OomkillTracer({ objectPath: objectPath('oomkill'), maxEvents: 1, onEvents: () => undefined });
    tracer.start();
    await tracer.stop();
    tracer.close();
    assert.deepEqual(ownBpfFds(), before);
  });
});
