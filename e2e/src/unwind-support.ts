/**
 * Fixtures and references for the DWARF (.eh_frame) unwinding tests: programs built without
 * frame pointers, a stripped binary whose debug info is only under /usr/lib/debug/.build-id,
 * and perf's own DWARF unwinding as the reference the BPF unwinder is measured against.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { FIXTURES, WORK } from './harness';

export const UNWIND_FIXTURES = join(FIXTURES, 'unwind');
/** Debian's python3.11 (no frame pointers); the pyenv python first on PATH is a different build. */
export const DEBIAN_PYTHON = '/usr/bin/python3.11';
const DEBUG_ROOT = '/usr/lib/debug/.build-id';
const FPLESS_FLAGS = ['-O2', '-fomit-frame-pointer', '-g'];

export interface Stack {
  /** Function names, root first (as parseFolded gives them); '[unknown]' where perf found none. */
  frames: string[];
  count: number;
}

function run(cmd: string, args: string[], what: string): string {
  const res = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (res.error) throw new Error(`${what}: cannot run ${cmd} (${res.error.message}); npm run setup installs it`);
  if (res.status !== 0) throw new Error(`${what}: ${cmd} ${args.join(' ')} exited ${res.status}:\n${res.stderr}`);
  return res.stdout;
}

function fixturePath(src: string): string {
  return isAbsolute(src) ? src : join(FIXTURES, src);
}

/**
 * Compiles `sources` (relative to e2e/fixtures, or absolute) with gcc -O2 -fomit-frame-pointer -g
 * into e2e/.work/<name>; `extraArgs` follow the sources, so libraries (-ldl) link in order.
 * buildC is not reused: it forces -fno-omit-frame-pointer, takes one source and always rebuilds.
 * Cached on the sources' contents and the command; test files run in parallel processes, so the
 * output is renamed into place rather than written where another process may be executing it.
 */
export function buildFpless(name: string, sources: string[], extraArgs: string[] = []): string {
  const out = join(WORK, name);
  const srcs = sources.map(fixturePath);
  const args = [...FPLESS_FLAGS, '-o', out, ...srcs, ...extraArgs];
  const key = createHash('sha256').update(JSON.stringify(args));
  for (const s of srcs) key.update(readFileSync(s));
  const digest = key.digest('hex');
  const stamp = `${out}.key`;
  if (existsSync(out) && existsSync(stamp) && readFileSync(stamp, 'utf8') === digest) return out;
  mkdirSync(dirname(out), { recursive: true });
  const tmp = `${out}.tmp-${process.pid}`;
  run('gcc', [...FPLESS_FLAGS, '-o', tmp, ...srcs, ...extraArgs], `building ${name}`);
  renameSync(tmp, out);
  writeFileSync(stamp, digest);
  return out;
}

/** dlopen_main and the library it loads late (both without frame pointers). */
export function buildDlopenFixture(): { main: string; lib: string } {
  return {
    main: buildFpless('unwind-dlopen_main', ['unwind/dlopen_main.c']),
    lib: buildFpless('unwind-libtf_dlopen.so', ['unwind/dlopen_lib.c'], ['-fPIC', '-shared']),
  };
}

export interface StrippedFixture {
  /** The stripped binary: .eh_frame and .dynsym only, no .symtab, no DWARF. */
  bin: string;
  /** Its debug info, where debuginfo lookups by build-id find it. */
  debugFile: string;
  buildId: string;
  /** Removes the .debug file (and the binary); safe to call twice. */
  cleanup(): void;
}

function readBuildId(file: string): string {
  const m = /Build ID:\s*([0-9a-f]+)/.exec(run('readelf', ['-n', file], `reading the build-id of ${file}`));
  if (!m) throw new Error(`${file} has no GNU build-id note`);
  return m[1];
}

/**
 * Builds e2e/fixtures/unwind/<name>.c without frame pointers, installs its debug info as
 * /usr/lib/debug/.build-id/<xx>/<rest>.debug and strips the binary, so names come only from there.
 * Each call links a random build-id: concurrent tests never share (and delete) one .debug file,
 * and a stale one from a crashed run cannot stand in for this build's.
 */
export function installStrippedWithDebuginfo(name = 'chain'): StrippedFixture {
  mkdirSync(WORK, { recursive: true });
  const dir = mkdtempSync(join(WORK, `stripped-${name}-`));
  const bin = join(dir, name);
  const wanted = randomBytes(20).toString('hex');
  run('gcc', [...FPLESS_FLAGS, `-Wl,--build-id=0x${wanted}`, '-o', bin, join(UNWIND_FIXTURES, `${name}.c`)], `building ${name}`);
  const buildId = readBuildId(bin);
  if (buildId !== wanted) throw new Error(`${bin}: build-id ${buildId}, linked with ${wanted}`);
  const idDir = join(DEBUG_ROOT, buildId.slice(0, 2));
  const debugFile = join(idDir, `${buildId.slice(2)}.debug`);

  let cleaned = false;
  const cleanup = (): void => {
    if (cleaned) return;
    cleaned = true;
    process.removeListener('exit', cleanup);
    rmSync(debugFile, { force: true });
    try {
      rmdirSync(idDir); // only when no other build-id shares the prefix
    } catch {
      // not empty, or already gone
    }
    rmSync(dir, { recursive: true, force: true });
  };
  // A crashed test must not leave debug info for a deleted binary in the system's debug tree.
  process.once('exit', cleanup);
  try {
    mkdirSync(idDir, { recursive: true });
    run('objcopy', ['--only-keep-debug', bin, debugFile], `extracting debug info of ${name}`);
    run('strip', ['--strip-all', bin], `stripping ${name}`);
    const sections = run('readelf', ['-S', '-W', bin], `listing sections of ${bin}`);
    if (/\s\.symtab\s/.test(sections) || /\s\.debug_/.test(sections)) throw new Error(`${bin} still has .symtab or DWARF after strip:\n${sections}`);
    if (!/\s\.eh_frame\s/.test(sections)) throw new Error(`${bin} has no .eh_frame: nothing to unwind with`);
    // nm exits 1 with "no symbols" on a stripped file: read both streams, not the status.
    for (const args of [[bin], ['-D', bin]]) {
      const res = spawnSync('nm', args, { encoding: 'utf8' });
      if (res.error) throw new Error(`cannot run nm (${res.error.message}); npm run setup installs binutils`);
      const tf = (res.stdout ?? '').split('\n').filter((l) => / tf_/.test(l));
      if (tf.length > 0) throw new Error(`nm ${args.join(' ')} still lists fixture symbols:\n${tf.join('\n')}`);
    }
    if (!existsSync(debugFile)) throw new Error(`${debugFile} was not written`);
  } catch (err) {
    cleanup();
    throw err;
  }
  return { bin, debugFile, buildId, cleanup };
}

/**
 * Spawns a fixture and resolves once it printed `ready` (the fixtures print it once burning).
 * The caller kills it; it is also killed if the test process exits first.
 */
export async function startFixture(cmd: string, args: string[], ready = 'ready', timeoutMs = 10_000): Promise<ChildProcess> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const kill = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  process.once('exit', kill);
  child.once('exit', () => process.removeListener('exit', kill));
  try {
    await waitForLine(child, ready, timeoutMs);
  } catch (err) {
    kill();
    throw err;
  }
  return child;
}

/** Resolves when the child prints `line` on stdout; rejects if it exits first or the time runs out. */
export function waitForLine(child: ChildProcess, line: string, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const done = (e?: Error): void => {
      clearTimeout(timer);
      child.stdout?.off('data', onOut);
      child.stderr?.off('data', onErr);
      child.off('exit', onExit);
      if (e) reject(e);
      else resolve();
    };
    const onOut = (d: Buffer): void => {
      out += d.toString();
      if (out.split('\n').slice(0, -1).includes(line)) done();
    };
    const onErr = (d: Buffer): void => {
      err += d.toString();
    };
    const onExit = (code: number | null, sig: string | null): void => done(new Error(`${child.spawnfile} exited (${code ?? sig}) before printing "${line}":\n${out}${err}`));
    const timer = setTimeout(() => done(new Error(`${child.spawnfile} did not print "${line}" within ${timeoutMs} ms:\n${out}${err}`)), timeoutMs);
    child.stdout?.on('data', onOut);
    child.stderr?.on('data', onErr);
    child.once('exit', onExit);
  });
}

function requirePerf(): void {
  const res = spawnSync('perf', ['--version'], { encoding: 'utf8' });
  if (res.error || res.status !== 0) {
    throw new Error(`perf is missing or broken (${res.error?.message ?? res.stderr.trim()}): it is the DWARF-unwinding reference; npm run setup installs linux-perf`);
  }
}

/**
 * Records the host with perf's own DWARF unwinder for `seconds` and returns the stacks of `pid`.
 * The host, not `-p PID`: on this kernel `perf record -p` records nothing (FACTS.md).
 * Inlined frames are left out (--no-inline) and so are kernel frames: a user-space unwinder sees
 * physical user frames only. A sample taken in the kernel keeps the user stack under it.
 */
export async function perfDwarfStacks(pid: number, seconds: number, hz = 99): Promise<Stack[]> {
  requirePerf();
  const dir = mkdtempSync(join(tmpdir(), 'tf-perf-'));
  const data = join(dir, 'perf.data');
  // perf.data grows by megabytes a second: do not leave it behind if the test process exits mid-run.
  const removeDir = (): void => rmSync(dir, { recursive: true, force: true });
  process.once('exit', removeDir);
  try {
    await perfRecord(data, seconds, hz);
    const text = await new Promise<string>((resolve, reject) => {
      execFile('perf', ['script', '-i', data, `--pid=${pid}`, '--no-inline', '-F', 'comm,tid,ip,sym'], { maxBuffer: 512 << 20 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`perf script failed: ${err.message}\n${stderr}`));
        else resolve(stdout);
      });
    });
    return parsePerfScript(text);
  } finally {
    process.removeListener('exit', removeDir);
    removeDir();
  }
}

function perfRecord(data: string, seconds: number, hz: number): Promise<void> {
  // -N: no copies of every binary seen on the host into ~/.debug; perf script reads them in place.
  const args = ['record', '-q', '-N', '-a', '-e', 'cpu-clock', '-F', String(hz), '--call-graph', 'dwarf,16384', '-o', data, '--', 'sleep', String(seconds)];
  // Its own process group, so that killing it also ends the `sleep` it runs.
  const perf = spawn('perf', args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  const killGroup = (): void => {
    try {
      process.kill(-perf.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  process.once('exit', killGroup);
  let stderr = '';
  perf.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      killGroup();
      reject(new Error(`perf record did not end ${seconds + 30} s after it started; killed:\n${stderr}`));
    }, (seconds + 30) * 1000);
    perf.once('error', (err) => {
      clearTimeout(timer);
      process.removeListener('exit', killGroup);
      reject(new Error(`cannot run perf record (${err.message}); npm run setup installs linux-perf`));
    });
    perf.once('exit', (code, sig) => {
      clearTimeout(timer);
      process.removeListener('exit', killGroup);
      if (code === 0) resolve();
      else {
        killGroup();
        reject(new Error(`perf record ${args.join(' ')} exited (${code ?? sig}):\n${stderr}`));
      }
    });
  });
}

/** x86-64 kernel addresses start here (canonical upper half). */
const KERNEL_START = 0xffff800000000000n;

/**
 * Parses `perf script -F comm,tid,ip,sym` with call chains: a header line `COMM TID`, then one
 * indented `IP SYM` line per frame, leaf first, and a blank line. Identical stacks are merged.
 */
export function parsePerfScript(text: string): Stack[] {
  const merged = new Map<string, Stack>();
  let frames: string[] | undefined;
  const flush = (): void => {
    if (frames === undefined) return;
    const rootFirst = frames.length > 0 ? frames.reverse() : ['[unknown]'];
    const key = rootFirst.join(';');
    const s = merged.get(key);
    if (s) s.count++;
    else merged.set(key, { frames: rootFirst, count: 1 });
    frames = undefined;
  };
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      flush();
    } else if (/^\s/.test(line)) {
      const m = /^\s+([0-9a-f]+)\s*(.*)$/.exec(line);
      if (m && BigInt(`0x${m[1]}`) >= KERNEL_START) continue;
      // Versioned names (__libc_start_main@@GLIBC_2.34) are the plain name to a symbolizer.
      const sym = (m?.[2] ?? '').trim().replace(/@{1,2}[\w.]+$/, '');
      (frames ??= []).push(sym === '' ? '[unknown]' : sym);
    } else {
      flush();
      frames = [];
    }
  }
  flush();
  return [...merged.values()];
}

/**
 * Share (0..1) of samples whose frames hold `chain` in order, root first, not necessarily adjacent.
 * A string matches a frame exactly; a RegExp tests it (libc's qsort is __GI___qsort_r or qsort_r
 * in a stack, depending on the debug info at hand, since qsort tail-jumps into it).
 */
export function chainShare(stacks: Stack[], chain: (string | RegExp)[]): number {
  let total = 0;
  let hit = 0;
  for (const { frames, count } of stacks) {
    total += count;
    let i = 0;
    for (const f of frames) {
      if (i === chain.length) break;
      const want = chain[i];
      if (typeof want === 'string' ? f === want : want.test(f)) i++;
    }
    if (i === chain.length) hit += count;
  }
  return total === 0 ? 0 : hit / total;
}

/**
 * Each function's disassembly lines (objdump -d), by name: lets a test prove a fixture is what it
 * claims (a real `call`, not a tail `jmp`; no frame-pointer prologue) before trusting its stacks.
 */
export function disassembly(bin: string): Map<string, string[]> {
  const fns = new Map<string, string[]>();
  let cur: string[] | undefined;
  for (const line of run('objdump', ['-d', '--no-show-raw-insn', bin], `disassembling ${bin}`).split('\n')) {
    const head = /^[0-9a-f]+ <([^>]+)>:$/.exec(line);
    if (head) fns.set(head[1], (cur = []));
    else if (line.trim() === '') cur = undefined;
    else cur?.push(line.trim());
  }
  return fns;
}

/** Total samples in `stacks`. */
export function sampleCount(stacks: Stack[]): number {
  return stacks.reduce((a, s) => a + s.count, 0);
}

/** The most frequent stacks as text, for assertion messages. */
export function topStacks(stacks: Stack[], n = 10): string {
  return [...stacks]
    .sort((a, b) => b.count - a.count)
    .slice(0, n)
    .map((s) => `${s.count} ${s.frames.join(';')}`)
    .join('\n');
}
