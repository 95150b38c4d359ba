import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WORK, bpfFds, buildC, startStack, waitFor, waitForLibc, waitJob, type Stack } from './harness';

const N = 30_000;
const SECOND = 'syscount-n2';

describe('syscount jobs, end to end on the real kernel, merged across two nodes', () => {
  let stack: Stack;
  let bin: string;
  const children: ChildProcess[] = [];

  before(async () => {
    bin = buildC('syscalls');
    stack = await startStack();
    await stack.startAgent(SECOND, 'role=e2e');
  });
  after(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await stack?.stop();
  });

  it('counts a built program\'s syscalls exactly on each node and merges them', async () => {
    const go = join(WORK, `syscalls-${process.pid}.go`);
    rmSync(go, { force: true });
    const prog = spawn(bin, [String(N), go], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(prog);
    let out = '';
    prog.stdout!.on('data', (d) => (out += d));
    await waitForLibc(prog.pid!);
    const fdsBefore = [...stack.agents.values()].map((a) => bpfFds(a.pid!).length);

    const res = await stack.api('POST', '/jobs', { type: 'syscount', durationSec: 6, target: { pid: prog.pid }, nodes: 'all' });
    assert.equal(res.status, 201, res.text);
    const id = res.json.id as string;
    await waitFor(async () => {
      const job = (await stack.api('GET', `/jobs/${id}`)).json;
      for (const r of job.runs) if (r.status === 'failed') throw new Error(`run on ${r.node} failed: ${r.reason}`);
      return job.runs.length === 2 && job.runs.every((r: { status: string }) => r.status === 'running');
    }, 30_000, 'both runs to attach');
    writeFileSync(go, '');
    await waitFor(async () => out.includes('done'), 20_000, 'the program to make its calls');
    const job = await waitJob(stack, id, 60_000);
    rmSync(go, { force: true });
    assert.equal(job.status, 'completed', JSON.stringify(job));
    assert.equal(job.links.syscount, `/api/v1/jobs/${id}/syscount`);
    assert.equal(job.links.flamegraphSvg, undefined, 'no flame graph for counts');
    for (const r of job.runs) assert.equal(r.samplesLostTransit, 0, JSON.stringify(r));

    const r = (await stack.api('GET', `/jobs/${id}/syscount?top=10`)).json;
    const nodes = [stack.nodeName, SECOND].sort();
    assert.deepEqual(r.nodes.map((n: { node: string }) => n.node), nodes);
    const getppid = r.bySyscall.find((s: { name: string }) => s.name === 'getppid');
    const getuid = r.bySyscall.find((s: { name: string }) => s.name === 'getuid');
    assert.ok(getppid && getuid, JSON.stringify(r.bySyscall));
    // Each node counted the same process: exactly N on each, 2N merged.
    assert.equal(getppid.count, String(2 * N));
    assert.deepEqual(getppid.byNode, Object.fromEntries(nodes.map((n) => [n, String(N)])));
    assert.equal(getuid.count, String((2 * N) / 5));
    assert.equal(r.bySyscall[0].name, 'getppid', 'largest first');
    const proc = r.byProcess.find((p: { node: string; pid: number }) => p.node === SECOND && p.pid === prog.pid);
    assert.equal(proc.comm, 'syscalls');
    assert.deepEqual(proc.top.slice(0, 2).map((t: { name: string }) => t.name), ['getppid', 'getuid']);
    assert.equal(r.totals.uncounted, '0');
    assert.ok(Number(r.totals.calls) >= 2 * (N + N / 5), JSON.stringify(r.totals));

    // Nothing of the job stays attached in either agent.
    await waitFor(async () => [...stack.agents.values()].every((a, i) => bpfFds(a.pid!).length <= fdsBefore[i]), 10_000, 'the agents to close the job\'s BPF fds');
  });

  it('refuses hostile requests with the field or the reason', async () => {
    const base = { type: 'syscount', durationSec: 2, target: { all: true }, nodes: 'all' };
    for (const [body, re] of [
      [{ ...base, maxKeys: 0 }, /maxKeys must not be less than 1/],
      [{ ...base, maxKeys: 2 ** 20 + 1 }, /maxKeys must not be greater than 1048576/],
      [{ ...base, maxKeys: '5' }, /maxKeys must be an integer/],
      [{ ...base, frequencyHz: 99 }, /frequencyHz applies only to cpu-profile jobs/],
      [{ ...base, type: 'memleak', target: { pid: 1 }, maxKeys: 5 }, /maxKeys applies only to syscount jobs/],
    ] as const) {
      const res = await stack.api('POST', '/jobs', body);
      assert.equal(res.status, 400, res.text);
      assert.match(res.text, re);
    }
    assert.equal((await stack.api('GET', '/jobs/00000000-0000-0000-0000-000000000000/syscount')).status, 404);
    assert.equal((await stack.api('GET', '/jobs/not-a-uuid/syscount')).status, 404);
    assert.equal((await stack.api('GET', '/jobs/00000000-0000-0000-0000-000000000000/syscount?top=0')).status, 400);
    assert.equal((await stack.api('GET', '/jobs/00000000-0000-0000-0000-000000000000/syscount', undefined, null)).status, 401);
  });
});
