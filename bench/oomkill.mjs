// oomkill: OOM kills are rare, so the probe's own cost is nearly nothing; what can be measured honestly is the
// time an OOM kill takes (a process that allocates and touches memory in a 16 MiB memory cgroup until the
// kernel kills it: its whole life, fork to reaped) untraced and with a Tracefleet oomkill job (whole host), in
// the same run, rounds interleaved, medians. libbpf-tools' /usr/sbin/oomkill needs a kprobe on oom_kill_process:
// this kernel has no kprobes (CONFIG_KPROBES off), so it cannot attach; the bench runs it and records its error.
import { existsSync, mkdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WORK, gcc, machine, median, publish, root, run, sleep, startJob, waitFor } from './lib.mjs';

const KILLS = 20;
const ROUNDS = 5;
const LIMIT = 16 << 20;
const CG = `/sys/fs/cgroup/memory/tf-oomkill-bench-${process.pid}`;
const OOMKILL = '/usr/sbin/oomkill';

/** ms per kill: KILLS allocating processes, one after another, each killed by the cgroup's OOM. */
async function killTimeMs(bin) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < KILLS; i++) {
    const h = run(bin, [join(CG, 'cgroup.procs'), '256']);
    h.done.catch(() => undefined); // it ends by SIGKILL, which run() reports as a failure
    const signal = await new Promise((r) => h.child.once('exit', (_code, sig) => r(sig)));
    if (signal !== 'SIGKILL') throw new Error(`oom_hog was not OOM-killed (${signal}): ${h.output()}`);
  }
  return Number(process.hrtime.bigint() - t0) / 1e6 / KILLS;
}

export async function oomkillBench(stack) {
  const bin = gcc(join(root, 'e2e/fixtures/oom_hog.c'), join(WORK, 'oom_hog'));
  if (!existsSync(CG)) mkdirSync(CG);
  writeFileSync(join(CG, 'memory.limit_in_bytes'), String(LIMIT));
  if (existsSync(join(CG, 'memory.memsw.limit_in_bytes'))) writeFileSync(join(CG, 'memory.memsw.limit_in_bytes'), String(LIMIT));
  const results = { date: new Date().toISOString(), machine: machine(), killsPerRound: KILLS, rounds: ROUNDS, limitBytes: LIMIT };
  const plain = [];
  const ours = [];
  let seen = [];
  try {
    for (let round = 0; round < ROUNDS; round++) {
      plain.push(await killTimeMs(bin));
      const id = await startJob(stack, { type: 'oomkill', durationSec: 120, target: { all: true }, maxEvents: 1000 });
      ours.push(await killTimeMs(bin));
      const stop = await stack.api('POST', `/jobs/${id}/stop`);
      if (stop.status !== 202) throw new Error(`POST /jobs/${id}/stop → ${stop.status} ${stop.text}`);
      await waitFor(async () => (await stack.api('GET', `/jobs/${id}`)).json.status === 'stopped', 60_000, `job ${id} to stop`);
      seen.push((await stack.api('GET', `/jobs/${id}/oomkill`)).json.count);
    }
    // libbpf-tools oomkill: one attempt, its output kept.
    const t = run(OOMKILL, []);
    await Promise.race([t.done.catch(() => undefined), sleep(3000)]);
    if (t.child.exitCode === null && t.child.signalCode === null) t.child.kill('SIGINT');
    await t.done.catch(() => undefined);
    results.libbpfTools = { attached: !/failed to attach/.test(t.output()), output: t.output().trim().split('\n').slice(-4).join('\n') };
  } finally {
    for (let i = 0; i < 50 && existsSync(CG); i++) {
      try {
        rmdirSync(CG);
      } catch {
        await sleep(100);
      }
    }
  }
  const base = median(plain);
  results.msPerKill = { plain, tracefleet: ours };
  results.killsSeenPerRound = seen;
  results.ratio = { tracefleet: median(ours) / base };
  publish(
    'oomkill',
    results,
    `## oomkill (OOM kills)

Run ${results.date} on ${results.machine.cpus} CPUs, kernel ${results.machine.kernel}; raw figures in bench/results/oomkill.json. Workload: ${KILLS} processes, one after another, each allocating and touching memory in a ${LIMIT >> 20} MiB memory cgroup (swap included) until the OOM killer ends it (e2e/fixtures/oom_hog.c); ms per kill (fork to reaped), median of ${ROUNDS} interleaved rounds. An OOM kill is rare and the probe runs once per kill, so this measures that tracing does not slow the kill path, not a per-event cost.

| tracing | ms per kill | ratio | kills seen per round |
|---|---|---|---|
| none | ${base.toFixed(2)} | 1× | – |
| Tracefleet oomkill job (tracepoint oom:mark_victim, whole host) | ${median(ours).toFixed(2)} | ${results.ratio.tracefleet.toFixed(3)}× | ${seen.join(', ')} |
| libbpf-tools \`/usr/sbin/oomkill\` (kprobe oom_kill_process) | ${results.libbpfTools.attached ? 'attached (unexpected)' : 'cannot attach: no kprobes on this kernel'} | – | – |

libbpf-tools oomkill's own words here: \`${results.libbpfTools.output.split('\n').at(-1)}\`.`,
  );
}
