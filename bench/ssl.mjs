// TLS capture: requests/s of a local nginx (HTTPS, one worker, keep-alive) under wrk, with no
// tracing, with a Tracefleet ssl-capture job on the nginx process, and with bpftrace doing the
// same capture (uprobe + uretprobe on SSL_read/SSL_write, copying the buffer), 1 KiB and 64 KiB
// responses, all in this run. Also: events/s the capture sustained and what it dropped (counted), and
// a duty-cycled capture of the first 256 bytes of each call (probes attached 600 ms in every 6000 ms).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDebianTools, writeNginxConfig } from './nginx.mjs';
import { WORK, interrupt, machine, median, publish, run, sleep, startBpftrace, startJob, waitFor, waitJob } from './lib.mjs';

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
  const results = { date: new Date().toISOString(), machine: machine(), seconds: SECONDS, rounds: ROUNDS, sizes: {} };
  try {
    for (const size of ['1k', '64k']) {
      const url = `https://127.0.0.1:${port}/${size}.txt`;
      await wrk(url); // warm-up
      const plain = [];
      const ours = [];
      const bpftrace = [];
      const duty = [];
      const dutyJobs = [];
      const jobs = [];
      for (let round = 0; round < ROUNDS; round++) {
        plain.push(await wrk(url));

        const id = await startJob(stack, { type: 'ssl-capture', durationSec: SECONDS + 2, target: { pid }, maxDataBytes: 4096, maxEvents: 1_000_000, maxTotalBytes: 1 << 30 }, stack.captureToken);
        const t0 = Date.now();
        ours.push(await wrk(url));
        const seconds = (Date.now() - t0) / 1000;
        const job = await waitJob(stack, id, 120_000);
        const run0 = job.runs[0];
        jobs.push({ id, status: job.status, seconds, ssl: run0.ssl, totals: job.totals, placement: run0.ssl?.attached });

        // Duty-cycled, 256 bytes per call: the windows start with the job, so the job starts with wrk.
        const dutyId = await startJob(stack, { type: 'ssl-capture', durationSec: SECONDS + 2, target: { pid }, maxDataBytes: 256, maxEvents: 1_000_000, dutyOnMs: 600, dutyPeriodMs: 6000 }, stack.captureToken);
        duty.push(await wrk(url));
        const dj = await waitJob(stack, dutyId, 120_000);
        const note = /duty cycle: [^;]*?([\d.]+)% of the ([\d.]+) s run[^;]*(?:; taking them out took (\d+) ms a window)?/.exec(dj.runs[0].reason ?? '');
        dutyJobs.push({ id: dutyId, status: dj.status, attachedPercent: note ? Number(note[1]) : null, removalMs: note?.[3] ? Number(note[3]) : null, ssl: dj.runs[0].ssl });

        const bt = await startBpftrace(bpftraceScript(pid));
        bpftrace.push(await wrk(url));
        await interrupt(bt, 'bpftrace').catch(() => undefined);
      }
      const base = median(plain);
      const loss = (xs) => 1 - median(xs) / base;
      results.sizes[size] = { rps: { plain, ours, duty, bpftrace }, loss: { tracefleet: loss(ours), duty: loss(duty), bpftrace: loss(bpftrace) }, jobs, dutyJobs };
    }
  } finally {
    nginx.child.kill('SIGQUIT');
    await sleep(500);
  }

  const row = (size) => {
    const s = results.sizes[size];
    const j = s.jobs[s.jobs.length - 1];
    const seen = Number(j.ssl?.eventsSeen ?? 0);
    return `| ${size === '1k' ? '1 KiB' : '64 KiB'} | ${median(s.rps.plain).toFixed(0)} | ${median(s.rps.ours).toFixed(0)} (−${(100 * s.loss.tracefleet).toFixed(1)} %) | ${median(s.rps.bpftrace).toFixed(0)} (−${(100 * s.loss.bpftrace).toFixed(1)} %) | ${(s.loss.tracefleet / s.loss.bpftrace).toFixed(2)} | ${(seen / j.seconds).toFixed(0)} events/s; dropped kernel ${j.ssl?.droppedKernel ?? '?'}, agent ${j.ssl?.droppedAgent ?? '?'}, over budget ${j.ssl?.overBudget ?? '?'} |`;
  };
  const dutyRow = (size) => {
    const s = results.sizes[size];
    const attached = s.dutyJobs.map((j) => j.attachedPercent).filter((x) => x !== null);
    const removal = s.dutyJobs.map((j) => j.removalMs).filter((x) => x !== null);
    return `| ${size === '1k' ? '1 KiB' : '64 KiB'} | ${median(s.rps.plain).toFixed(0)} | ${median(s.rps.duty).toFixed(0)} (−${(100 * s.loss.duty).toFixed(1)} %) | ${attached.length ? median(attached).toFixed(1) : '?'} % | ${removal.length ? median(removal).toFixed(0) : '?'} ms |`;
  };
  publish(
    'ssl',
    results,
    `## TLS plaintext capture (ssl-capture)

Run ${results.date} on ${results.machine.cpus} CPUs, kernel ${results.machine.kernel}; raw figures in bench/results/ssl.json. nginx 1 worker (HTTPS, keep-alive, libssl.so.3), \`wrk -t1 -c8 -d${SECONDS}s\`, median of ${ROUNDS} rounds per condition, conditions interleaved. Tracefleet: an ssl-capture job on the nginx pid keeping 4 KiB of plaintext per call; bpftrace 0.17: uprobe + uretprobe on SSL_read/SSL_write copying the buffer with \`buf()\` (its default 64-byte cap) and printing it.

| response | requests/s untraced | Tracefleet | bpftrace | our loss / bpftrace's | capture |
|---|---|---|---|---|---|
${row('1k')}
${row('64k')}

Duty-cycled capture of the first 256 bytes of each call (\`maxDataBytes: 256, dutyOnMs: 600, dutyPeriodMs: 6000\`, a 10 % duty cycle on paper), same rounds. The time attached is the job's own measure: it counts the kernel's removal of the probes (an RCU grace period per uprobe) as attached, so the effective duty cycle is higher than 10 %.

| response | requests/s untraced | duty-cycled, 256 B per call | time attached | removal per window |
|---|---|---|---|---|
${dutyRow('1k')}
${dutyRow('64k')}

Where the probes went (per binary, verified by disassembly): ${(results.sizes['1k'].jobs[0].placement ?? []).join('; ')}.`,
  );
}
