// biolatency: overhead on a block-request-heavy workload — e2e/fixtures/dio_writer doing synchronous 4 KiB O_DIRECT
// writes to a loop device over a tmpfs file (a request completes in a few µs, so each one's probe cost shows) —
// untraced, with a Tracefleet biolatency job (whole host, per disk; latency and size), with libbpf-tools'
// /usr/sbin/biolatency -D (latency per disk) and with /usr/sbin/bitesize (size per process), all in the same run,
// rounds interleaved, medians.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { basename, join } from 'node:path';
import { gcc, interrupt, machine, median, publish, root, run, sleep, startJob, waitFor, WORK } from './lib.mjs';

const ROUNDS = 9;
const BLOCKS = 4096; // 4 KiB writes per pass (16 MiB)
const PASSES = 15; // per measurement: 61,440 requests
const SETTLE_MS = 700; // after a tracer attached: the agent's or tool's start-up work is done before the measurement
const IMAGE = '/dev/shm/tracefleet-bench-bio.img';

/** Requests/s of one dio_writer run. */
async function writeRate(bin, loop) {
  const out = await run(bin, [loop, '-', String(BLOCKS), '4096', '0', '4096', String(PASSES)]).done;
  const m = /done (\d+)/.exec(out);
  if (!m) throw new Error(`dio_writer: no time in ${out}`);
  return (BLOCKS * PASSES) / (Number(m[1]) / 1e9);
}

/** The BPF programs loaded since `before` (ids) whose name matches: kernel run counts and time (kernel.bpf_stats_enabled). */
function progs(before, nameRe) {
  const all = JSON.parse(execFileSync('bpftool', ['prog', 'show', '-j'], { encoding: 'utf8' }));
  return all.filter((p) => !before.has(p.id) && nameRe.test(p.name ?? ''));
}
const progIds = () => new Set(JSON.parse(execFileSync('bpftool', ['prog', 'show', '-j'], { encoding: 'utf8' })).map((p) => p.id));
/** ns the tracer's programs ran per block request: Σ over its programs of run_time_ns / run_cnt (null without bpf stats). */
// Programs loaded but not attached (ours: block_rq_insert without queued; libbpf-tools' variants it does not use) never run.
const nsPerRequest = (ps) => {
  const ran = ps.filter((p) => p.run_cnt > 0);
  return ran.length ? ran.reduce((s, p) => s + p.run_time_ns / p.run_cnt, 0) : null;
};

/**
 * Runs fn with the kernel's BPF run-time statistics on (workloads/bpf_stats_hold: BPF_ENABLE_STATS, held only for
 * fn's time and reference-counted by the kernel, so kernel.bpf_stats_enabled is never changed).
 */
async function withStats(holder, fn) {
  const h = spawn(holder, [], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  h.stdout.on('data', (d) => (out += d));
  const closed = new Promise((resolve) => h.on('close', resolve));
  try {
    for (let i = 0; i < 100 && !out.includes('on') && h.exitCode === null; i++) await sleep(20);
    if (!out.includes('on')) throw new Error('bpf_stats_hold did not turn the statistics on');
    return await fn();
  } finally {
    h.stdin.end();
    await closed;
  }
}

/** Starts a libbpf-tools tool (stdbuf: line-buffered, so "Tracing" reaches the pipe as soon as it is attached). */
async function startTool(path, args) {
  const t = run('stdbuf', ['-oL', path, ...args]);
  for (let i = 0; i < 100 && !/Tracing/.test(t.output()); i++) await sleep(100);
  if (!/Tracing/.test(t.output())) {
    t.child.kill('SIGKILL');
    throw new Error(`${path} did not attach: ${t.output()}`);
  }
  return t;
}

export async function biolatencyBench(stack) {
  mkdirSync(WORK, { recursive: true });
  const bin = gcc(join(root, 'e2e/fixtures/dio_writer.c'), join(WORK, 'bench-dio-writer'), ['-O1']);
  writeFileSync(IMAGE, '');
  truncateSync(IMAGE, BLOCKS * 4096 + (1 << 20));
  const loop = execFileSync('losetup', ['-f', '--show', IMAGE], { encoding: 'utf8' }).trim();
  const results = { date: new Date().toISOString(), machine: machine(), requestsPerMeasurement: BLOCKS * PASSES, rounds: ROUNDS, device: 'loop over tmpfs' };
  const rates = { plain: [], tracefleet: [], biolatency: [], bitesize: [] };
  const bpfNs = { tracefleet: [], biolatency: [], bitesize: [] };
  const holder = gcc(join(root, 'bench/workloads/bpf_stats_hold.c'), join(WORK, 'bpf-stats-hold'), ['-O1']);
  // A traced measurement with the statistics on: the rate and the tracer's programs' ns per run (their run counts
  // start at the tracer's load, so only the measurement's window — and whatever else ran then — is counted).
  const traced = (before, nameRe) => withStats(holder, async () => ({ rate: await writeRate(bin, loop), ns: nsPerRequest(progs(before, nameRe)) }));
  let oursLoop;
  let theirs = '';
  // One traced measurement: attach, settle, measure, read the programs' kernel stats, detach.
  const tracers = {
    tracefleet: async () => {
      const before = progIds();
      const id = await startJob(stack, { type: 'biolatency', durationSec: 120, target: { all: true } });
      await sleep(SETTLE_MS);
      const m = await traced(before, /^on_(issue|complete|insert)$/);
      rates.tracefleet.push(m.rate);
      bpfNs.tracefleet.push(m.ns);
      const stop = await stack.api('POST', `/jobs/${id}/stop`);
      if (stop.status !== 202) throw new Error(`POST /jobs/${id}/stop → ${stop.status} ${stop.text}`);
      await waitFor(async () => (await stack.api('GET', `/jobs/${id}`)).json.status === 'stopped', 60_000, `job ${id} to stop`);
      oursLoop = (await stack.api('GET', `/jobs/${id}/biolatency`)).json.disks.find((d) => d.disk === basename(loop));
    },
    biolatency: async () => {
      const before = progIds();
      const bl = await startTool('/usr/sbin/biolatency', ['-D']);
      await sleep(SETTLE_MS);
      const m = await traced(before, /^block_rq_/);
      rates.biolatency.push(m.rate);
      bpfNs.biolatency.push(m.ns);
      theirs = await interrupt(bl, 'biolatency');
    },
    bitesize: async () => {
      const before = progIds();
      const bs = await startTool('/usr/sbin/bitesize', []);
      await sleep(SETTLE_MS);
      const m = await traced(before, /^block_rq_/);
      rates.bitesize.push(m.rate);
      bpfNs.bitesize.push(m.ns);
      await interrupt(bs, 'bitesize');
    },
  };
  const names = Object.keys(tracers);
  try {
    for (let round = 0; round < ROUNDS; round++) {
      // Untraced before and after the three tracers, whose order rotates from round to round; each round's ratios
      // compare measurements taken within seconds of each other, under about the same other load.
      const first = await writeRate(bin, loop);
      for (let k = 0; k < names.length; k++) await tracers[names[(round + k) % names.length]]();
      const last = await writeRate(bin, loop);
      rates.plain.push((first + last) / 2);
    }
  } finally {
    execFileSync('losetup', ['-d', loop]);
    rmSync(IMAGE, { force: true });
  }
  const base = median(rates.plain);
  const slowdown = Object.fromEntries(['tracefleet', 'biolatency', 'bitesize'].map((k) => [k, base / median(rates[k])]));
  const addedNs = Object.fromEntries(['tracefleet', 'biolatency', 'bitesize'].map((k) => [k, 1e9 / median(rates[k]) - 1e9 / base]));
  const ratios = Object.fromEntries(names.map((k) => [k, rates[k].map((r, i) => rates.plain[i] / r)]));
  const pairedSlowdown = Object.fromEntries(names.map((k) => [k, median(ratios[k])]));
  const best = Object.fromEntries(Object.entries(rates).map(([k, v]) => [k, Math.max(...v)]));
  const bestSlowdown = Object.fromEntries(['tracefleet', 'biolatency', 'bitesize'].map((k) => [k, best.plain / best[k]]));
  const progNs = Object.fromEntries(Object.entries(bpfNs).map(([k, v]) => [k, v.some((x) => x !== null) ? median(v.filter((x) => x !== null)) : null]));
  Object.assign(results, { requestsPerSec: rates, roundSlowdowns: ratios, pairedSlowdown, slowdown, addedNsPerRequest: addedNs, bestRequestsPerSec: best, bestSlowdown, bpfProgramNsPerRequest: bpfNs, bpfProgramNsPerRequestMedian: progNs });
  results.lastTracefleetLoopDisk = { requests: oursLoop?.latency.count, p50Us: oursLoop?.latency.p50, sizeSlots: oursLoop?.size.slots };
  results.loadAverage = loadavg();
  results.lastBiolatencyOutput = theirs.split('\n').slice(-40).join('\n');
  const row = (name, k) =>
    `| ${name} | ${Math.round(median(rates[k])).toLocaleString('en-US')} | ${pairedSlowdown[k].toFixed(3)}× | ${slowdown[k].toFixed(3)}× | ${bestSlowdown[k].toFixed(3)}× | ${progNs[k] === null ? 'n/a' : `${progNs[k].toFixed(0)} (${bpfNs[k].filter((x) => x !== null).length} rounds)`} |`;
  publish(
    'biolatency',
    results,
    `## biolatency (block I/O latency and size)

Run ${results.date} on ${results.machine.cpus} CPUs, kernel ${results.machine.kernel}; raw figures in bench/results/biolatency.json. Workload: \`e2e/fixtures/dio_writer\`, ${(BLOCKS * PASSES).toLocaleString('en-US')} synchronous 4 KiB O_DIRECT writes to a loop device over a tmpfs file (each one block request of a few µs: the probes' cost per request shows); requests/s over ${ROUNDS} rounds, each one untraced measurement before and one after the three tracers (their order rotating from round to round). Every tracer watches the whole host.

| tracing | requests/s (median) | slowdown (median of the rounds' ratios) | slowdown (ratio of medians) | slowdown (best rounds) | BPF ns per request (kernel stats) |
|---|---|---|---|---|---|
| none | ${Math.round(base).toLocaleString('en-US')} | 1× | 1× | 1× | – |
${row('Tracefleet biolatency job (tp_btf block_rq_issue, block_rq_complete; latency and size per disk)', 'tracefleet')}
${row('libbpf-tools `/usr/sbin/biolatency -D` (latency per disk)', 'biolatency')}
${row('libbpf-tools `/usr/sbin/bitesize` (size per process, block_rq_issue only)', 'bitesize')}

Tracefleet's job makes both histograms, latency and size; libbpf-tools needs both tools for that${progNs.biolatency !== null && progNs.bitesize !== null ? `, ${(progNs.biolatency + progNs.bitesize).toFixed(0)} ns of BPF per request together against Tracefleet's ${progNs.tracefleet?.toFixed(0)}` : ''}.

The machine is shared with other work (load average ${results.loadAverage.map((x) => x.toFixed(1)).join(' / ')} at the end): single rounds move by far more than the probes cost, so the first slowdown compares each tracer with the untraced measurements of its own round (taken seconds apart), and the table also gives the ratio of the medians, the ratio of the best rounds (the least disturbed) and the time the tracer's BPF programs ran per block request, from the kernel's own run-time statistics (turned on with BPF_ENABLE_STATS only during the traced measurements — so the untraced ones do not pay for them and the traced ones pay alike —, Σ over the tracer's programs of run_time_ns / run_cnt, median over rounds): the probe cost itself, which the other load on the machine moves far less than the throughput. Per-round figures are in the JSON.`,
  );
}
