import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { toFolded } from '@tracefleet/controller/dist/profiles/flamegraph/flamegraph';
import { decodePprof, pprofStacks } from '@tracefleet/controller/dist/profiles/pprof/pprof-decode';
import { FIXTURES, bpfFds, buildC, parseFolded, samplesUnder, sleep, startStack, waitFor, waitJob, type Stack } from './harness';

const HZ = 99;

describe('cpu-profile, end to end on the real kernel', () => {
  let stack: Stack;
  let hotBin: string;
  const children: ChildProcess[] = [];

  before(async () => {
    hotBin = buildC('hot');
    stack = await startStack();
  });

  after(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await stack?.stop();
  });

  function launch(cmd: string, args: string[]): ChildProcess {
    const child = spawn(cmd, args, { stdio: 'ignore' });
    children.push(child);
    return child;
  }

  it('attributes ≥ 80 % of a C program\'s samples to main → work → hot_spin, and counts hz × seconds ± 10 %', async () => {
    const hot = launch(hotBin, ['0']);
    await sleep(300);
    const created = await stack.api('POST', '/jobs', {
      type: 'cpu-profile',
      durationSec: 5,
      frequencyHz: HZ,
      target: { pid: hot.pid },
      nodes: { names: [stack.nodeName] },
    });
    assert.equal(created.status, 201, created.text);
    await sleep(1500);
    // While sampling, the agent holds the program, its maps, links and perf events (this also proves the fd check below can see them).
    const during = bpfFds(stack.agent!.pid!);
    assert.ok(during.some((fd) => fd.includes('perf_event')) && during.some((fd) => /bpf[-_]link/.test(fd)), `during the run: ${during.join(', ')}`);
    const job = await waitJob(stack, created.json.id);
    hot.kill('SIGKILL');
    assert.equal(job.status, 'completed', JSON.stringify(job));
    const run = job.runs[0];
    assert.equal(run.node, stack.nodeName);

    const folded = await stack.api('GET', `/jobs/${job.id}/flamegraph.folded`);
    assert.equal(folded.status, 200);
    const stacks = parseFolded(folded.text);
    const { under: inHot, total } = samplesUnder(stacks, ['main', 'work', 'hot_spin']);
    assert.ok(inHot / total >= 0.8, `only ${inHot} of ${total} samples under main → work → hot_spin:\n${folded.text.slice(0, 2000)}`);

    const expected = HZ * 5;
    assert.ok(Math.abs(total - expected) <= expected * 0.1, `${total} samples stored, expected ${expected} ± 10 %`);
    assert.equal(run.samplesStored, total);
    assert.equal(run.samplesLostTransit, 0);
    assert.equal(run.samplesDroppedKernel, 0);
    assert.ok(run.samplesTaken >= total, `taken ${run.samplesTaken} < stored ${total}`);

    const svg = await stack.api('GET', `/jobs/${job.id}/flamegraph.svg`);
    assert.equal(svg.status, 200);
    assert.match(svg.text, /^<\?xml|^<svg/);
    assert.match(svg.text, /hot_spin/);

    // The pprof export holds the same samples per stack as the folded output.
    const pprof = await fetch(`${stack.base}/jobs/${job.id}/profile.pprof`, { headers: { authorization: `Bearer ${stack.apiToken}` } });
    assert.equal(pprof.status, 200, await pprof.clone().text());
    const prof = decodePprof(new Uint8Array(await pprof.arrayBuffer()));
    assert.equal(prof.stringTable[0], '');
    assert.equal(toFolded(pprofStacks(prof).map((s) => ({ frames: s.frames, count: s.count }))), folded.text);
  });

  it('shows a JIT-compiled JS function of node --perf-basic-prof by name', async () => {
    const burner = launch(process.execPath, ['--perf-basic-prof', join(FIXTURES, 'burn.js'), '0']);
    await sleep(1500); // let V8 compile the hot function and write /tmp/perf-PID.map
    const created = await stack.api('POST', '/jobs', {
      type: 'cpu-profile',
      durationSec: 4,
      target: { pid: burner.pid },
      nodes: 'all',
    });
    assert.equal(created.status, 201, created.text);
    const job = await waitJob(stack, created.json.id);
    burner.kill('SIGKILL');
    rmSync(`/tmp/perf-${burner.pid}.map`, { force: true }); // V8 leaves its map behind
    assert.equal(job.status, 'completed', JSON.stringify(job));
    const folded = await stack.api('GET', `/jobs/${job.id}/flamegraph.folded?node=${stack.nodeName}`);
    const stacks = parseFolded(folded.text);
    const named = stacks.filter((s) => s.frames.some((f) => f.includes('tracefleetBurnCpuInJs'))).reduce((a, s) => a + s.count, 0);
    const total = stacks.reduce((a, s) => a + s.count, 0);
    assert.ok(named > 0, `tracefleetBurnCpuInJs not in the profile:\n${folded.text.slice(0, 3000)}`);
    assert.ok(named / total > 0.5, `tracefleetBurnCpuInJs in only ${named} of ${total} samples`);
  });

  it('names JS functions of node --perf-basic-prof in pid and mount namespaces of its own (a private /tmp)', async () => {
    // pid 1 of its namespace, writing /tmp/perf-1.map into a tmpfs only it sees: the agent reads it through
    // /proc/PID/root under the name its NSpid gives. The script comes on stdin, opened before the mount: a
    // checkout under /tmp (a clone in /tmp/x) is hidden by that tmpfs.
    const script = `exec < ${join(FIXTURES, 'burn.js')} && mount -t tmpfs tmpfs /tmp && exec ${process.execPath} --perf-basic-prof - 0`;
    const outer = launch('unshare', ['--pid', '--mount', '--fork', '--kill-child', 'sh', '-c', script]);
    let pid = 0;
    await waitFor(async () => {
      if (outer.exitCode !== null || outer.signalCode !== null) assert.fail(`the namespaced node exited (${outer.exitCode ?? outer.signalCode}) before it ran`);
      const children = readFileSync(`/proc/${outer.pid}/task/${outer.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
      pid = Number(children[0] ?? 0);
      return pid > 0 && readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'node';
    }, 10_000, 'node to start in its namespaces');
    assert.match(readFileSync(`/proc/${pid}/status`, 'utf8'), /^NSpid:\s+\d+\s+1$/m, 'pid 1 in its own pid namespace');
    await sleep(1500); // let V8 compile the hot function and write its map
    assert.ok(!existsSync(`/tmp/perf-${pid}.map`) && !existsSync('/tmp/perf-1.map'), 'the map is not in the host /tmp');
    const created = await stack.api('POST', '/jobs', { type: 'cpu-profile', durationSec: 4, target: { pid }, nodes: 'all' });
    assert.equal(created.status, 201, created.text);
    const job = await waitJob(stack, created.json.id);
    outer.kill('SIGKILL');
    assert.equal(job.status, 'completed', JSON.stringify(job));
    const stacks = parseFolded((await stack.api('GET', `/jobs/${job.id}/flamegraph.folded?node=${stack.nodeName}`)).text);
    const named = stacks.filter((s) => s.frames.some((f) => f.includes('tracefleetBurnCpuInJs'))).reduce((a, s) => a + s.count, 0);
    const total = stacks.reduce((a, s) => a + s.count, 0);
    assert.ok(named / total > 0.5, `tracefleetBurnCpuInJs in only ${named} of ${total} samples`);
  });

  it('completes with what it captured when the target exits mid-job, and says so', async () => {
    const short = launch(hotBin, ['2']);
    await sleep(200);
    const created = await stack.api('POST', '/jobs', {
      type: 'cpu-profile',
      durationSec: 8,
      target: { pid: short.pid },
      nodes: 'all',
    });
    assert.equal(created.status, 201, created.text);
    const started = Date.now();
    const job = await waitJob(stack, created.json.id);
    assert.equal(job.status, 'completed', JSON.stringify(job));
    const run = job.runs[0];
    assert.equal(run.targetExited, true);
    assert.match(run.reason ?? '', /exited/);
    assert.ok(run.samplesStored > 50, `only ${run.samplesStored} samples captured before exit`);
    assert.ok(Date.now() - started < 8000, 'the run should end when its target exits, not wait out the duration');
  });

  it('leaves no BPF program, link, map or perf event open in the agent after jobs', async () => {
    await sleep(500);
    const left = bpfFds(stack.agent!.pid!);
    assert.deepEqual(left, [], `agent still holds: ${left.join(', ')}`);
  });

  it('rejects bad input with 400 naming the field, and missing tokens with 401', async () => {
    const ok = { type: 'cpu-profile', durationSec: 1, target: { all: true }, nodes: 'all' };
    const cases: [unknown, RegExp][] = [
      [{ ...ok, type: 'flux-capture' }, /type must be one of/],
      [{ ...ok, durationSec: 0 }, /durationSec/],
      [{ ...ok, durationSec: -3 }, /durationSec/],
      [{ ...ok, durationSec: 601 }, /durationSec must not be greater than 600/],
      [{ ...ok, durationSec: 1.5 }, /durationSec/],
      [{ ...ok, frequencyHz: 5000 }, /frequencyHz/],
      [{ ...ok, target: { pid: 4_000_000 } }, /target.pid/],
      [{ ...ok, target: { pid: 1, comm: 'x' } }, /target must have exactly one/],
      [{ ...ok, target: {} }, /target must have exactly one/],
      [{ ...ok, nodes: 'some' }, /nodes must be/],
      [{ ...ok, extra: 1 }, /property extra should not exist/],
    ];
    for (const [body, re] of cases) {
      const res = await stack.api('POST', '/jobs', body);
      assert.equal(res.status, 400, `${JSON.stringify(body)} → ${res.status} ${res.text}`);
      assert.match(JSON.stringify(res.json.message), re, JSON.stringify(body));
    }
    const none = await stack.api('POST', '/jobs', { ...ok, nodes: { names: ['no-such-node'] } });
    assert.equal(none.status, 422, none.text);
    assert.match(none.text, /no-such-node: not connected/);

    assert.equal((await stack.api('POST', '/jobs', ok, null)).status, 401);
    assert.equal((await stack.api('GET', '/nodes', undefined, 'wrong-token')).status, 401);
    assert.equal((await stack.api('GET', '/jobs/00000000-0000-0000-0000-000000000000')).status, 404);
  });
});
