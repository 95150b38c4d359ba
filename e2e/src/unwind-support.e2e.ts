/**
 * The unwinding fixtures hold what the unwinder tests rely on, checked with perf's own DWARF
 * unwinder (the reference): whole stacks without frame pointers, through libc, a late dlopen,
 * a signal frame, and Debian's python3.11. Needs perf and root, not the controller or the agent.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  DEBIAN_PYTHON,
  UNWIND_FIXTURES,
  buildDlopenFixture,
  buildFpless,
  chainShare,
  disassembly,
  installStrippedWithDebuginfo,
  perfDwarfStacks,
  sampleCount,
  startFixture,
  topStacks,
  waitForLine,
  type StrippedFixture,
} from './unwind-support';

const RECORD_S = 3;
const HZ = 99;
// One busy thread at HZ for RECORD_S, with room for perf's start-up eating into the window.
const MIN_SAMPLES = Math.floor(HZ * RECORD_S * 0.6);
const QSORT = /qsort/;
const PY_MAIN = /^(main|Py_BytesMain)$/;

describe('unwinding fixtures, against perf --call-graph dwarf', () => {
  const children: ChildProcess[] = [];
  let stripped: StrippedFixture | undefined;

  after(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    stripped?.cleanup();
  });

  async function launch(cmd: string, args: string[]): Promise<ChildProcess> {
    const child = await startFixture(cmd, args);
    children.push(child);
    return child;
  }

  function calls(fns: Map<string, string[]>, caller: string, callee: string): boolean {
    return (fns.get(caller) ?? []).some((l) => new RegExp(`\\scall\\s+[0-9a-f]+ <${callee}(@plt)?>`).test(l));
  }

  it('chain: built without frame pointers, every edge a real call (no tail jump, no inlining)', () => {
    const fns = disassembly(buildFpless('unwind-chain', ['unwind/chain.c']));
    for (const [caller, callee] of [['main', 'tf_a'], ['tf_a', 'tf_b'], ['tf_b', 'tf_c'], ['main', 'tf_sorter'], ['tf_sorter', 'qsort'], ['tf_compare', 'tf_cmp_work']]) {
      assert.ok(calls(fns, caller, callee), `${caller} does not call ${callee}:\n${(fns.get(caller) ?? ['(no such function)']).join('\n')}`);
    }
    for (const [name, body] of fns) {
      if (name.startsWith('tf_')) assert.ok(!body.some((l) => /mov\s+%rsp,%rbp/.test(l)), `${name} sets up a frame pointer`);
    }
  });

  it('chain: perf finds ≥ 90 % of samples under main → tf_a → tf_b → tf_c or main → tf_sorter → qsort → tf_compare', async () => {
    const bin = buildFpless('unwind-chain', ['unwind/chain.c']);
    const child = await launch(bin, ['4']);
    const stacks = await perfDwarfStacks(child.pid!, RECORD_S, HZ);
    const n = sampleCount(stacks);
    assert.ok(n >= MIN_SAMPLES, `${n} samples of chain, expected ≥ ${MIN_SAMPLES}`);
    const direct = chainShare(stacks, ['main', 'tf_a', 'tf_b', 'tf_c']);
    const sorted = chainShare(stacks, ['main', 'tf_sorter', QSORT, 'tf_compare']);
    console.log(`chain: ${n} samples; main→tf_a→tf_b→tf_c ${(direct * 100).toFixed(1)} %, main→tf_sorter→qsort→tf_compare ${(sorted * 100).toFixed(1)} %`);
    assert.ok(direct + sorted >= 0.9, `only ${((direct + sorted) * 100).toFixed(1)} % on the two chains:\n${topStacks(stacks)}`);
    // Both paths must be exercised, or a test built on this fixture proves half of what it says.
    assert.ok(direct >= 0.3 && sorted >= 0.3, `paths unbalanced (${direct.toFixed(2)} / ${sorted.toFixed(2)}):\n${topStacks(stacks)}`);
  });

  // Debian's python3.11 main is one `jmp Py_BytesMain` with no symbol (no .symtab): no stack holds a
  // `main` frame, and Py_BytesMain, called from __libc_start_call_main, is where main's would be.
  it('python3.11: perf reaches main (Py_BytesMain) through _PyEval_EvalFrameDefault in > 50 % of samples', async () => {
    assert.ok(existsSync(DEBIAN_PYTHON), `${DEBIAN_PYTHON} is missing: npm run setup installs python3.11`);
    const child = await launch(DEBIAN_PYTHON, [join(UNWIND_FIXTURES, 'busy.py'), '4']);
    const stacks = await perfDwarfStacks(child.pid!, RECORD_S, HZ);
    const n = sampleCount(stacks);
    assert.ok(n >= MIN_SAMPLES, `${n} samples of python3.11, expected ≥ ${MIN_SAMPLES}`);
    const share = chainShare(stacks, ['__libc_start_call_main', PY_MAIN, '_PyEval_EvalFrameDefault']);
    console.log(`python3.11: ${n} samples; __libc_start_call_main→Py_BytesMain→…→_PyEval_EvalFrameDefault ${(share * 100).toFixed(1)} %`);
    assert.ok(share > 0.5, `only ${(share * 100).toFixed(1)} %:\n${topStacks(stacks)}`);
  });

  it('dlopen: after the late dlopen, perf finds main → tf_lib_entry → tf_lib_inner', async () => {
    const { main, lib } = buildDlopenFixture();
    const child = await launch(main, ['6', '500', lib]);
    await waitForLine(child, 'dlopened');
    const stacks = await perfDwarfStacks(child.pid!, RECORD_S, HZ);
    const n = sampleCount(stacks);
    assert.ok(n >= MIN_SAMPLES, `${n} samples of dlopen_main, expected ≥ ${MIN_SAMPLES}`);
    const share = chainShare(stacks, ['main', 'tf_lib_entry', 'tf_lib_inner']);
    console.log(`dlopen: ${n} samples; main→tf_lib_entry→tf_lib_inner ${(share * 100).toFixed(1)} %`);
    assert.ok(share >= 0.9, `only ${(share * 100).toFixed(1)} %:\n${topStacks(stacks)}`);
  });

  it('signal: perf unwinds from the SIGALRM handler back through the signal frame to main', async () => {
    const bin = buildFpless('unwind-signal', ['unwind/signal.c']);
    const child = await launch(bin, ['4']);
    const stacks = await perfDwarfStacks(child.pid!, RECORD_S, HZ);
    const n = sampleCount(stacks);
    assert.ok(n >= MIN_SAMPLES, `${n} samples of signal, expected ≥ ${MIN_SAMPLES}`);
    const loop = chainShare(stacks, ['main', 'tf_interrupted_loop']);
    const handler = chainShare(stacks, ['tf_handler', 'tf_handler_work']);
    const through = chainShare(stacks, ['main', 'tf_interrupted_loop', 'tf_handler', 'tf_handler_work']);
    console.log(`signal: ${n} samples; in the handler ${(handler * 100).toFixed(1)} %, of which unwound to main ${((through / (handler || 1)) * 100).toFixed(1)} %; under main→tf_interrupted_loop ${(loop * 100).toFixed(1)} %`);
    assert.ok(handler >= 0.3, `only ${(handler * 100).toFixed(1)} % in the handler:\n${topStacks(stacks)}`);
    assert.ok(loop >= 0.9, `only ${(loop * 100).toFixed(1)} % under main → tf_interrupted_loop:\n${topStacks(stacks)}`);
  });

  it('stripped chain: no tf_ symbols left, debug info installed by build-id, and cleanup removes it', async () => {
    stripped = installStrippedWithDebuginfo('chain');
    const { bin, debugFile, buildId } = stripped;
    assert.equal(debugFile, `/usr/lib/debug/.build-id/${buildId.slice(0, 2)}/${buildId.slice(2)}.debug`);
    assert.ok(existsSync(debugFile), `${debugFile} missing`);
    for (const args of [[bin], ['-D', bin]]) {
      const nm = spawnSync('nm', args, { encoding: 'utf8' });
      assert.ok(!/ tf_/.test(nm.stdout), `nm ${args.join(' ')} lists tf_ symbols:\n${nm.stdout}`);
    }
    const debugSyms = spawnSync('nm', [debugFile], { encoding: 'utf8' });
    assert.match(debugSyms.stdout, / T tf_c$/m, 'the .debug file should carry the symbols the binary lost');
    // perf finds names by build-id alone: the installed file is where a symbolizer looks.
    const child = await launch(bin, ['4']);
    const stacks = await perfDwarfStacks(child.pid!, RECORD_S, HZ);
    const share = chainShare(stacks, ['main', 'tf_a', 'tf_b', 'tf_c']) + chainShare(stacks, ['main', 'tf_sorter', QSORT, 'tf_compare']);
    console.log(`stripped chain: ${sampleCount(stacks)} samples; on the two chains (names from ${debugFile}) ${(share * 100).toFixed(1)} %`);
    assert.ok(share >= 0.9, `only ${(share * 100).toFixed(1)} %:\n${topStacks(stacks)}`);
    child.kill('SIGKILL');
    stripped.cleanup();
    assert.ok(!existsSync(debugFile), `${debugFile} left behind by cleanup()`);
    assert.ok(!existsSync(bin), `${bin} left behind by cleanup()`);
  });
});
