// Acknowledged delivery, end to end: the controller, PostgreSQL or the link fail mid-job, and the job
// still completes with every sample its agent took, none stored twice. Real kernel, PostgreSQL, Redis,
// gRPC; the faults are real (SIGKILL of the controller process).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { buildC, parseFolded, sleep, startStack, waitFor, waitJob, type Stack } from './harness';
import { pgCtl } from './faults';

const HZ = 99;
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

/** CPU seconds a process has run (user + system), from /proc/PID/stat. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // utime, stime: fields 14 and 15 of the line
}

/**
 * The target's CPU seconds over windowMs from now, which the caller starts inside the job's sampling window:
 * the profile samples the target only while it runs, so on a busy 2-CPU machine (PostgreSQL stopping and
 * starting, a controller restarting) what it may take is its own CPU time × HZ, not the wall time × HZ.
 */
function cpuOver(pid: number, windowMs: number): Promise<number> {
  const start = cpuSeconds(pid);
  return new Promise((resolve) => setTimeout(() => resolve(cpuSeconds(pid) - start), windowMs).unref());
}

describe('acknowledged delivery: faults delay results, they do not lose them', () => {
  let stack: Stack;
  let hotBin: string;
  const children: ChildProcess[] = [];

  before(async () => {
    hotBin = buildC('hot');
    // The grace period is longer than any outage below: the runs must wait for their agent, not fail.
    stack = await startStack({ env: { TRACEFLEET_RUN_GRACE_MS: '60000' } });
  });

  after(async () => {
    // Whatever happened in a test, PostgreSQL is running again for the tests after this file.
    pgCtl('start');
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await stack?.stop();
  });

  function busy(): ChildProcess {
    const child = spawn(hotBin, ['0'], { stdio: 'ignore' });
    children.push(child);
    return child;
  }

  async function running(id: string): Promise<void> {
    await waitFor(async () => (await stack.api('GET', `/jobs/${id}`)).json?.runs?.[0]?.status === 'running', 20_000, `job ${id} to be running`);
  }

  it('kill -9 of the only controller 3 s into a 15 s cpu-profile, started again 5 s later: completed with every sample the agent took, none twice', async () => {
    const hot = busy();
    await sleep(300);
    const agent = stack.agent!;
    const created = await stack.api('POST', '/jobs', { type: 'cpu-profile', durationSec: 15, frequencyHz: HZ, target: { pid: hot.pid }, nodes: { names: [stack.nodeName] } });
    assert.equal(created.status, 201, created.text);
    const id = created.json.id;
    await running(id);
    const cpu = cpuOver(hot.pid!, 13_000);
    await sleep(3000);
    stack.controller.kill('SIGKILL');
    await new Promise((r) => stack.controller.once('exit', r));
    const killedAt = Date.now();
    await sleep(5000);
    await stack.restartReplica(0);
    console.log(`# controller started again ${Date.now() - killedAt} ms after SIGKILL`);

    const job = await waitJob(stack, id, 60_000);
    const r = job.runs[0];
    console.log(
      `# after the kill: ${job.status}; taken ${r.samplesTaken}, dropped kernel ${r.samplesDroppedKernel} agent ${r.samplesDroppedAgent}, stored ${r.samplesStored}, ` +
        `lost ${r.samplesLostTransit}, duplicates dropped ${r.duplicatesDropped}, batches ${r.batchesReceived}, spooled ${r.batchesSpooled}`,
    );
    assert.equal(agent.exitCode, null, 'the same agent process delivered the results');
    assert.equal(job.status, 'completed', JSON.stringify(job));
    assert.equal(r.status, 'completed');
    assert.equal(r.reason, null, 'nothing to report: nothing was lost');
    // Sampled throughout, the controller's death included: at least 80 % of the target's CPU time over 13 s
    // of the 15 s job × 99 Hz (a CPU burner: about 13 s of it when the machine is quiet).
    const cpuSec = await cpu;
    console.log(`# the target ran ${cpuSec.toFixed(1)} CPU s in 13 s of the job`);
    assert.ok(cpuSec > 3, `the target ran only ${cpuSec} CPU s: too little to tell`);
    assert.ok(r.samplesTaken > 0.8 * HZ * cpuSec, `only ${r.samplesTaken} samples taken for ${cpuSec} CPU s`);
    assert.equal(r.samplesStored, r.samplesTaken - r.samplesDroppedKernel - r.samplesDroppedAgent, 'every sample the agent sent is stored, once');
    assert.equal(r.samplesLostTransit, 0);
    assert.equal(r.seqGaps, 0);
    assert.equal(r.batchesNotStored, 0);
    assert.equal(r.batchesOverflowed, 0);
    // The flame graph holds each sample once: a batch stored twice would show as more than what was taken.
    const folded = await stack.api('GET', `/jobs/${id}/flamegraph.folded`);
    assert.equal(folded.status, 200);
    const total = parseFolded(folded.text).reduce((a, s) => a + s.count, 0);
    assert.equal(total, r.samplesStored);
  });

  it('PostgreSQL stopped for 15 s from 3 s into a 12 s cpu-profile (down past its end): the job completes with nothing lost', async () => {
    const hot = busy();
    await sleep(300);
    const created = await stack.api('POST', '/jobs', { type: 'cpu-profile', durationSec: 12, frequencyHz: HZ, target: { pid: hot.pid }, nodes: { names: [stack.nodeName] } });
    assert.equal(created.status, 201, created.text);
    const id = created.json.id;
    await running(id);
    const cpu = cpuOver(hot.pid!, 10_000);
    await sleep(3000);
    pgCtl('stop');
    const stoppedAt = Date.now();
    try {
      await sleep(15_000);
    } finally {
      pgCtl('start');
    }
    const startedAt = Date.now();
    console.log(`# PostgreSQL stopped for ${startedAt - stoppedAt} ms`);
    // The agent holds its results and comes back with its reconnect backoff; the job then completes.
    const job = await waitJob(stack, id, 120_000);
    const r = job.runs[0];
    console.log(
      `# ${Date.now() - startedAt} ms after PostgreSQL came back: ${job.status}; taken ${r.samplesTaken}, stored ${r.samplesStored}, lost ${r.samplesLostTransit}, ` +
        `duplicates dropped ${r.duplicatesDropped}, batches ${r.batchesReceived}`,
    );
    assert.equal(job.status, 'completed', JSON.stringify(job));
    assert.equal(r.reason, null);
    // Sampled throughout, PostgreSQL's stop included: at least 80 % of the target's CPU time over 10 s of
    // the 12 s job × 99 Hz.
    const cpuSec = await cpu;
    console.log(`# the target ran ${cpuSec.toFixed(1)} CPU s in 10 s of the job`);
    assert.ok(cpuSec > 2, `the target ran only ${cpuSec} CPU s: too little to tell`);
    assert.ok(r.samplesTaken > 0.8 * HZ * cpuSec, `only ${r.samplesTaken} samples taken for ${cpuSec} CPU s`);
    assert.equal(r.samplesStored, r.samplesTaken - r.samplesDroppedKernel - r.samplesDroppedAgent, 'every sample the agent sent is stored, once');
    assert.equal(r.samplesLostTransit, 0);
    assert.equal(r.batchesNotStored, 0, 'nothing was counted as not stored: the agent kept it');
    assert.equal(r.seqGaps, 0);
    const folded = await stack.api('GET', `/jobs/${id}/flamegraph.folded`);
    assert.equal(parseFolded(folded.text).reduce((a, s) => a + s.count, 0), r.samplesStored);
  });
});
