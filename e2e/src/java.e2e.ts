/**
 * JIT-compiled Java methods by name (issue 16): a cpu-profile of a HotSpot JVM asks it for a perf map through its
 * attach socket (the agent's own client of `jcmd <pid> Compiler.perfmap`), so the hot method, compiled after a
 * warm-up, is named in the profile; a JVM that cannot give a map is profiled without names and the run says why.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FIXTURES, parseFolded, startStack, waitFor, waitJob, type Stack as StackApi } from './harness';
import { chainShare, startFixture, topStacks, type Stack } from './unwind-support';

const JAVA_HOME = '/usr/lib/jvm/java-17-openjdk-amd64';
const HOT = /HotLoop[.:]+hotMethod/;

const total = (stacks: Stack[]): number => stacks.reduce((a, s) => a + s.count, 0);

describe('Java JIT frames in CPU profiles, end to end on the real kernel', () => {
  let stack: StackApi;
  const children: ChildProcess[] = [];
  // The classes in a directory of their own that every user can read (the JVM of user nobody loads them too;
  // e2e/.work may be 0700).
  const classes = mkdtempSync(join(tmpdir(), 'tf-java-e2e-'));
  chmodSync(classes, 0o755);

  before(async () => {
    for (const f of [`${JAVA_HOME}/bin/java`, `${JAVA_HOME}/bin/javac`]) {
      if (!existsSync(f)) throw new Error(`${f} is missing: npm run setup installs openjdk-17`);
    }
    const javac = spawnSync(`${JAVA_HOME}/bin/javac`, ['-d', classes, join(FIXTURES, 'HotLoop.java')], { encoding: 'utf8' });
    if (javac.status !== 0) throw new Error(`javac HotLoop.java failed: ${javac.stderr}`);
    stack = await startStack();
  });

  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await stack?.stop();
    rmSync(classes, { recursive: true, force: true });
  });

  async function launch(args: string[]): Promise<ChildProcess> {
    const child = await startFixture(`${JAVA_HOME}/bin/java`, args, 'ready', 20_000);
    children.push(child);
    return child;
  }

  async function profile(pid: number, durationSec: number, extra: object = {}): Promise<{ job: any; stacks: Stack[] }> {
    const created = await stack.api('POST', '/jobs', { type: 'cpu-profile', durationSec, frequencyHz: 99, target: { pid }, nodes: { names: [stack.nodeName] }, ...extra });
    assert.equal(created.status, 201, created.text);
    const job = await waitJob(stack, created.json.id);
    assert.equal(job.status, 'completed', JSON.stringify(job));
    const folded = await stack.api('GET', `/jobs/${job.id}/flamegraph.folded`);
    assert.equal(folded.status, 200, folded.text);
    return { job, stacks: parseFolded(folded.text) };
  }

  it('names a JIT-compiled hot method in ≥ 50 % of samples, from the perf map the JVM wrote when asked', async () => {
    const jvm = await launch(['-Xmx128m', '-cp', classes, 'HotLoop']);
    const { job, stacks } = await profile(jvm.pid!, 4);
    // The map is in the JVM's /tmp under its pid, written by the JVM itself.
    assert.ok(existsSync(`/tmp/perf-${jvm.pid}.map`), 'the JVM wrote no perf map');
    jvm.kill('SIGKILL');
    rmSync(`/tmp/perf-${jvm.pid}.map`, { force: true });
    assert.ok(total(stacks) > 150, `only ${total(stacks)} samples:\n${topStacks(stacks)}`);
    const share = chainShare(stacks, [HOT]);
    console.log(`# hotMethod in ${(share * 100).toFixed(1)} % of samples; busiest: ${topStacks(stacks, 1).trim()}; notes: ${job.runs[0].reason}`);
    assert.ok(share >= 0.5, `HotLoop.hotMethod in ${(share * 100).toFixed(1)} %:\n${topStacks(stacks)}`);
    assert.match(job.runs[0].reason ?? '', /java: 1 JVM\(s\) gave perf maps/, JSON.stringify(job.runs[0]));
    // The attach trigger was removed again; nothing else of ours is left in the JVM's working directory.
    assert.deepEqual(readdirSync(process.cwd()).filter((f) => f.startsWith('.attach_pid')), []);
  });

  it("asks a JVM of another user (nobody) the same way: the JVM accepts root, and its map is its user's", async () => {
    const child = await startFixture('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', `${JAVA_HOME}/bin/java`, '-Xmx128m', '-cp', classes, 'HotLoop'], 'ready', 20_000);
    children.push(child);
    const { job, stacks } = await profile(child.pid!, 3);
    child.kill('SIGKILL');
    rmSync(`/tmp/perf-${child.pid}.map`, { force: true });
    const share = chainShare(stacks, [HOT]);
    assert.ok(share >= 0.5, `HotLoop.hotMethod in ${(share * 100).toFixed(1)} %:\n${topStacks(stacks)}\n${job.runs[0].reason}`);
  });

  it('javaPerfMaps: false leaves the JVM alone: no map asked for, no names', async () => {
    const jvm = await launch(['-Xmx128m', '-cp', classes, 'HotLoop']);
    const { job, stacks } = await profile(jvm.pid!, 3, { javaPerfMaps: false });
    const mapWritten = existsSync(`/tmp/perf-${jvm.pid}.map`);
    jvm.kill('SIGKILL');
    rmSync(`/tmp/perf-${jvm.pid}.map`, { force: true });
    assert.equal(mapWritten, false, 'the JVM was asked for a map');
    assert.equal(chainShare(stacks, [HOT]), 0);
    assert.doesNotMatch(job.runs[0].reason ?? '', /java:/);
  });

  it('an incident runs the jvm-gc USDT preset and a CPU profile of the same JVM together', async () => {
    const jvm = await launch(['-Xmx128m', '-cp', classes, 'HotLoop', '400']);
    const created = await stack.api('POST', '/incidents', {
      name: 'jvm incident',
      nodes: { names: [stack.nodeName] },
      bundle: [
        { type: 'cpu-profile', durationSec: 5, frequencyHz: 99, target: { pid: jvm.pid } },
        { type: 'usdt', durationSec: 5, preset: 'jvm-gc', target: { pid: jvm.pid } },
      ],
    });
    assert.equal(created.status, 201, created.text);
    let inc: any;
    await waitFor(async () => {
      inc = (await stack.api('GET', `/incidents/${created.json.id}`)).json;
      return inc.status !== 'running';
    }, 60_000, 'the incident to end');
    jvm.kill('SIGKILL');
    rmSync(`/tmp/perf-${jvm.pid}.map`, { force: true });
    assert.equal(inc.status, 'completed', JSON.stringify(inc, null, 1));
    const [cpu, usdt] = inc.jobs;
    const stacks = parseFolded((await stack.api('GET', `/jobs/${cpu.id}/flamegraph.folded`)).text);
    assert.ok(chainShare(stacks, [HOT]) >= 0.5, `hotMethod in ${(chainShare(stacks, [HOT]) * 100).toFixed(1)} %:\n${topStacks(stacks)}`);
    const gc = (await stack.api('GET', `/jobs/${usdt.id}/usdt`)).json.pairs.find((p: { label: string }) => p.label === 'gc');
    assert.ok(gc && gc.count >= 5, `GC pauses seen: ${JSON.stringify(gc)}`);
  });

  it('profiles a JVM that refuses attach without JIT names, and says why', async () => {
    const jvm = await launch(['-Xmx128m', '-XX:+DisableAttachMechanism', '-cp', classes, 'HotLoop']);
    const { job, stacks } = await profile(jvm.pid!, 3);
    jvm.kill('SIGKILL');
    assert.ok(total(stacks) > 100, `only ${total(stacks)} samples`);
    assert.equal(chainShare(stacks, [HOT]), 0);
    assert.match(job.runs[0].reason ?? '', /java: no perf map, JIT frames unnamed: pid \d+: the JVM did not open its attach socket/, JSON.stringify(job.runs[0]));
  });
});
