import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { after, describe, test } from 'node:test';

import { Symbolizer } from './index';
import { SPINNER_SOURCE, compileC, profileFor, runUntilReady, sleep, tempDir, waitForExit } from './spec-support';

const SYSCALLER_SOURCE = `
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static char buffer[65536];

int main(int argc, char **argv) {
  int fd = open("/dev/zero", O_RDONLY);
  time_t end = time(NULL) + (argc > 1 ? atoi(argv[1]) : 2);
  if (fd < 0) return 1;
  printf("ready\\n");
  fflush(stdout);
  while (time(NULL) < end) {
    for (int i = 0; i < 100; i++) {
      if (read(fd, buffer, sizeof(buffer)) < 0) return 1;
      getppid();
    }
  }
  return 0;
}
`;

const STRIPPED_SOURCE = `
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static volatile sig_atomic_t done;
volatile unsigned long counter;

static void on_alarm(int sig) { (void)sig; done = 1; }

__attribute__((noinline)) void tf_exported_spin(void) {
  volatile unsigned long local = 0;
  while (!done) local++;
  counter += local;
}

__attribute__((noinline)) static void hidden_work(void) {
  tf_exported_spin();
  counter++;
}

int main(int argc, char **argv) {
  signal(SIGALRM, on_alarm);
  alarm(argc > 1 ? atoi(argv[1]) : 2);
  printf("ready\\n");
  fflush(stdout);
  hidden_work();
  return 0;
}
`;

// Prints ready, then waits in NAME until killed. Two non-PIE builds that differ only in NAME put
// it at the same address.
const markerSource = (name: string) => `
#include <stdio.h>
#include <unistd.h>

__attribute__((noinline)) void ${name}(void) {
  printf("ready\\n");
  fflush(stdout);
  for (;;) pause();
}

int main(void) {
  ${name}();
  return 0;
}
`;

/** The address of `symbol` of `file` (an ELF that pid maps) in pid, from nm, the PT_LOADs and /proc/<pid>/maps. */
function addressIn(pid: number, file: string, symbol: string, dynamic = false): bigint {
  const nm = execFileSync('nm', [...(dynamic ? ['-D'] : []), '--defined-only', file], { encoding: 'utf8' });
  const line = nm.split('\n').find((l) => l.split(' ')[2]?.replace(/@.*$/, '') === symbol);
  assert.ok(line, `nm shows no ${symbol} in ${file}`);
  const vaddr = BigInt(`0x${line.split(' ')[0]}`);
  const phdrs = execFileSync('readelf', ['-lW', file], { encoding: 'utf8' });
  let fileOffset: bigint | undefined;
  for (const m of phdrs.matchAll(/^\s*LOAD\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+0x[0-9a-f]+\s+(0x[0-9a-f]+)/gm)) {
    const [offset, start, size] = [BigInt(m[1]), BigInt(m[2]), BigInt(m[3])];
    if (vaddr >= start && vaddr < start + size) fileOffset = vaddr - start + offset;
  }
  assert.ok(fileOffset !== undefined, `${symbol} at 0x${vaddr.toString(16)} is in no PT_LOAD of ${file}`);
  for (const l of fs.readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n')) {
    const m = l.match(/^([0-9a-f]+)-([0-9a-f]+) \S+ ([0-9a-f]+) \S+ \S+\s+(.*)$/);
    if (!m || m[4].replace(/ \(deleted\)$/, '') !== file) continue;
    const [start, end, offset] = [BigInt(`0x${m[1]}`), BigInt(`0x${m[2]}`), BigInt(`0x${m[3]}`)];
    if (fileOffset >= offset && fileOffset < offset + (end - start)) return start + (fileOffset - offset);
  }
  assert.fail(`pid ${pid} does not map offset 0x${fileOffset.toString(16)} of ${file}`);
}

/** Starts `sleep 120` and resolves once it runs sleep (before exec, the child still maps node). */
async function startSleep(): Promise<ChildProcess> {
  // Long enough to outlive a slow test on a loaded machine (20 of them were once read after the first had
  // exited at 30 s); every caller kills its children when it ends.
  const child = spawn('sleep', ['120'], { stdio: 'ignore' });
  for (let i = 0; i < 1000; i++) {
    try {
      // exec has happened, the dynamic loader has mapped libc's text (its first mapping comes before the segments are
      // placed: seen on a loaded machine) and sleep is asleep in nanosleep, its loading done
      const ready =
        fs.readlinkSync(`/proc/${child.pid}/exe`).endsWith('/sleep') &&
        /r-xp .*libc\.so\.6/.test(fs.readFileSync(`/proc/${child.pid}/maps`, 'utf8')) &&
        / S /.test(fs.readFileSync(`/proc/${child.pid}/stat`, 'utf8').replace(/^.*\)/, ')'));
      if (ready) return child;
    } catch {
      // not there yet
    }
    await sleep(10);
  }
  child.kill('SIGKILL');
  assert.fail('sleep did not start within 10 s');
}

function mappedLibc(pid: number): string {
  const line = fs
    .readFileSync(`/proc/${pid}/maps`, 'utf8')
    .split('\n')
    .find((l) => /\/libc\.so\.6$/.test(l));
  assert.ok(line, `pid ${pid} maps no libc.so.6`);
  return line.slice(line.indexOf('/'));
}

/** Names nm -D gives the address of symbol: the symbolizer may answer with any alias. */
function aliasesOf(file: string, symbol: string): Set<string> {
  const nm = execFileSync('nm', ['-D', '--defined-only', file], { encoding: 'utf8' }).split('\n').map((l) => l.split(' '));
  const at = nm.find((f) => f[2]?.replace(/@.*$/, '') === symbol)?.[0];
  return new Set(nm.filter((f) => f[0] === at).map((f) => f[2].replace(/@.*$/, '')));
}

const LIBC_FUNCTIONS = ['malloc', 'free', 'read', 'write', 'nanosleep', 'printf', 'qsort_r'];

/** A stack of libc functions in pid, leaf first (frames after the leaf are return addresses: + 1). */
function libcStack(pid: number): BigUint64Array {
  const libc = mappedLibc(pid);
  return BigUint64Array.from(LIBC_FUNCTIONS.map((name, i) => addressIn(pid, libc, name, true) + 8n + (i === 0 ? 0n : 1n)));
}

/** Spawns file as pid, which must be free: sets ns_last_pid and retries when another fork wins the race. */
async function spawnAsPid(pid: number, file: string): Promise<ChildProcess> {
  for (let attempt = 0; attempt < 50; attempt++) {
    fs.writeFileSync('/proc/sys/kernel/ns_last_pid', String(pid - 1));
    const child = await runUntilReady(file, []);
    if (child.pid === pid) return child;
    child.kill('SIGKILL');
    await waitForExit(child);
  }
  assert.fail(`could not start ${file} as pid ${pid}: other processes kept taking it`);
}

function kallsymsNames(): Set<string> {
  const names = new Set<string>();
  for (const line of fs.readFileSync('/proc/kallsyms', 'utf8').split('\n')) {
    const name = line.split(/\s+/)[2];
    if (name) names.add(name);
  }
  return names;
}

describe('Symbolizer', () => {
  const dir = tempDir('symbolizer');
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('kernel frames of a whole-host profile are kallsyms names with _[k]', async () => {
    const binary = compileC(dir, 'syscaller', SYSCALLER_SOURCE, ['-O1']);
    const child = await runUntilReady(binary, ['3']);
    const symbolizer = new Symbolizer();
    try {
      const { samples, stats } = await profileFor({ frequencyHz: 99 }, 1500);
      const known = kallsymsNames();
      let frames = 0;
      let resolved = 0;
      for (const sample of samples) {
        for (const name of symbolizer.symbolizeKernel(sample.kernelStack)) {
          frames++;
          assert.match(name, /_\[k\]$/);
          if (name.startsWith('[kernel]+0x')) continue;
          assert.ok(known.has(name.slice(0, -4)), `${name} is not in /proc/kallsyms`);
          resolved++;
        }
      }
      const mine = samples.filter((s) => s.pid === child.pid);
      const syscallStacks = mine.filter((s) =>
        symbolizer
          .symbolizeKernel(s.kernelStack)
          .some((name) => /^(do_syscall_64|entry_SYSCALL_64\w*|ksys_read|vfs_read|read_zero|__x64_sys_\w+)_\[k\]$/.test(name)),
      );
      console.log(
        `whole host: ${samples.length} samples (${mine.length} of the syscall loop, ${syscallStacks.length} in a syscall), ` +
          `${frames} kernel frames, ${resolved} named; samplesSeen ${stats.samplesSeen}, kernelDrops ${stats.kernelDrops}`,
      );
      assert.ok(mine.length >= 50, `expected ~148 samples of the syscall loop, got ${mine.length}`);
      assert.ok(syscallStacks.length >= mine.length / 2, `${syscallStacks.length} of ${mine.length} samples show a syscall path`);
      assert.ok(resolved >= frames * 0.95, `${resolved} of ${frames} kernel frames resolved`);
      assert.equal(stats.samplesSeen, stats.delivered + stats.kernelDrops + stats.queueDrops);
    } finally {
      child.kill('SIGKILL');
      symbolizer.close();
    }
  });

  test('kernel addresses outside kernel text are [kernel]+0x..._[k]', () => {
    const symbolizer = new Symbolizer();
    assert.deepEqual(symbolizer.symbolizeKernel(new BigUint64Array([0x1000n])), ['[kernel]+0x1000_[k]']);
    symbolizer.close();
  });

  test('a stripped PIE resolves through .dynsym or module+offset, never [unknown', async () => {
    const flags = ['-O1', '-fno-omit-frame-pointer', '-fPIE', '-pie', '-rdynamic'];
    const unstripped = compileC(dir, 'stripped_pie', STRIPPED_SOURCE, flags);
    const binary = `${dir}/stripped-pie`;
    execFileSync('strip', ['-o', binary, unstripped]);
    const sections = execFileSync('readelf', ['-SW', binary], { encoding: 'utf8' });
    assert.ok(!sections.includes('.symtab') && sections.includes('.dynsym'), 'strip left a .symtab');
    assert.match(execFileSync('readelf', ['-hW', binary], { encoding: 'utf8' }), /DYN \(Position-Independent Executable/);
    // hidden_work is static: not in .dynsym, so it must come out as stripped-pie+0x<offset inside it>.
    const nm = execFileSync('nm', ['-S', unstripped], { encoding: 'utf8' });
    const hidden = nm.match(/^([0-9a-f]+) ([0-9a-f]+) t hidden_work$/m);
    assert.ok(hidden, 'nm shows no hidden_work');
    const [start, size] = [parseInt(hidden[1], 16), parseInt(hidden[2], 16)];

    const child = await runUntilReady(binary, ['2']);
    const symbolizer = new Symbolizer();
    try {
      const { samples } = await profileFor({ frequencyHz: 99, targetPid: child.pid }, 1000);
      assert.ok(samples.length >= 50, `got ${samples.length} samples`);
      let expected = 0;
      for (const sample of samples) {
        const names = symbolizer.symbolizeUser(child.pid!, sample.userStack);
        for (const name of names.slice(0, 3)) assert.ok(!name.startsWith('[unknown'), `unresolved frame in ${names}`);
        const offset = names[1]?.match(/^stripped-pie\+0x([0-9a-f]+)$/);
        if (names[0] === 'tf_exported_spin' && names[2] === 'main' && offset) {
          // names[1] was looked up at the return address - 1, which lies inside the call.
          const at = parseInt(offset[1], 16);
          assert.ok(at >= start && at < start + size, `offset 0x${at.toString(16)} is outside hidden_work`);
          expected++;
        }
      }
      console.log(`stripped PIE: ${samples.length} samples, ${expected} tf_exported_spin <- stripped-pie+0x.. <- main`);
      assert.ok(expected >= samples.length * 0.8, `${expected} of ${samples.length} stacks as expected`);
    } finally {
      child.kill('SIGKILL');
      symbolizer.close();
    }
  });

  test('JIT frames come from /tmp/perf-<pid>.map, re-read as it grows', async () => {
    const child = spawn('sleep', ['10'], { stdio: 'ignore' });
    const pid = child.pid!;
    const map = `/tmp/perf-${pid}.map`;
    const symbolizer = new Symbolizer();
    try {
      fs.writeFileSync(map, '100000 100 LazyCompile:*first jit.js:1\n');
      assert.deepEqual(symbolizer.symbolizeUser(pid, new BigUint64Array([0x100010n])), ['LazyCompile:*first jit.js:1_[j]']);
      fs.appendFileSync(map, '200000 80 second\n100000 40 first_recompiled\n');
      assert.deepEqual(symbolizer.symbolizeUser(pid, new BigUint64Array([0x200010n, 0x100021n, 0x100060n, 0x300000n])), [
        'second_[j]',
        'first_recompiled_[j]', // later entries win where they overlap
        'LazyCompile:*first jit.js:1_[j]',
        '[unknown mapping]+0x300000',
      ]);
    } finally {
      child.kill('SIGKILL');
      fs.rmSync(map, { force: true });
      symbolizer.close();
    }
  });

  test('node --perf-basic-prof frames resolve to JS function names', async () => {
    const script = `
      function hotJsFunction(n) { let x = 0; for (let i = 0; i < n; i++) x = (x * 31 + i) % 1000003; return x; }
      console.log('ready');
      const end = Date.now() + 3000;
      let sink = 0;
      while (Date.now() < end) sink += hotJsFunction(100000);
    `;
    const child = await runUntilReady(process.execPath, ['--perf-basic-prof', '-e', script]);
    const pid = child.pid!;
    const symbolizer = new Symbolizer();
    try {
      await sleep(300); // let the function get optimized and its perf map entry written
      const { samples } = await profileFor({ frequencyHz: 99, targetPid: pid }, 1000);
      const stacks = samples.map((s) => symbolizer.symbolizeUser(pid, s.userStack));
      const jit = stacks.filter((names) => names.some((n) => /hotJsFunction.*_\[j\]$/.test(n)));
      console.log(`node JIT: ${samples.length} samples, ${jit.length} with hotJsFunction_[j]; e.g. ${stacks[0]?.slice(0, 4)}`);
      assert.ok(jit.length >= samples.length * 0.5, `${jit.length} of ${samples.length} samples show hotJsFunction`);
      // node maps V8's builtins from its binary a second time; those frames must not come out
      // as offsets far beyond the end of the file.
      const binarySize = fs.statSync(fs.realpathSync(process.execPath)).size;
      for (const name of stacks.flat()) {
        const offset = name.match(/^node\+0x([0-9a-f]+)$/);
        if (offset) assert.ok(parseInt(offset[1], 16) < binarySize, `${name} lies outside ${process.execPath}`);
      }
    } finally {
      child.kill('SIGKILL');
      await waitForExit(child);
      fs.rmSync(`/tmp/perf-${pid}.map`, { force: true });
      symbolizer.close();
    }
  });

  test('a second round of the same stacks is answered from the address cache', async () => {
    const child = await startSleep();
    const pid = child.pid!;
    const symbolizer = new Symbolizer();
    try {
      const stack = libcStack(pid);
      const libc = mappedLibc(pid);
      const first = symbolizer.symbolizeUser(pid, stack);
      LIBC_FUNCTIONS.forEach((name, i) => assert.ok(aliasesOf(libc, name).has(first[i]), `${first[i]} is not ${name}`));
      const afterFirst = symbolizer.stats();
      assert.equal(afterFirst.lookups, stack.length);
      assert.equal(afterFirst.cacheHits, 0);
      assert.equal(afterFirst.cachedAddresses, stack.length);

      assert.deepEqual(symbolizer.symbolizeUser(pid, stack), first);
      const afterSecond = symbolizer.stats();
      assert.equal(afterSecond.lookups, 2 * stack.length);
      assert.equal(afterSecond.cacheHits, stack.length, 'the second round looked something up again');
      assert.equal(afterSecond.cachedAddresses, stack.length);
      assert.equal(afterSecond.mapsReads, 1);

      symbolizer.forget(pid);
      assert.equal(symbolizer.stats().cachedAddresses, 0);
      assert.equal(symbolizer.stats().processes, 0);
    } finally {
      child.kill('SIGKILL');
      symbolizer.close();
    }
  });

  test('20 processes mapping the same libc share one open file and one symbol index', async () => {
    const children = await Promise.all(Array.from({ length: 20 }, startSleep));
    const symbolizer = new Symbolizer();
    try {
      const libc = mappedLibc(children[0].pid!);
      let expected: string[] | undefined;
      for (const child of children) {
        const names = symbolizer.symbolizeUser(child.pid!, libcStack(child.pid!));
        LIBC_FUNCTIONS.forEach((name, i) => assert.ok(aliasesOf(libc, name).has(names[i]), `${names[i]} is not ${name}`));
        expected ??= names;
        assert.deepEqual(names, expected); // ASLR moves libc; its names do not move
      }
      const stats = symbolizer.stats();
      console.log(`20 sleep processes: ${JSON.stringify(stats)}`);
      assert.equal(stats.processes, 20);
      // sleep, libc, ld.so and the vDSO; a few more would still be per file, 20+ would be per process.
      assert.ok(stats.files <= 6, `${stats.files} files open for 20 processes of one program`);
      assert.equal(stats.cacheHits, 0);
      assert.equal(stats.cachedAddresses, 20 * LIBC_FUNCTIONS.length);
    } finally {
      for (const child of children) child.kill('SIGKILL');
      symbolizer.close();
    }
  });

  test('a reused pid is detected: the new process gets its own names, not the cached ones', async () => {
    const flags = ['-O1', '-fno-pie', '-no-pie'];
    const [alpha, beta] = [compileC(dir, 'reuse_alpha', markerSource('alpha_marker'), flags), compileC(dir, 'reuse_beta', markerSource('beta_marker'), flags)];
    const at = (binary: string, name: string) => execFileSync('nm', [binary], { encoding: 'utf8' }).match(new RegExp(`^([0-9a-f]+) T ${name}$`, 'm'))?.[1];
    assert.equal(at(alpha, 'alpha_marker'), at(beta, 'beta_marker'), 'the two builds place their marker differently');
    const addr = BigUint64Array.from([BigInt(`0x${at(alpha, 'alpha_marker')}`) + 4n]);

    const first = await runUntilReady(alpha, []);
    const pid = first.pid!;
    const symbolizer = new Symbolizer();
    let second: ChildProcess | undefined;
    try {
      assert.deepEqual(symbolizer.symbolizeUser(pid, addr), ['alpha_marker']);
      first.kill('SIGKILL');
      await waitForExit(first);
      assert.deepEqual(symbolizer.symbolizeUser(pid, addr), ['alpha_marker'], 'an exited process still resolves');

      second = await spawnAsPid(pid, beta);
      // Who holds the pid is checked at most once a second: within a few seconds (a loaded CI
      // machine stretches the first), the new process's name must come back. The two processes
      // often start within one 10 ms clock tick, so the start time alone would not tell them apart.
      let names = symbolizer.symbolizeUser(pid, addr);
      for (let i = 0; i < 25 && names[0] !== 'beta_marker'; i++) {
        await sleep(200);
        names = symbolizer.symbolizeUser(pid, addr);
      }
      assert.deepEqual(names, ['beta_marker']);
      assert.equal(symbolizer.stats().processes, 1);
    } finally {
      first.kill('SIGKILL');
      second?.kill('SIGKILL');
      symbolizer.close();
    }
  });

  test('a binary deleted before it was first seen resolves through /proc/<pid>/map_files', async () => {
    const binary = compileC(dir, 'deleted_spin', SPINNER_SOURCE, ['-O1', '-fno-omit-frame-pointer']);
    const child = await runUntilReady(binary, ['5']);
    const pid = child.pid!;
    const symbolizer = new Symbolizer();
    try {
      const hot = addressIn(pid, binary, 'hot_spin');
      const work = addressIn(pid, binary, 'work');
      fs.rmSync(binary);
      const stack = BigUint64Array.from([hot + 2n, work + 6n]);
      assert.deepEqual(symbolizer.symbolizeUser(pid, stack), ['hot_spin', 'work']);
      child.kill('SIGKILL');
      await waitForExit(child);
      assert.deepEqual(symbolizer.symbolizeUser(pid, stack), ['hot_spin', 'work']);
    } finally {
      child.kill('SIGKILL');
      symbolizer.close();
    }
  });

  test('bad arguments are TypeErrors with a usage string', () => {
    const symbolizer = new Symbolizer();
    const usage = (name: string) => (err: unknown) =>
      err instanceof TypeError && err.message.includes(name) && err.message.includes('Usage:');
    assert.throws(() => symbolizer.symbolizeUser(-1, new BigUint64Array(1)), usage('pid'));
    assert.throws(() => symbolizer.symbolizeUser(1, [1n] as unknown as BigUint64Array), usage('addrs'));
    assert.throws(() => symbolizer.symbolizeUser(1, new BigInt64Array(1) as unknown as BigUint64Array), usage('addrs'));
    assert.throws(() => symbolizer.symbolizeKernel(undefined as unknown as BigUint64Array), usage('addrs'));
    assert.throws(() => symbolizer.forget('1' as unknown as number), usage('pid'));
    symbolizer.close();
    symbolizer.close();
    assert.throws(() => symbolizer.symbolizeKernel(new BigUint64Array(0)), /closed/);
  });
});
