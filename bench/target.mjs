// Cgroup and container targets (issue 16): what the target filter costs in the profile program. The same
// CPU-bound C workload (bench/workloads via e2e/fixtures/hot.c) is profiled at 999 Hz for 5 s with each target
// kind, all in this run: {pid} (the old tgid compare), {cgroup} of a cgroup v2 cgroup the bench makes (one
// bpf_get_current_ancestor_cgroup_id call), {cgroup} of a v1 cgroup (the agent's pid set: one hash lookup),
// and {all} (no filter). BPF time per run comes from kernel.bpf_stats_enabled; the workload's share of the
// samples says each filter kept what it should. Every process and cgroup made here is removed here.
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { profileBpfTime, sysctl } from './unwind-host.mjs';
import { WORK, gcc, harness, machine, median, publish, root, run, sleep, startJob, waitJob } from './lib.mjs';

const ROUNDS = 5;
const KINDS = ['pid', 'cgroup-v2', 'cgroup-v1', 'all'];

function cgroup2Mount() {
  const line = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' - ')[1]?.startsWith('cgroup2 '));
  if (!line) throw new Error('no cgroup2 hierarchy is mounted: the bench needs one (mount -t cgroup2 none DIR)');
  return line.split(' ')[4];
}

export async function targetBench(stack) {
  mkdirSync(WORK, { recursive: true });
  const hot = join(WORK, 'hot');
  gcc(join(root, 'e2e/fixtures/hot.c'), hot, ['-O1', '-fno-omit-frame-pointer']);
  const name = `tf-bench-${process.pid}`;
  const dirs = { 'cgroup-v2': join(cgroup2Mount(), name), 'cgroup-v1': join('/sys/fs/cgroup/cpu', `${name}-v1`) };
  const cpu = availableParallelism() > 1 ? String(availableParallelism() - 1) : undefined;
  const results = { date: new Date().toISOString(), machine: machine(), rounds: ROUNDS, kinds: {} };
  const live = new Set();
  let statsOld;
  try {
    for (const d of Object.values(dirs)) mkdirSync(d);
    statsOld = sysctl('kernel.bpf_stats_enabled');
    sysctl('kernel.bpf_stats_enabled', 1);
    const byKind = Object.fromEntries(KINDS.map((k) => [k, []]));
    for (let r = 0; r < ROUNDS; r++) {
      for (const kind of KINDS) {
        const w = cpu === undefined ? run(hot, ['12']) : run('taskset', ['-c', cpu, hot, '12']);
        live.add(w.child);
        w.child.once('exit', () => live.delete(w.child));
        const pid = w.child.pid;
        if (dirs[kind]) writeFileSync(join(dirs[kind], 'cgroup.procs'), String(pid));
        const target = kind === 'pid' ? { pid } : kind === 'all' ? { all: true } : { cgroup: `/${kind === 'cgroup-v2' ? name : `${name}-v1`}` };
        let notes = '';
        const m = await profileBpfTime({
          agentPid: stack.agent.pid,
          workload: { pid, done: w.done.catch(() => undefined) },
          startProfile: () => startJob(stack, { type: 'cpu-profile', durationSec: 8, frequencyHz: 999, target, nodes: { names: [stack.nodeName] } }),
          finish: async (id) => {
            const job = await waitJob(stack, id);
            notes = job.runs[0].reason ?? '';
            const folded = harness.parseFolded((await stack.api('GET', `/jobs/${id}/flamegraph.folded`)).text);
            const total = folded.reduce((a, s) => a + s.count, 0);
            const mine = folded.filter((s) => s.frames.includes('hot_spin')).reduce((a, s) => a + s.count, 0);
            return { ...job, share: total ? mine / total : 0, stored: total };
          },
          sleep,
        });
        const { job, ...rest } = m;
        byKind[kind].push({ ...rest, workloadShare: job.share, stored: job.stored, notes });
        w.child.kill('SIGKILL');
      }
    }
    for (const kind of KINDS) {
      const runs = byKind[kind];
      results.kinds[kind] = { nsPerRun: median(runs.map((x) => x.nsPerRun)), workloadShare: median(runs.map((x) => x.workloadShare)), runs };
    }
  } finally {
    if (statsOld !== undefined) sysctl('kernel.bpf_stats_enabled', statsOld);
    for (const c of live) c.kill('SIGKILL');
    await sleep(200);
    for (const d of Object.values(dirs)) if (existsSync(d)) rmdirSync(d);
  }
  publish('target', results, render(results));
}

export function render(r) {
  const k = r.kinds;
  const row = (kind, what) => `| ${what} | ${Math.round(k[kind].nsPerRun)} ns | ${Math.round((k[kind].nsPerRun / k.pid.nsPerRun) * 100) / 100} | ${(k[kind].workloadShare * 100).toFixed(1)} % |`;
  return `## Target filters (cgroup and container targets)

Run ${r.date} on ${r.machine.cpus} CPUs, kernel ${r.machine.kernel}; raw figures in bench/results/target.json. e2e/fixtures/hot.c
pinned to the last CPU, profiled at 999 Hz for 5 s per target kind, ${r.rounds} rounds (median); BPF time per run of the
profile program from \`kernel.bpf_stats_enabled\` (every CPU-clock sample on every CPU runs it; others' are filtered out).

| target | BPF time per run | vs {pid} | workload's share of stored samples |
|---|---|---|---|
${row('pid', '`{"pid": N}` (tgid compare)')}
${row('cgroup-v2', '`{"cgroup": …}` of a cgroup v2 cgroup (ancestor cgroup id in the kernel)')}
${row('cgroup-v1', '`{"cgroup": …}` of a cgroup v1 cgroup (the agent\'s pid set, one hash lookup)')}
${row('all', '`{"all": true}` (no filter: every sample is walked and sent)')}

A container target is one of the two cgroup rows (v2 when the container has a cgroup v2 cgroup of its own, else the pid set).`;
}
