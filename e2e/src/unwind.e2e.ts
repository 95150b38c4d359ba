/**
 * User stacks of programs without frame pointers, through the agent's .eh_frame tables in BPF:
 * a known chain through libc's qsort, Debian's python3.11 against perf --call-graph dwarf over the
 * same window, a stripped binary named from /usr/lib/debug/.build-id, a library dlopen'ed after
 * the job started, a signal handler, the run's unwinding counters, and nothing left in the kernel.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES, WORK, bpfFds, parseFolded, sleep, startRunningJob, startStack, waitForLibc, waitJob, type Stack as StackApi } from './harness';
import {
  DEBIAN_PYTHON,
  UNWIND_FIXTURES,
  buildDlopenFixture,
  buildFpless,
  chainShare,
  installStrippedWithDebuginfo,
  perfDwarfStacks,
  startFixture,
  topStacks,
  waitForLine,
  type Stack,
  type StrippedFixture,
} from './unwind-support';

const QSORT = /qsort/;
const PY_MAIN = /^(main|Py_BytesMain)$/;
/** The eval loop's frame, or the Python frame that took its place. */
const EVAL_OR_PYTHON = /^(_PyEval_EvalFrameDefault|\S+ \(busy\.py:\d+\))$/;
const CHAIN_C = ['main', 'tf_a', 'tf_b', 'tf_c'];
const CHAIN_SORT = ['main', 'tf_sorter', QSORT, 'tf_compare'];

function total(stacks: Stack[]): number {
  return stacks.reduce((a, s) => a + s.count, 0);
}

/** Samples whose stack holds one of the chains (each in order, root first). */
function shareOfAny(stacks: Stack[], chains: (string | RegExp)[][]): number {
  const t = total(stacks);
  if (t === 0) return 0;
  return chains.reduce((a, c) => a + chainShare(stacks, c) * t, 0) / t;
}

/** Ids of the BPF maps a process holds (its fdinfo names them), so the end can check the kernel freed them. */
function bpfMapIds(pid: number): number[] {
  const ids: number[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^map_id:\s*(\d+)$/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
      if (m) ids.push(Number(m[1]));
    } catch {
      // the fd closed meanwhile
    }
  }
  return ids;
}

/** Those of ids that still exist in the kernel. */
function mapsStillLoaded(ids: number[]): number[] {
  return ids.filter((id) => spawnSync('bpftool', ['map', 'show', 'id', String(id)], { encoding: 'utf8' }).status === 0);
}

describe('DWARF unwinding in BPF, end to end on the real kernel', () => {
  let stack: StackApi;
  let stripped: StrippedFixture | undefined;
  const children: ChildProcess[] = [];
  /** BPF maps the agent held while a job ran: the tables, the shared maps, the tracer's own. */
  const mapIdsSeen = new Set<number>();

  before(async () => {
    stack = await startStack();
  });

  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    stripped?.cleanup();
    await stack?.stop();
  });

  async function launch(cmd: string, args: string[], ready = 'ready'): Promise<ChildProcess> {
    const child = await startFixture(cmd, args, ready);
    children.push(child);
    return child;
  }

  async function profile(pid: number, durationSec: number, frequencyHz = 99): Promise<{ job: any; stacks: Stack[] }> {
    const created = await stack.api('POST', '/jobs', {
      type: 'cpu-profile',
      durationSec,
      frequencyHz,
      target: { pid },
      nodes: { names: [stack.nodeName] },
    });
    assert.equal(created.status, 201, created.text);
    await sleep(1500);
    for (const id of bpfMapIds(stack.agent!.pid!)) mapIdsSeen.add(id);
    const job = await waitJob(stack, created.json.id);
    assert.equal(job.status, 'completed', JSON.stringify(job));
    const folded = await stack.api('GET', `/jobs/${job.id}/flamegraph.folded`);
    assert.equal(folded.status, 200, folded.text);
    return { job, stacks: parseFolded(folded.text) };
  }

  it('gives ≥ 95 % of an -O2 -fomit-frame-pointer program\'s samples their whole chain, through libc\'s qsort', async () => {
    const bin = buildFpless('unwind-chain', ['unwind/chain.c']);
    const child = await launch(bin, ['0']);
    const { job, stacks } = await profile(child.pid!, 5);
    child.kill('SIGKILL');
    const share = shareOfAny(stacks, [CHAIN_C, CHAIN_SORT]);
    // Enough samples for the share to mean something (5 s at 99 Hz is ~495 on an idle CPU; a busy machine gives the
    // workload less CPU, and 274 were seen with builds running beside it).
    assert.ok(total(stacks) > 150, `only ${total(stacks)} samples`);
    assert.ok(chainShare(stacks, CHAIN_SORT) > 0.2, `the qsort path is missing:\n${topStacks(stacks)}`);
    assert.ok(share >= 0.95, `${(share * 100).toFixed(1)} % of samples carry a whole chain:\n${topStacks(stacks)}`);
    // The walk reaches _start: every stack is complete, nothing cut.
    const u = job.runs[0].unwind;
    assert.ok(u, `the run has no unwind counters: ${JSON.stringify(job.runs[0])}`);
    assert.ok(u.stacks >= total(stacks), JSON.stringify(u));
    assert.ok(u.framesTable > u.stacks * 3, JSON.stringify(u));
    assert.ok(u.stacksComplete >= u.stacks * 0.95, `complete ${u.stacksComplete} of ${u.stacks}: ${JSON.stringify(u)}`);
    assert.ok(u.tableBytesPeak > 0 && u.processes >= 1, JSON.stringify(u));
  });

  it('reaches Debian python3.11\'s main through the eval loop (or the Python frames in its place) in ≥ 90 % of samples, within 10 points of perf --call-graph dwarf', async () => {
    const child = await launch(DEBIAN_PYTHON, [`${UNWIND_FIXTURES}/busy.py`, '0']);
    // perf records the same 4 s window as the job (both start now).
    const [ours, perf] = await Promise.all([profile(child.pid!, 4), perfDwarfStacks(child.pid!, 4)]);
    child.kill('SIGKILL');
    // Ours puts Python's frames in place of the eval loop's (python.e2e.ts); perf keeps the eval loop's.
    const chain = [PY_MAIN, EVAL_OR_PYTHON];
    const oursShare = chainShare(ours.stacks, chain);
    const perfShare = chainShare(perf, chain);
    assert.ok(oursShare >= 0.9, `ours: ${(oursShare * 100).toFixed(1)} %:\n${topStacks(ours.stacks)}`);
    assert.ok(Math.abs(oursShare - perfShare) <= 0.1, `ours ${(oursShare * 100).toFixed(1)} % vs perf ${(perfShare * 100).toFixed(1)} %`);
  });

  it('names the frames of a stripped binary from its debuginfo in /usr/lib/debug/.build-id', async () => {
    stripped = installStrippedWithDebuginfo('chain');
    const child = await launch(stripped.bin, ['0']);
    const { stacks } = await profile(child.pid!, 3);
    child.kill('SIGKILL');
    const share = shareOfAny(stacks, [CHAIN_C, CHAIN_SORT]);
    assert.ok(share >= 0.9, `${(share * 100).toFixed(1)} % named whole chains:\n${topStacks(stacks)}`);
    stripped.cleanup();
    stripped = undefined;
  });

  it('gives whole stacks to a process started after a comm job began (its tables come on its first samples)', async () => {
    const bin = buildFpless('unwind-late', ['unwind/chain.c']);
    const created = await stack.api('POST', '/jobs', {
      type: 'cpu-profile',
      durationSec: 5,
      target: { comm: 'unwind-late' },
      nodes: { names: [stack.nodeName] },
    });
    assert.equal(created.status, 201, created.text);
    await sleep(1500);
    const late = await launch(bin, ['0']);
    const job = await waitJob(stack, created.json.id);
    late.kill('SIGKILL');
    assert.equal(job.status, 'completed', JSON.stringify(job));
    const stacks = parseFolded((await stack.api('GET', `/jobs/${job.id}/flamegraph.folded`)).text);
    const share = shareOfAny(stacks, [CHAIN_C, CHAIN_SORT]);
    assert.ok(total(stacks) > 150, `only ${total(stacks)} samples:\n${topStacks(stacks)}`);
    // The samples before its table was built are cut and counted as pending, never given a wrong caller.
    assert.ok(share >= 0.85, `${(share * 100).toFixed(1)} % of the late process's samples carry a whole chain:\n${topStacks(stacks)}`);
    const u = job.runs[0].unwind;
    assert.ok(u.stacksComplete + u.unwindPending >= u.stacks * 0.95, JSON.stringify(u));
  });

  it('unwinds a library dlopen\'ed after the job started', async () => {
    const { main, lib } = buildDlopenFixture();
    const child = await launch(main, ['0', '1500', lib]);
    const created = await stack.api('POST', '/jobs', {
      type: 'cpu-profile',
      durationSec: 5,
      target: { pid: child.pid },
      nodes: { names: [stack.nodeName] },
    });
    assert.equal(created.status, 201, created.text);
    await waitForLine(child, 'dlopened', 10_000);
    const job = await waitJob(stack, created.json.id);
    child.kill('SIGKILL');
    assert.equal(job.status, 'completed', JSON.stringify(job));
    const stacks = parseFolded((await stack.api('GET', `/jobs/${job.id}/flamegraph.folded`)).text);
    const inLib = stacks.filter((s) => s.frames.includes('tf_lib_inner'));
    const whole = chainShare(inLib, ['main', 'tf_lib_entry', 'tf_lib_inner']);
    assert.ok(total(inLib) > 100, `only ${total(inLib)} samples in the library:\n${topStacks(stacks)}`);
    // The first samples after dlopen may be cut as pending while the table is built: counted, not wrong.
    assert.ok(whole >= 0.9, `${(whole * 100).toFixed(1)} % of the library's samples unwind to main:\n${topStacks(stacks)}`);
    const before = chainShare(stacks, ['main', 'tf_before_dlopen']);
    assert.ok(before > 0.1, `the part before dlopen is missing:\n${topStacks(stacks)}`);
  });

  it('walks from a signal handler through the signal frame into the interrupted code, never to a wrong caller', async () => {
    const bin = buildFpless('unwind-signal', ['unwind/signal.c']);
    const child = await launch(bin, ['0']);
    const { job, stacks } = await profile(child.pid!, 4);
    child.kill('SIGKILL');
    const inHandler = stacks.filter((s) => s.frames.includes('tf_handler_work'));
    assert.ok(total(inHandler) > 50, `only ${total(inHandler)} samples in the handler:\n${topStacks(stacks)}`);
    const through = chainShare(inHandler, ['main', 'tf_interrupted_loop', 'tf_handler', 'tf_handler_work']);
    // A handler stack that does not reach the interrupted code must be a counted cut, not a stack rooted elsewhere.
    const wrong = inHandler.filter((s) => !s.frames.includes('tf_interrupted_loop') && s.frames[0] !== 'tf_handler' && s.frames.includes('main'));
    assert.equal(total(wrong), 0, `handler stacks with a wrong caller:\n${topStacks(wrong)}`);
    assert.ok(through >= 0.9, `${(through * 100).toFixed(1)} % of handler samples reach main through the signal frame:\n${topStacks(inHandler)}`);
    assert.ok(job.runs[0].unwind.stacksComplete > 0, JSON.stringify(job.runs[0].unwind));
  });

  it('memleak: bytes allocated through strdup and C++ new in an FP-less build are charged to the application function', async () => {
    const K = 50;
    const S = 4096;
    const bin = buildFpless('unwind-leak_fpless', ['unwind/leak_fpless.cc'], ['-lstdc++']);
    const go = join(WORK, `unwind-leak-${process.pid}.go`);
    rmSync(go, { force: true });
    const prog = await launch(bin, [String(K), go]);
    await waitForLibc(prog.pid!);
    const id = await startRunningJob(stack, { type: 'memleak', durationSec: 5, intervalSec: 2, target: { pid: prog.pid } });
    writeFileSync(go, '');
    await waitForLine(prog, `leaked ${K}`, 10_000);
    const job = await waitJob(stack, id, 60_000);
    prog.kill('SIGKILL');
    rmSync(go, { force: true });
    assert.equal(job.status, 'completed', JSON.stringify(job));
    const top: { frames: string[]; bytes: string }[] = (await stack.api('GET', `/jobs/${id}/memleak`)).json.merged.top;
    // C++ names come demangled: tf_serve(int), tf_leak_new().
    const bytesThrough = (fn: string) =>
      top
        .filter((s) => chainShare([{ frames: s.frames, count: 1 }], ['main', /^tf_serve\(/, new RegExp(`^${fn}\\(`)]) === 1)
        .reduce((a, s) => a + Number(s.bytes), 0);
    const viaStrdup = bytesThrough('tf_leak_strdup');
    const viaNew = bytesThrough('tf_leak_new');
    const shown = top.slice(0, 8).map((s) => `${s.bytes} ${s.frames.join(';')}`).join('\n');
    // strdup(S - 1 characters) asks malloc for S bytes; new char[S] asks operator new for S.
    assert.ok(Math.abs(viaStrdup - K * S) <= K * S * 0.05, `${viaStrdup} bytes charged to main → tf_serve → tf_leak_strdup, expected ${K * S}:\n${shown}`);
    assert.ok(Math.abs(viaNew - K * S) <= K * S * 0.05, `${viaNew} bytes charged to main → tf_serve → tf_leak_new, expected ${K * S}:\n${shown}`);
    assert.ok(job.runs[0].unwind?.framesTable > 0, JSON.stringify(job.runs[0].unwind));
  });

  it('usdt userStacks: python3.11\'s gc__start stacks reach main, with the Python frame that called gc.collect() in place of the eval loop', async () => {
    const K = 5;
    const go = join(WORK, `unwind-gc-${process.pid}.go`);
    rmSync(go, { force: true });
    const py = await launch(DEBIAN_PYTHON, [join(FIXTURES, 'gc_loop.py'), String(K), go]);
    const id = await startRunningJob(stack, { type: 'usdt', durationSec: 3, target: { pid: py.pid }, preset: 'python-gc', userStacks: true });
    writeFileSync(go, '');
    const job = await waitJob(stack, id, 30_000);
    py.kill('SIGKILL');
    rmSync(go, { force: true });
    assert.equal(job.status, 'completed', JSON.stringify(job));
    const stacks = parseFolded((await stack.api('GET', `/jobs/${id}/flamegraph.folded`)).text);
    assert.ok(total(stacks) >= 2 * K, `only ${total(stacks)} event stacks:\n${topStacks(stacks)}`);
    // gc.collect() runs at the module level of gc_loop.py (python.e2e.ts covers Python frames in depth).
    const share = chainShare(stacks, [PY_MAIN, /^<module> \(gc_loop\.py:1\)$/]);
    assert.ok(share >= 0.9, `${(share * 100).toFixed(1)} % of gc stacks reach main through <module> (gc_loop.py:1):\n${topStacks(stacks)}`);
    assert.match(job.runs[0].reason ?? '', /python: 1 process\(es\) \(3\.11\.\d+\) with Python frames/, JSON.stringify(job.runs[0]));
  });

  it('leaves no unwinding map, program or table in the agent or the kernel after the jobs', async () => {
    await sleep(500);
    const fds = bpfFds(stack.agent!.pid!);
    assert.deepEqual(fds, [], `agent still holds: ${fds.join(', ')}`);
    // Tables live in maps of their own (one per ELF file): all of them, and the shared maps, are freed.
    assert.ok(mapIdsSeen.size >= 6, `only ${mapIdsSeen.size} maps seen while jobs ran`);
    assert.deepEqual(mapsStillLoaded([...mapIdsSeen]), [], 'maps of the agent still in the kernel');
  });
});
