/**
 * Python frames by name (issue 16), read by the profile program from the interpreter's memory at sample time:
 * Debian's python3.11 and pyenv's CPython 3.8, 3.12 and 3.13 (three frame layouts) show `g (app.py:N)` → `f (app.py:M)`
 * in place of the eval loop, under the interpreter's native main; a process that starts after the job began (a comm
 * target) gets its Python frames too; a CPython whose version has no layout (pyenv's 3.7) is profiled natively and
 * the run says why.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { FIXTURES, WORK, parseFolded, sleep, startStack, waitJob, type Stack as StackApi } from './harness';
import { DEBIAN_PYTHON, chainShare, startFixture, topStacks, type Stack } from './unwind-support';

const APP = join(FIXTURES, 'python', 'app.py');
const PY_MAIN = /^(main|Py_BytesMain|Py_RunMain)$/;
const G = /^g \(app\.py:\d+\)$/;
const F = /^f \(app\.py:\d+\)$/;
const PYENV = '/root/.pyenv/versions';

/** pyenv's interpreter of that version: the machine has them (FACTS.md); a missing one fails the test loudly. */
function pyenv(version: string): string {
  const bin = join(PYENV, version, 'bin', `python${version.split('.').slice(0, 2).join('.')}`);
  assert.ok(existsSync(bin), `${bin} is missing: this test needs pyenv's CPython ${version}`);
  return bin;
}

const total = (stacks: Stack[]): number => stacks.reduce((a, s) => a + s.count, 0);

describe('Python frames in CPU profiles, end to end on the real kernel', () => {
  let stack: StackApi;
  const children: ChildProcess[] = [];

  before(async () => {
    stack = await startStack();
  });

  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await stack?.stop();
  });

  async function launch(cmd: string, args: string[]): Promise<ChildProcess> {
    const child = await startFixture(cmd, args);
    children.push(child);
    return child;
  }

  async function profile(target: object, durationSec: number, whileRunning?: () => Promise<void>): Promise<{ job: any; stacks: Stack[] }> {
    const created = await stack.api('POST', '/jobs', { type: 'cpu-profile', durationSec, frequencyHz: 99, target, nodes: { names: [stack.nodeName] } });
    assert.equal(created.status, 201, created.text);
    await whileRunning?.();
    const job = await waitJob(stack, created.json.id);
    assert.equal(job.status, 'completed', JSON.stringify(job));
    const folded = await stack.api('GET', `/jobs/${job.id}/flamegraph.folded`);
    assert.equal(folded.status, 200, folded.text);
    return { job, stacks: parseFolded(folded.text) };
  }

  async function expectNamedFrames(python: string): Promise<{ job: any; stacks: Stack[] }> {
    const child = await launch(python, [APP, '0']);
    const result = await profile({ pid: child.pid }, 4);
    child.kill('SIGKILL');
    const { stacks } = result;
    assert.ok(total(stacks) > 150, `only ${total(stacks)} samples of ${python}:\n${topStacks(stacks)}`);
    const share = chainShare(stacks, [PY_MAIN, G, F]);
    assert.ok(share >= 0.9, `${python}: main → g → f in ${(share * 100).toFixed(1)} % of samples:\n${topStacks(stacks)}`);
    // The eval loop's frames gave their place to Python's: none is left above main on the whole-chain stacks.
    const evalLeft = chainShare(stacks, [PY_MAIN, G, F, '_PyEval_EvalFrameDefault']);
    console.log(`# ${python}: ${(share * 100).toFixed(1)} % main → g → f; busiest stack: ${topStacks(stacks, 1).trim()}; run notes: ${result.job.runs[0].reason}`);
    assert.ok(evalLeft < 0.05, `${python}: an eval frame above f in ${(evalLeft * 100).toFixed(1)} %:\n${topStacks(stacks)}`);
    return result;
  }

  it("names Debian python3.11's functions with file and line: ≥ 90 % of samples show main → g → f", async () => {
    const { job } = await expectNamedFrames(DEBIAN_PYTHON);
    assert.match(job.runs[0].reason ?? '', /python: 1 process\(es\) \(3\.11\.\d+\)/, JSON.stringify(job.runs[0]));
  });

  for (const version of ['3.8.18', '3.12.1', '3.13.0']) {
    it(`names pyenv CPython ${version}'s functions the same way (its own frame layout)`, async () => {
      const { job } = await expectNamedFrames(pyenv(version));
      assert.match(job.runs[0].reason ?? '', new RegExp(`python: 1 process\\(es\\) \\(${version.replace(/\./g, '\\.')}`), JSON.stringify(job.runs[0]));
    });
  }

  it('gives Python frames to a process started after the job began (comm target)', async () => {
    let child: ChildProcess | undefined;
    const { stacks } = await profile({ comm: 'python3.11' }, 5, async () => {
      await sleep(1500);
      child = await launch(DEBIAN_PYTHON, [APP, '0']);
    });
    child?.kill('SIGKILL');
    const mine = stacks.filter((s) => s.frames.some((f) => G.test(f) || f === '_PyEval_EvalFrameDefault'));
    assert.ok(total(mine) > 100, `only ${total(mine)} samples of the late process:\n${topStacks(stacks)}`);
    // Its first samples may come before the agent read its interpreter (at most one delivery, ~100 ms).
    const share = chainShare(mine, [PY_MAIN, G, F]);
    assert.ok(share >= 0.8, `main → g → f in ${(share * 100).toFixed(1)} %:\n${topStacks(mine)}`);
  });

  it('survives a hostile "python3.11": a thread list that loops, a frame chain that loops into a fake code object', async () => {
    const dir = join(WORK, 'hostile-python');
    mkdirSync(dir, { recursive: true });
    const bin = join(dir, 'python3.11'); // the name the agent looks for
    const cc = spawnSync('gcc', ['-O1', '-g', '-rdynamic', '-pthread', '-o', bin, join(FIXTURES, 'python', 'fake_python.c')], { encoding: 'utf8' });
    assert.equal(cc.status, 0, cc.stderr);

    const cycle = await launch(bin, ['cycle']);
    const ring = await profile({ pid: cycle.pid }, 3);
    cycle.kill('SIGKILL');
    assert.ok(total(ring.stacks) > 100, `only ${total(ring.stacks)} samples:\n${topStacks(ring.stacks)}`);
    assert.match(ring.job.runs[0].reason ?? '', /python: 1 process\(es\) \(3\.11\.2\).*of their \d+ samples [1-9]\d* were of threads without a Python thread state/, JSON.stringify(ring.job.runs[0]));

    const loop = await launch(bin, ['frames']);
    const frames = await profile({ pid: loop.pid }, 3);
    loop.kill('SIGKILL');
    assert.ok(total(frames.stacks) > 100, `only ${total(frames.stacks)} samples`);
    const reason = frames.job.runs[0].reason ?? '';
    assert.match(reason, /deeper than 128 Python frames/, reason);
    assert.match(reason, /1 code object\(s\) unreadable/, reason);
    // Nothing named from the fake code object: only placeholders, at most 128 per stack.
    const pyFrames = frames.stacks.flatMap((s) => s.frames.filter((f) => f.startsWith('[python code')));
    assert.ok(pyFrames.length > 0 && pyFrames.every((f) => /^\[python code 0x[0-9a-f]+: not a code object\]$/.test(f)), pyFrames.slice(0, 3).join(' | '));
    assert.ok(frames.stacks.every((s) => s.frames.length <= 1 + 127 + 128 + 127), 'a stack longer than its parts allow');

    // The agent is unharmed: the next job runs as before.
    await expectNamedFrames(DEBIAN_PYTHON);
  });

  it('profiles a CPython without a known frame layout natively and says why (pyenv 3.7)', async () => {
    const child = await launch(pyenv('3.7.16'), [APP, '0']);
    const { job, stacks } = await profile({ pid: child.pid }, 3);
    child.kill('SIGKILL');
    assert.ok(total(stacks) > 100, `only ${total(stacks)} samples:\n${topStacks(stacks)}`);
    assert.equal(chainShare(stacks, [G]), 0, 'no Python names for an unknown layout');
    assert.ok(chainShare(stacks, ['_PyEval_EvalFrameDefault']) > 0.5, `native eval frames expected:\n${topStacks(stacks)}`);
    assert.match(job.runs[0].reason ?? '', /python 3\.7\.16.*no frame layout.*natively/, JSON.stringify(job.runs[0]));
  });
});
