// oomkill jobs end to end on the real kernel: a memory cgroup (v1, 32 MiB, swap included) holds a process that
// touched 24 MiB (oom_holder) and another that then allocates 16 MiB (oom_hog, e2e/fixtures/oom_hog.c): the
// kernel's OOM killer, run by oom_hog's charge, kills the holder. Two agents on this host trace it; kills merged
// and per node; filters and pages; the oomkill text; an incident bundle; a schedule whose label selector picks
// one node; hostile requests. The cgroup is removed whatever happens.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bpfFds, buildC, startStack, waitFor, waitJob, type Stack } from './harness';

const SECOND = 'oom-n2';
const MEMCG = '/sys/fs/cgroup/memory';
const CG = join(MEMCG, `tf-oomkill-e2e-${process.pid}`);
const LIMIT = 32 << 20;

interface Counters { kills: string; streamed: string; overBudget: string; dropped: string }
interface Kill { id: string; node: string; time: string; victimPid: number; victimComm: string; triggerPid: number; triggerTid: number; triggerComm: string; uid: number; oomScoreAdj: number; totalVmKb: string; anonRssKb: string; fileRssKb: string; shmemRssKb: string; pgtablesKb: string; rssPages: string; loadavg: string }
interface Results { totals: { merged: Counters; nodes: { node: string; reported: boolean; counters: Counters }[] }; count: number; kills: Kill[]; next: string | null }

describe('oomkill jobs, end to end on the real kernel, merged across two nodes', () => {
  let stack: Stack;
  let hogBin: string;
  const children: ChildProcess[] = [];
  const schedules: string[] = [];

  before(async () => {
    hogBin = buildC('oom_hog');
    stack = await startStack();
    await stack.startAgent(SECOND, 'role=e2e,tier=oom2');
  });
  after(async () => {
    for (const id of schedules) await stack?.api('DELETE', `/schedules/${id}`).catch(() => undefined);
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await stack?.stop();
    // The cgroup goes once its processes are gone.
    for (let i = 0; i < 50 && existsSync(CG); i++) {
      try {
        rmdirSync(CG);
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  });

  function spawnHog(args: string[], waitText: string): Promise<{ child: ChildProcess; exited: Promise<{ code: number | null; signal: string | null }> }> {
    const child = spawn(hogBin, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    const exited = new Promise<{ code: number | null; signal: string | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
    let out = '';
    return new Promise((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes(waitText)) resolve({ child, exited });
      });
      child.once('exit', () => (out.includes(waitText) ? undefined : reject(new Error(`oom_hog ${args.join(' ')} exited: ${out}`))));
    });
  }

  /** One OOM kill in the cgroup: resolves with the holder's (victim's) and the trigger's pids. */
  async function oomKill(): Promise<{ victim: number; trigger: number }> {
    assert.ok(existsSync(MEMCG), `${MEMCG} is missing: the OOM kill needs a cgroup v1 memory hierarchy`);
    if (!existsSync(CG)) mkdirSync(CG);
    writeFileSync(join(CG, 'memory.limit_in_bytes'), String(LIMIT));
    if (existsSync(join(CG, 'memory.memsw.limit_in_bytes'))) writeFileSync(join(CG, 'memory.memsw.limit_in_bytes'), String(LIMIT));
    const procs = join(CG, 'cgroup.procs');
    const holder = await spawnHog([procs, '24', 'hold'], 'held');
    const trigger = await spawnHog([procs, '16'], 'ready');
    // The holder is the victim. The trigger usually finishes; on a loaded machine the kernel can run a second OOM
    // before the holder's memory is uncharged (the OOM reaper gave up on it), and that one kills the trigger: a
    // second kill the job's comm filter (oom_holder) leaves out. Either way it must not hang or fail otherwise.
    const t = await trigger.exited;
    assert.ok((t.code === 0 && t.signal === null) || (t.code === null && t.signal === 'SIGKILL'), `the trigger ended with ${JSON.stringify(t)}`);
    assert.deepEqual(await holder.exited, { code: null, signal: 'SIGKILL' }, 'the OOM killer killed the holder');
    return { victim: holder.child.pid!, trigger: trigger.child.pid! };
  }

  async function results(id: string, query = ''): Promise<Results> {
    const res = await stack.api('GET', `/jobs/${id}/oomkill${query}`);
    assert.equal(res.status, 200, res.text);
    return res.json;
  }

  it('a memory-cgroup OOM kill: victim, trigger and memory figures on both nodes, merged and per node; filters, pages and text', async () => {
    const fdsBefore = [...stack.agents.values()].map((a) => bpfFds(a.pid!).length);
    // A schedule whose label selector picks the second node only, ticking while the job below runs.
    const sched = await stack.api('POST', '/schedules', { everyMs: 5000, nodes: { labels: { tier: 'oom2' } }, job: { type: 'oomkill', durationSec: 1, target: { all: true } } });
    assert.equal(sched.status, 201, sched.text);
    schedules.push(sched.json.id);

    const res = await stack.api('POST', '/jobs', { type: 'oomkill', durationSec: 4, target: { comm: 'oom_holder' }, nodes: 'all', maxEvents: 10 });
    assert.equal(res.status, 201, res.text);
    const id = res.json.id as string;
    await waitFor(async () => {
      const job = (await stack.api('GET', `/jobs/${id}`)).json;
      if (job.runs.some((r: { status: string }) => r.status === 'failed')) throw new Error(JSON.stringify(job.runs));
      return job.runs.length === 2 && job.runs.every((r: { status: string }) => r.status === 'running');
    }, 20_000, 'both runs to attach');
    const { victim, trigger } = await oomKill();
    const job = await waitJob(stack, id, 30_000);
    assert.equal(job.status, 'completed', JSON.stringify(job));
    assert.equal(job.links.oomkill, `/api/v1/jobs/${id}/oomkill`);

    const nodes = [stack.nodeName, SECOND].sort();
    const r = await results(id);
    assert.equal(r.count, 2, JSON.stringify(r.kills));
    assert.deepEqual(r.kills.map((k) => k.node).sort(), nodes, 'one kill per node (both agents trace this host)');
    for (const k of r.kills) {
      assert.equal(k.victimPid, victim);
      assert.equal(k.victimComm, 'oom_holder');
      assert.equal(k.triggerPid, trigger);
      assert.equal(k.triggerComm, 'oom_hog');
      assert.equal(k.uid, process.getuid!());
      const anon = Number(k.anonRssKb);
      assert.ok(anon >= 24_000 && anon <= 32_768, `anon rss ${anon} kB: 24 MiB touched under a 32 MiB limit`);
      assert.ok(Number(k.totalVmKb) >= anon, `total vm ${k.totalVmKb} kB`);
      assert.equal(k.rssPages, String((BigInt(k.anonRssKb) + BigInt(k.fileRssKb) + BigInt(k.shmemRssKb)) / 4n));
      assert.match(k.loadavg, /^\d+\.\d+ \d+\.\d+ \d+\.\d+$/);
      assert.ok(Math.abs(Date.parse(k.time) - Date.now()) < 60_000, k.time);
    }
    assert.deepEqual(r.totals.nodes.map((n) => [n.node, n.reported, n.counters.kills, n.counters.streamed, n.counters.dropped]), nodes.map((n) => [n, true, '1', '1', '0']));
    assert.deepEqual(r.totals.merged, { kills: '2', streamed: '2', overBudget: '0', dropped: '0' });

    // Filters and pages.
    const byNode = await results(id, `?node=${SECOND}`);
    assert.deepEqual([byNode.count, byNode.kills[0].node, byNode.totals.nodes.map((n) => n.node)], [1, SECOND, [SECOND]]);
    assert.equal((await results(id, `?pid=${victim}&comm=oom_holder`)).count, 2);
    assert.equal((await results(id, `?pid=${trigger}`)).count, 0, 'pid filters on the victim');
    assert.equal((await results(id, '?comm=other')).count, 0);
    const first = await results(id, '?limit=1');
    assert.equal(first.kills.length, 1);
    const second = await results(id, `?limit=1&after=${first.next}`);
    assert.deepEqual([second.kills.length, second.kills[0].id !== first.kills[0].id], [1, true]);

    const text = await stack.api('GET', `/jobs/${id}/oomkill.txt?node=${stack.nodeName}`);
    assert.equal(text.status, 200);
    assert.match(text.text, new RegExp(`\\d\\d:\\d\\d:\\d\\d Triggered by PID ${trigger} \\("oom_hog"\\), OOM kill of PID ${victim} \\("oom_holder"\\), \\d+ pages, loadavg: \\d`));
    console.log(text.text);

    // The schedule's ticks ran on the second node only.
    let schedJob: { id: string; runs: { node: string; status: string }[] } | undefined;
    await waitFor(async () => {
      const reports = (await stack.api('GET', `/schedules/${sched.json.id}/reports`)).json.reports ?? [];
      for (const rep of reports) {
        if (!rep.incidentId) continue;
        const inc = (await stack.api('GET', `/incidents/${rep.incidentId}`)).json;
        const j = inc.jobs?.find((x: { type: string; status: string }) => x.type === 'oomkill' && x.status === 'completed');
        if (j) schedJob = (await stack.api('GET', `/jobs/${j.id}`)).json;
      }
      return schedJob !== undefined;
    }, 20_000, 'a completed oomkill job of the schedule');
    assert.deepEqual(schedJob!.runs.map((x) => x.node), [SECOND]);
    assert.deepEqual((await results(schedJob!.id)).totals.nodes.map((n) => [n.node, n.reported]), [[SECOND, true]]);
    await stack.api('DELETE', `/schedules/${sched.json.id}`);

    await waitFor(async () => [...stack.agents.values()].every((a, i) => bpfFds(a.pid!).length <= fdsBefore[i]), 15_000, "the agents to close the jobs' BPF fds");
  });

  it('runs in an incident bundle beside another type; a bad template is a 400 naming it', async () => {
    const res = await stack.api('POST', '/incidents', {
      name: 'oomkill e2e',
      nodes: 'all',
      bundle: [
        { type: 'oomkill', durationSec: 1, target: { all: true } },
        { type: 'syscount', durationSec: 1, target: { all: true } },
      ],
    });
    assert.equal(res.status, 201, res.text);
    let inc: { status: string; jobs: { id: string; type: string }[] } = res.json;
    await waitFor(async () => {
      inc = (await stack.api('GET', `/incidents/${res.json.id}`)).json;
      return ['completed', 'partial', 'failed'].includes(inc.status);
    }, 30_000, 'the incident to end');
    assert.equal(inc.status, 'completed', JSON.stringify(inc));
    const job = inc.jobs.find((j) => j.type === 'oomkill')!;
    const r = await results(job.id);
    assert.deepEqual(r.totals.nodes.map((n) => [n.node, n.reported]), [[stack.nodeName, true], [SECOND, true]].sort());

    const bad = await stack.api('POST', '/incidents', { nodes: 'all', bundle: [{ type: 'oomkill', durationSec: 1, target: { all: true }, maxEvents: -1 }] });
    assert.equal(bad.status, 400, bad.text);
    assert.match(bad.text, /bundle\[0\]\.maxEvents must not be less than 0/);
  });

  it('refuses hostile requests and queries with a 400 naming the field', async () => {
    const base = { type: 'oomkill', durationSec: 2, target: { all: true }, nodes: 'all' };
    for (const [body, re] of [
      [{ ...base, maxEvents: -1 }, /maxEvents must not be less than 0/],
      [{ ...base, maxEvents: 'x' }, /maxEvents/],
      [{ ...base, maxEvents: 1e12 }, /maxEvents/],
      [{ ...base, ports: [80] }, /ports applies only to tcp jobs/],
      [{ ...base, bogusField: 1 }, /bogusField should not exist/],
      [{ ...base, target: { comm: 'x'.repeat(40) } }, /comm/],
    ] as const) {
      const res = await stack.api('POST', '/jobs', body);
      assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.text}`);
      assert.match(res.text, re);
    }
    const created = await stack.api('POST', '/jobs', { ...base, durationSec: 1 });
    assert.equal(created.status, 201, created.text);
    const id = created.json.id;
    for (const [q, re] of [['?pid=0', /pid must be/], ['?pid=x', /pid must be/], ['?limit=0', /limit must be/], ['?limit=1001', /limit must be/], ['?after=x', /after must be/], ['?comm=0123456789abcdefg', /comm must be/], ['?bogus=1', /bogus is not a parameter/], ['?pid=1&pid=2', /pid must be given once/]] as const) {
      const res = await stack.api('GET', `/jobs/${id}/oomkill${q}`);
      assert.equal(res.status, 400, `${q}: ${res.text}`);
      assert.match(res.text, re);
    }
    await waitJob(stack, id, 20_000);
    assert.equal((await stack.api('GET', '/jobs/00000000-0000-0000-0000-000000000000/oomkill')).status, 404);
    assert.equal((await stack.api('GET', '/jobs/not-a-uuid/oomkill.txt')).status, 404);
    assert.equal((await stack.api('GET', `/jobs/${id}/oomkill`, undefined, null)).status, 401);
  });
});
