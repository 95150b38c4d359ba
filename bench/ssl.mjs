// TLS capture: requests/s of a local nginx (HTTPS, one worker, keep-alive) under wrk, with no
// tracing, with a Tracefleet ssl-capture job on the nginx process, and with bpftrace doing the
// same capture (uprobe + uretprobe on SSL_read/SSL_write, copying the buffer), 1 KiB and 64 KiB
// responses, all in this run. Also: events/s the capture sustained and what it dropped (counted);
// headers-only capture (the kernel copies only calls that start an HTTP/1 message) always attached and
// at a 10 % duty cycle (600 ms in every 6000 ms), with the agent's uprobe_multi links and, from a second agent
// on the same machine, with one perf-event uprobe per offset; and where the time of a full capture goes (traps,
// BPF program time from kernel.bpf_stats_enabled, the agent's and nginx's CPU).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDebianTools, writeNginxConfig } from './nginx.mjs';
import { WORK, interrupt, machine, median, publish, run, sleep, startAgentWithEnv, startBpftrace, startJob, stopAgent, trapCost, trapLine, waitFor, waitJob } from './lib.mjs';

/** CPU ticks (utime + stime, all threads) of a process. */
const ticksOf = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]);
};
/** Busy and total ticks of the whole machine. */
const machineTicks = () => {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - f[3] - f[4], total };
};
/** run_cnt and run_time_ns summed per name over the loaded BPF programs named ssl_entry / ssl_return. */
const bpfStats = () => {
  const out = {};
  for (const p of JSON.parse(execFileSync('bpftool', ['prog', 'show', '-j'], { encoding: 'utf8' }))) {
    if (p.name !== 'ssl_entry' && p.name !== 'ssl_return') continue;
    const o = (out[p.name] ??= { runs: 0, ns: 0 });
    o.runs += p.run_cnt ?? 0;
    o.ns += p.run_time_ns ?? 0;
  }
  return out;
};
const TICK_NS = 1e9 / 100; // USER_HZ

const LIBSSL = '/usr/lib/x86_64-linux-gnu/libssl.so.3';
const SECONDS = 6;
const ROUNDS = 3;

async function wrk(url) {
  const out = await run('wrk', ['-t1', '-c8', `-d${SECONDS}s`, url]).done;
  const rps = Number(/Requests\/sec:\s*([\d.]+)/.exec(out)?.[1]);
  if (!rps) throw new Error(`wrk printed no Requests/sec: ${out}`);
  return rps;
}

// bpftrace 0.17 does not restrict library uprobes to a pid: the filter is in the program (FACTS.md).
const bpftraceScript = (pid) => `
uprobe:${LIBSSL}:SSL_read /pid == ${pid}/ { @rbuf[tid] = arg1; }
uretprobe:${LIBSSL}:SSL_read /pid == ${pid} && @rbuf[tid] && retval > 0/ { printf("R %d %r\\n", retval, buf(@rbuf[tid], retval)); delete(@rbuf[tid]); }
uprobe:${LIBSSL}:SSL_write /pid == ${pid}/ { @wbuf[tid] = arg1; }
uretprobe:${LIBSSL}:SSL_write /pid == ${pid} && @wbuf[tid] && retval > 0/ { printf("W %d %r\\n", retval, buf(@wbuf[tid], retval)); delete(@wbuf[tid]); }
`;

export async function sslBench(stack) {
  ensureDebianTools(['nginx', 'wrk']);
  const dir = join(WORK, `ssl-bench-${process.pid}`);
  const port = 20000 + (process.pid % 20000);
  const conf = writeNginxConfig(dir, port, { files: { '1k.txt': 'a'.repeat(1023) + '\n', '64k.txt': 'b'.repeat(65535) + '\n' }, tls: true, workers: 0 });
  const nginx = run('nginx', ['-c', conf]);
  nginx.done.catch(() => undefined); // stopped on purpose at the end
  await waitFor(async () => existsSync(join(dir, 'nginx.pid')), 10_000, 'nginx to start');
  const pid = nginx.child.pid;
  const results = { date: new Date().toISOString(), machine: machine(), traps: trapCost(), seconds: SECONDS, rounds: ROUNDS, sizes: {} };
  // A second agent links its uprobes one perf-event uprobe per offset (TRACEFLEET_AGENT_UPROBE_LINKS): every job
  // names its node while it runs.
  const nodes = { multi: stack.nodeName, perOffset: `${stack.nodeName}-peroffset` };
  const on = (node = nodes.multi) => ({ nodes: { names: [node] } });
  try {
    await startAgentWithEnv(stack, nodes.perOffset, { TRACEFLEET_AGENT_UPROBE_LINKS: 'per-offset' }, 'role=bench-peroffset');
    for (const size of ['1k', '64k']) {
      const url = `https://127.0.0.1:${port}/${size}.txt`;
      await wrk(url); // warm-up
      const plain = [];
      const ours = [];
      const bpftrace = [];
      const duty = [];
      const dutyJobs = [];
      const dutyPerOffset = [];
      const dutyPerOffsetJobs = [];
      const headers = [];
      const headersJobs = [];
      const kernelOnly = [];
      const kernelOnlyJobs = [];
      const jobs = [];
      let breakdown;
      for (let round = 0; round < ROUNDS; round++) {
        plain.push(await wrk(url));

        const id = await startJob(stack, { type: 'ssl-capture', durationSec: SECONDS + 2, target: { pid }, maxDataBytes: 4096, maxEvents: 1_000_000, maxTotalBytes: 1 << 30, ...on() }, stack.captureToken);
        // The last round of each size also measures where the time goes: BPF run time (bpf_stats) and CPU per process.
        const measure = round === ROUNDS - 1;
        if (measure) writeFileSync('/proc/sys/kernel/bpf_stats_enabled', '1');
        const before = measure ? { bpf: bpfStats(), nginx: ticksOf(pid), agent: ticksOf(stack.agent.pid), machine: machineTicks() } : undefined;
        const t0 = Date.now();
        ours.push(await wrk(url));
        const seconds = (Date.now() - t0) / 1000;
        if (measure) {
          const bpf = bpfStats();
          const m = machineTicks();
          const requests = ours.at(-1) * seconds;
          const perRequest = (ticks) => (ticks * TICK_NS) / requests;
          breakdown = {
            requests,
            seconds,
            entryRuns: bpf.ssl_entry.runs - before.bpf.ssl_entry.runs,
            returnRuns: bpf.ssl_return.runs - before.bpf.ssl_return.runs,
            bpfNs: bpf.ssl_entry.ns - before.bpf.ssl_entry.ns + bpf.ssl_return.ns - before.bpf.ssl_return.ns,
            nginxNsPerRequest: perRequest(ticksOf(pid) - before.nginx),
            agentNsPerRequest: perRequest(ticksOf(stack.agent.pid) - before.agent),
            machineBusyNsPerRequest: perRequest(m.busy - before.machine.busy),
            machineBusyShare: (m.busy - before.machine.busy) / (m.total - before.machine.total),
          };
          writeFileSync('/proc/sys/kernel/bpf_stats_enabled', '0');
        }
        const job = await waitJob(stack, id, 120_000);
        const run0 = job.runs[0];
        jobs.push({ id, status: job.status, seconds, ssl: run0.ssl, totals: job.totals, placement: run0.ssl?.attached });

        // Every call trapped and looked at in the kernel, none admitted (a prefix no call starts with): the
        // cost of the traps and the BPF programs without the agent's and the controller's work.
        const kernelId = await startJob(stack, { type: 'ssl-capture', durationSec: SECONDS + 2, target: { pid }, filter: { prefixes: ['TF-NO-MATCH'] }, maxEvents: 1_000_000, ...on() }, stack.captureToken);
        kernelOnly.push(await wrk(url));
        const kj = await waitJob(stack, kernelId, 120_000);
        kernelOnlyJobs.push({ id: kernelId, status: kj.status, ssl: kj.runs[0].ssl });

        // Headers only, always attached: what the kernel filter alone saves.
        const headersId = await startJob(stack, { type: 'ssl-capture', durationSec: SECONDS + 2, target: { pid }, mode: 'headers', maxEvents: 1_000_000, ...on() }, stack.captureToken);
        headers.push(await wrk(url));
        const hj = await waitJob(stack, headersId, 120_000);
        headersJobs.push({ id: headersId, status: hj.status, ssl: hj.runs[0].ssl });

        // Headers only at a 10 % duty cycle: the windows start with the job, so the job starts with wrk.
        // The same with the second agent's perf-event uprobes, one per offset.
        for (const [node, rps, notes] of [[nodes.multi, duty, dutyJobs], [nodes.perOffset, dutyPerOffset, dutyPerOffsetJobs]]) {
          const dutyId = await startJob(stack, { type: 'ssl-capture', durationSec: SECONDS + 2, target: { pid }, mode: 'headers', maxEvents: 1_000_000, dutyOnMs: 600, dutyPeriodMs: 6000, ...on(node) }, stack.captureToken);
          rps.push(await wrk(url));
          const dj = await waitJob(stack, dutyId, 120_000);
          const note = /duty cycle: [^;]*?([\d.]+)% of the ([\d.]+) s run[^;]*(?:; taking them out took (\d+) ms a window)?/.exec(dj.runs[0].reason ?? '');
          const links = /\((uprobe_multi links|perf-event uprobes): the kernel waits/.exec(dj.runs[0].reason ?? '')?.[1] ?? null;
          notes.push({ id: dutyId, node, status: dj.status, links, attachedPercent: note ? Number(note[1]) : null, removalMs: note?.[3] ? Number(note[3]) : null, ssl: dj.runs[0].ssl });
        }

        const bt = await startBpftrace(bpftraceScript(pid));
        bpftrace.push(await wrk(url));
        await interrupt(bt, 'bpftrace').catch(() => undefined);
      }
      const base = median(plain);
      const loss = (xs) => 1 - median(xs) / base;
      breakdown.addedNsPerRequest = 1e9 / median(ours) - 1e9 / base;
      results.sizes[size] = {
        rps: { plain, ours, kernelOnly, headers, duty, dutyPerOffset, bpftrace },
        loss: { tracefleet: loss(ours), kernelOnly: loss(kernelOnly), headers: loss(headers), duty: loss(duty), dutyPerOffset: loss(dutyPerOffset), bpftrace: loss(bpftrace) },
        jobs,
        kernelOnlyJobs,
        headersJobs,
        dutyJobs,
        dutyPerOffsetJobs,
        breakdown,
      };
    }
  } finally {
    await stopAgent(stack, nodes.perOffset);
    writeFileSync('/proc/sys/kernel/bpf_stats_enabled', '0');
    nginx.child.kill('SIGQUIT');
    await sleep(500);
  }

  const row = (size) => {
    const s = results.sizes[size];
    const j = s.jobs[s.jobs.length - 1];
    const seen = Number(j.ssl?.eventsSeen ?? 0);
    return `| ${size === '1k' ? '1 KiB' : '64 KiB'} | ${median(s.rps.plain).toFixed(0)} | ${median(s.rps.ours).toFixed(0)} (−${(100 * s.loss.tracefleet).toFixed(1)} %) | ${median(s.rps.bpftrace).toFixed(0)} (−${(100 * s.loss.bpftrace).toFixed(1)} %) | ${(s.loss.tracefleet / s.loss.bpftrace).toFixed(2)} | ${(seen / j.seconds).toFixed(0)} events/s; dropped kernel ${j.ssl?.droppedKernel ?? '?'}, agent ${j.ssl?.droppedAgent ?? '?'}, over budget ${j.ssl?.overBudget ?? '?'} |`;
  };
  const label = (size) => (size === '1k' ? '1 KiB' : '64 KiB');
  const dutyRow = (size) => {
    const s = results.sizes[size];
    const of = (jobs, key) => {
      const xs = jobs.map((j) => j[key]).filter((x) => x !== null);
      return xs.length ? median(xs).toFixed(key === 'attachedPercent' ? 1 : 0) : '?';
    };
    const h = s.headersJobs.at(-1)?.ssl ?? {};
    const cell = (rps, lost) => `${median(rps).toFixed(0)} (−${(100 * lost).toFixed(1)} %)`;
    return `| ${label(size)} | ${median(s.rps.plain).toFixed(0)} | ${cell(s.rps.headers, s.loss.headers)} | ${cell(s.rps.duty, s.loss.duty)}; ${of(s.dutyJobs, 'attachedPercent')} % attached, removal ${of(s.dutyJobs, 'removalMs')} ms | ${cell(s.rps.dutyPerOffset, s.loss.dutyPerOffset)}; ${of(s.dutyPerOffsetJobs, 'attachedPercent')} % attached, removal ${of(s.dutyPerOffsetJobs, 'removalMs')} ms | ${h.eventsSeen ?? '?'} kept, ${h.skippedCalls ?? '?'} skipped |`;
  };
  const us = (ns) => (ns / 1000).toFixed(2);
  const breakdownRow = (size) => {
    const s = results.sizes[size];
    const b = s.breakdown;
    const traps = (b.entryRuns + b.returnRuns) / b.requests;
    const k = s.kernelOnlyJobs.at(-1)?.ssl ?? {};
    return `| ${label(size)} | ${us(b.addedNsPerRequest)} | ${median(s.rps.kernelOnly).toFixed(0)} (−${(100 * s.loss.kernelOnly).toFixed(1)} %; ${k.filteredCalls ?? '?'} calls filtered, ${k.eventsSeen ?? '?'} admitted) | ${traps.toFixed(2)} | ${us(traps * results.traps.emulatedNs)} | ${us(b.bpfNs / b.requests)} (${(b.bpfNs / (b.entryRuns + b.returnRuns)).toFixed(0)} ns a run) | ${us(b.agentNsPerRequest)} | ${us(b.nginxNsPerRequest)} | ${(100 * b.machineBusyShare).toFixed(0)} % |`;
  };
  publish(
    'ssl',
    results,
    `## TLS plaintext capture (ssl-capture)

Run ${results.date} on ${results.machine.cpus} CPUs, kernel ${results.machine.kernel}; raw figures in bench/results/ssl.json. ${trapLine(results.traps)} nginx 1 worker (HTTPS, keep-alive, libssl.so.3), \`wrk -t1 -c8 -d${SECONDS}s\`, median of ${ROUNDS} rounds per condition, conditions interleaved. Tracefleet: an ssl-capture job on the nginx pid keeping 4 KiB of plaintext per call; bpftrace 0.17: uprobe + uretprobe on SSL_read/SSL_write copying the buffer with \`buf()\` (its default 64-byte cap) and printing it.

| response | requests/s untraced | Tracefleet | bpftrace | our loss / bpftrace's | capture |
|---|---|---|---|---|---|
${row('1k')}
${row('64k')}

Headers only (\`mode: "headers"\`: the kernel copies a call only when it starts an HTTP/1 message, the agent keeps its head; every other call is counted and skipped before any copy), always attached and at a 10 % duty cycle (\`dutyOnMs: 600, dutyPeriodMs: 6000\`), same rounds. At the duty cycle, twice: the agent's default uprobe_multi links (one link per file, program and probe kind: the kernel waits for its RCU grace periods once per link when a pause takes them out), and a second agent on this machine with \`TRACEFLEET_AGENT_UPROBE_LINKS=per-offset\` (one perf-event uprobe per offset, a wait per offset). The time attached is the job's own measure: it counts the kernel's removal of the probes as attached. Calls kept and skipped: the last always-attached round.

| response | requests/s untraced | headers only | headers only, 10 % duty, uprobe_multi links | the same, perf-event links | calls |
|---|---|---|---|---|---|
${dutyRow('1k')}
${dutyRow('64k')}

Where the time of a full capture goes (the last round of each size, \`kernel.bpf_stats_enabled=1\` during it), in µs per request. Added: 1/(requests/s traced) − 1/(requests/s untraced), nginx's lost time per request. Kernel only: the same probes with a content filter no call passes (\`filter: {prefixes: ["TF-NO-MATCH"]}\`): every call traps and runs the programs, nothing reaches the ring, the agent or the controller. Traps: BPF program runs per request (entry + return probes); their cost at this machine's emulated trap cost. BPF: the programs' own run time (bpf_stats). Agent and nginx: their CPU time per request. Busy: the machine's CPUs busy during the round (wrk, nginx, agent, controller, PostgreSQL share ${results.machine.cpus} CPUs).

| response | added per request | requests/s, kernel only | traps per request | traps' cost | BPF programs | agent CPU | nginx CPU | machine busy |
|---|---|---|---|---|---|---|---|---|
${breakdownRow('1k')}
${breakdownRow('64k')}

Where the probes went (per binary, verified by disassembly): ${(results.sizes['1k'].jobs[0].placement ?? []).join('; ')}.`,
  );
}
