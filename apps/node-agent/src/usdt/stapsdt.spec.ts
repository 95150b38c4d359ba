import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { ElfError } from '../lib/elf';
import { listProcessUsdt, parseProbeSpec, parseUsdtArgs, readUsdtProbes, UsdtProbe } from './stapsdt';

// These tests use real binaries and real tools. When one is missing they fail
// and say what is missing; they never skip.
const PYTHON = '/usr/bin/python3.11';
const JAVA_HOME = '/usr/lib/jvm/java-17-openjdk-amd64';
const LIBJVM = `${JAVA_HOME}/lib/server/libjvm.so`;
const JAVA = `${JAVA_HOME}/bin/java`;
const JAVAC = `${JAVA_HOME}/bin/javac`;
const SDT_H = '/usr/include/x86_64-linux-gnu/sys/sdt.h';

function requireFile(p: string, what: string): void {
  assert.ok(fs.existsSync(p), `missing ${what}: ${p} does not exist`);
}

function requireTool(tool: string, pkg: string): string {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    const p = path.join(dir, tool);
    if (fs.existsSync(p)) return p;
  }
  assert.fail(`missing tool: ${tool} is not on PATH (install ${pkg})`);
}

function run(file: string, args: string[], opts: { cwd?: string } = {}): string {
  try {
    return execFileSync(file, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, cwd: opts.cwd });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${file} ${args.join(' ')} failed: ${e.stderr || e.message}`);
  }
}

interface ReadelfNote {
  provider: string;
  name: string;
  pc: bigint;
  base: bigint;
  semaphore: bigint;
  args: string;
}

/** The SDT notes as binutils' `readelf -n` prints them. */
function readelfNotes(file: string): ReadelfNote[] {
  const out = run(requireTool('readelf', 'binutils'), ['-n', '--wide', file]);
  const notes: ReadelfNote[] = [];
  const re =
    /Provider: (\S+)\n\s+Name: (\S+)\n\s+Location: (0x[0-9a-f]+), Base: (0x[0-9a-f]+), Semaphore: (0x[0-9a-f]+)\n\s+Arguments: ?(.*)/g;
  for (const m of out.matchAll(re)) {
    notes.push({
      provider: m[1],
      name: m[2],
      pc: BigInt(m[3]),
      base: BigInt(m[4]),
      semaphore: BigInt(m[5]),
      args: m[6].trim(),
    });
  }
  return notes;
}

function key(p: { provider: string; name: string; pc: bigint; semaphore: bigint }, args: string): string {
  return `${p.provider}:${p.name} pc=0x${p.pc.toString(16)} sem=0x${p.semaphore.toString(16)} args=[${args}]`;
}

function crossCheckWithReadelf(file: string, probes: UsdtProbe[]): void {
  const expected = readelfNotes(file);
  assert.ok(expected.length > 0, `readelf -n found no stapsdt notes in ${file}`);
  assert.deepEqual(
    probes.map((p) => key(p, p.argsRaw)).sort(),
    expected.map((n) => key(n, n.args)).sort(),
    `probes of ${file} differ from readelf -n`,
  );
}

function bytesAt(file: string, offset: bigint, n: number): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const b = Buffer.alloc(n);
    assert.equal(fs.readSync(fd, b, 0, n, Number(offset)), n, `short read at ${offset} in ${file}`);
    return b;
  } finally {
    fs.closeSync(fd);
  }
}

/** x86 nop encodings: 0x90, 0x0f 0x1f /0 (multi-byte nop), optionally 0x66-prefixed. */
function isNop(b: Buffer): boolean {
  let i = 0;
  while (b[i] === 0x66 && i < b.length - 1) i++;
  return b[i] === 0x90 || (b[i] === 0x0f && b[i + 1] === 0x1f);
}

function assertAllAtNops(file: string, probes: UsdtProbe[]): void {
  const bad = probes.filter((p) => !isNop(bytesAt(file, p.fileOffset, 4)));
  assert.deepEqual(
    bad.map((p) => `${p.provider}:${p.name} @0x${p.fileOffset.toString(16)}: ${bytesAt(file, p.fileOffset, 4).toString('hex')}`),
    [],
    `probe sites in ${file} that are not nops`,
  );
}

function find(probes: UsdtProbe[], provider: string, name: string): UsdtProbe {
  const p = probes.find((x) => x.provider === provider && x.name === name);
  assert.ok(p, `${provider}:${name} not found among ${probes.length} probes: ${probes.map((x) => `${x.provider}:${x.name}`).slice(0, 20).join(', ')}`);
  return p;
}

/** Starts a process and resolves once it prints "ready". */
function startReady(file: string, args: string[], cwd?: string): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let errOut = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${file} ${args.join(' ')} did not print "ready" within 20 s; stderr: ${errOut}`));
    }, 20_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.stderr!.on('data', (d: Buffer) => (errOut += d.toString()));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${file}: ${e.message}`));
    });
    // 'close', after stdout was read to the end: a "ready" written just before exiting is not missed.
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`${file} ${args.join(' ')} exited (${code ?? sig}) before it was ready; stderr: ${errOut}`));
    });
  });
}

function stop(child: ChildProcess | undefined): void {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

const TICK_C = `
#include <sys/sdt.h>
void guarded(int i);
__attribute__((noinline)) void tick(int i, long l) {
  DTRACE_PROBE2(tracefleet, tick, i, l);
}
int main(int argc, char **argv) {
  (void)argv;
  for (int i = 0; i < argc; i++) {
    tick(i, (long)i * 1000L + argc);
    guarded(i);
  }
  return 0;
}
`;

const GUARDED_C = `
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>
unsigned short tracefleet_guarded_semaphore __attribute__((unused)) __attribute__((section(".probes")));
__attribute__((noinline)) void guarded(int i) {
  if (tracefleet_guarded_semaphore)
    DTRACE_PROBE1(tracefleet, guarded, i);
}
`;

describe('USDT discovery in a C program built with <sys/sdt.h>', () => {
  let dir: string;
  let prog: string;
  let probes: UsdtProbe[];

  before(() => {
    requireTool('gcc', 'gcc');
    requireFile(SDT_H, '<sys/sdt.h> (install systemtap-sdt-dev)');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tracefleet-usdt-'));
    fs.writeFileSync(path.join(dir, 'tick.c'), TICK_C);
    fs.writeFileSync(path.join(dir, 'guarded.c'), GUARDED_C);
    prog = path.join(dir, 'prog');
    run('gcc', ['-O2', '-g', '-o', prog, 'tick.c', 'guarded.c'], { cwd: dir });
    run(prog, []); // it runs
    probes = readUsdtProbes(prog);
  });
  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('finds both probes with provider, name, path and arguments', () => {
    assert.equal(probes.length, 2, JSON.stringify(probes.map((p) => `${p.provider}:${p.name}`)));
    const tick = find(probes, 'tracefleet', 'tick');
    assert.equal(tick.path, prog);
    assert.equal(tick.args.length, 2, tick.argsRaw);
    assert.deepEqual(
      tick.args.map((a) => [a.size, a.signed]),
      [
        [4, true],
        [8, true],
      ],
      `int and long arguments: ${tick.argsRaw}`,
    );
    assert.equal(tick.argsRaw, tick.args.map((a) => a.raw).join(' '));
    assert.equal(tick.semaphore, 0n, 'tick has no semaphore');
    assert.equal(tick.semaphoreFileOffset, 0n);

    const guarded = find(probes, 'tracefleet', 'guarded');
    assert.equal(guarded.args.length, 1, guarded.argsRaw);
    assert.deepEqual([guarded.args[0].size, guarded.args[0].signed], [4, true]);
    assert.notEqual(guarded.semaphore, 0n, 'guarded has a semaphore');
    assert.notEqual(guarded.semaphoreFileOffset, 0n);
  });

  it('puts fileOffset on a nop and the semaphore file offset in .probes', () => {
    assertAllAtNops(prog, probes);
    const guarded = find(probes, 'tracefleet', 'guarded');
    // The semaphore lives in the .probes section; its file offset must fall inside it.
    const sh = run('readelf', ['-SW', prog]);
    const m = /\]\s+\.probes\s+PROGBITS\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)/.exec(sh);
    assert.ok(m, `no .probes section in readelf -S of ${prog}`);
    const [addr, off, size] = [BigInt(`0x${m[1]}`), BigInt(`0x${m[2]}`), BigInt(`0x${m[3]}`)];
    assert.ok(guarded.semaphore >= addr && guarded.semaphore < addr + size, 'semaphore address in .probes');
    assert.equal(guarded.semaphoreFileOffset, guarded.semaphore - addr + off);
  });

  it('agrees with readelf -n (names, addresses, argument strings)', () => {
    crossCheckWithReadelf(prog, probes);
  });

  it('applies the .stapsdt.base bias when the notes were written for other addresses (prelink)', () => {
    // A copy of the program whose notes say everything was linked 0x1000 lower:
    // the actual .stapsdt.base address minus the note's base gives the bias.
    const shifted = path.join(dir, 'prog-shifted');
    const buf = fs.readFileSync(prog);
    const sh = run('readelf', ['-SW', prog]);
    const m = /\]\s+\.note\.stapsdt\s+NOTE\s+[0-9a-f]+\s+([0-9a-f]+)\s+([0-9a-f]+)/.exec(sh);
    assert.ok(m, `no .note.stapsdt in readelf -S of ${prog}`);
    const start = parseInt(m[1], 16);
    const end = start + parseInt(m[2], 16);
    const delta = 0x1000n;
    let off = start;
    let patched = 0;
    while (off + 12 <= end) {
      const namesz = buf.readUInt32LE(off);
      const descsz = buf.readUInt32LE(off + 4);
      const desc = off + 12 + Math.ceil(namesz / 4) * 4;
      for (const field of [0, 8, 16]) {
        const v = buf.readBigUInt64LE(desc + field);
        if (v !== 0n) buf.writeBigUInt64LE(v - delta, desc + field);
      }
      patched++;
      off = desc + Math.ceil(descsz / 4) * 4;
    }
    assert.equal(patched, 2);
    fs.writeFileSync(shifted, buf);
    const notes = readelfNotes(shifted);
    assert.equal(notes[0].pc + delta, probes.find((p) => p.name === notes[0].name)!.pc, 'readelf sees the shifted note');
    const again = readUsdtProbes(shifted);
    assert.deepEqual(
      again.map((p) => [p.name, p.pc, p.fileOffset, p.semaphore, p.semaphoreFileOffset]),
      probes.map((p) => [p.name, p.pc, p.fileOffset, p.semaphore, p.semaphoreFileOffset]),
    );
  });

  it('never opens a FIFO, a device, a socket or a symlink to one; short files do not tell their size', async () => {
    const fifo = path.join(dir, 'hostile-fifo');
    execFileSync('mkfifo', [fifo]);
    const link = path.join(dir, 'hostile-link');
    fs.symlinkSync('/dev/zero', link);
    const sock = path.join(dir, 'hostile-sock');
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(sock, resolve));
    try {
      const cases: [string, string][] = [
        [fifo, 'FIFO'],
        ['/dev/null', 'character device'],
        ['/dev/zero', 'character device'],
        [link, 'character device'],
        [sock, 'socket'],
      ];
      for (const [p, kind] of cases) {
        assert.throws(() => readUsdtProbes(p), (e: unknown) => {
          assert.ok(e instanceof ElfError, String(e));
          assert.equal(e.code, 'EREFUSED');
          assert.equal(e.message, `${p}: not a regular file (${kind}); not read for USDT probe discovery`);
          return true;
        });
      }
      assert.throws(() => readUsdtProbes('/proc/self/status'), /pseudo file system \(proc\)/);
    } finally {
      server.close();
    }
    for (const size of [0, 1, 17, 63]) {
      const short = path.join(dir, `short-${size}`);
      fs.writeFileSync(short, Buffer.alloc(size, 0x41));
      assert.throws(() => readUsdtProbes(short), (e: unknown) => {
        assert.equal((e as Error).message, `${short}: not an ELF file (no ELF header)`);
        return true;
      });
    }
  });

  it('rejects non-ELF, unsupported and truncated files with an error naming the file', () => {
    const text = path.join(dir, 'not-elf.txt');
    fs.writeFileSync(text, 'hello, this is not an ELF file at all, just text\n'.repeat(4));
    assert.throws(() => readUsdtProbes(text), (e: unknown) => {
      assert.ok(e instanceof ElfError);
      assert.equal(e.code, 'ENOTELF');
      assert.match(e.message, /not-elf\.txt: not an ELF file/);
      return true;
    });

    const missing = path.join(dir, 'no-such-file');
    assert.throws(() => readUsdtProbes(missing), /no-such-file: does not exist/);
    assert.throws(() => readUsdtProbes(dir), /not a regular file \(directory\)/);

    const buf = fs.readFileSync(prog);
    const elf32 = path.join(dir, 'prog-elfclass32');
    const b32 = Buffer.from(buf);
    b32[4] = 1; // EI_CLASS = ELFCLASS32
    fs.writeFileSync(elf32, b32);
    assert.throws(() => readUsdtProbes(elf32), /prog-elfclass32: unsupported ELF class ELFCLASS32 \(32-bit\)/);

    const bigEndian = path.join(dir, 'prog-msb');
    const bbe = Buffer.from(buf);
    bbe[5] = 2; // EI_DATA = ELFDATA2MSB
    fs.writeFileSync(bigEndian, bbe);
    assert.throws(() => readUsdtProbes(bigEndian), /prog-msb: unsupported ELF data encoding ELFDATA2MSB/);

    const truncated = path.join(dir, 'prog-truncated');
    fs.writeFileSync(truncated, buf.subarray(0, 4096));
    assert.throws(() => readUsdtProbes(truncated), /prog-truncated: truncated or malformed ELF/);

    const object = path.join(dir, 'tick.o');
    run('gcc', ['-c', '-O2', '-o', object, 'tick.c'], { cwd: dir });
    assert.throws(() => readUsdtProbes(object), /tick\.o: unsupported ELF type 1/);
  });

  it('returns [] for an ELF file without probes', () => {
    const plain = path.join(dir, 'plain');
    fs.writeFileSync(path.join(dir, 'plain.c'), 'int main(void) { return 0; }\n');
    run('gcc', ['-o', plain, 'plain.c'], { cwd: dir });
    assert.deepEqual(readUsdtProbes(plain), []);
  });
});

describe('USDT discovery in real targets', () => {
  it(`${PYTHON}: python:gc__start and python:gc__done with semaphores`, () => {
    requireFile(PYTHON, "Debian's python3.11 (apt package python3.11-minimal)");
    const probes = readUsdtProbes(PYTHON);
    assert.ok(probes.length >= 2, `only ${probes.length} probes`);
    for (const name of ['gc__start', 'gc__done']) {
      const p = find(probes, 'python', name);
      assert.equal(p.path, PYTHON);
      assert.notEqual(p.semaphore, 0n, `${name} semaphore`);
      assert.notEqual(p.semaphoreFileOffset, 0n, `${name} semaphore file offset`);
      assert.notEqual(p.argsRaw, '', `${name} arg spec`);
      assert.equal(p.args.length, 1, `${name}: ${p.argsRaw}`);
    }
    // gc__start(int generation), gc__done(long collected)
    assert.deepEqual([find(probes, 'python', 'gc__start').args[0].size, find(probes, 'python', 'gc__start').args[0].signed], [4, true]);
    assert.deepEqual([find(probes, 'python', 'gc__done').args[0].size, find(probes, 'python', 'gc__done').args[0].signed], [8, true]);
    // Every semaphore is a distinct 2-byte counter.
    assert.equal(new Set(probes.map((p) => p.semaphore)).size, probes.length);
    assertAllAtNops(PYTHON, probes);
    crossCheckWithReadelf(PYTHON, probes);
  });

  it(`${LIBJVM}: hotspot GC probes and more than 400 in all`, () => {
    requireFile(LIBJVM, 'OpenJDK 17 libjvm.so (apt package openjdk-17-jre-headless)');
    const probes = readUsdtProbes(LIBJVM);
    assert.ok(probes.length > 400, `only ${probes.length} probes`);
    assert.ok(probes.filter((p) => p.provider === 'hotspot').length >= 40, 'hotspot:* probes');
    assert.ok(probes.filter((p) => p.provider === 'hotspot_jni').length >= 400, 'hotspot_jni:* probes');
    find(probes, 'hotspot', 'gc__begin');
    find(probes, 'hotspot', 'gc__end');
    const pool = find(probes, 'hotspot', 'mem__pool__gc__begin');
    // (manager name, len, pool name, len, initial, used, committed, max)
    assert.equal(pool.args.length, 8, pool.argsRaw);
    assert.ok(pool.args.every((a) => a.size === 8), pool.argsRaw);
    assertAllAtNops(LIBJVM, probes);
    crossCheckWithReadelf(LIBJVM, probes);
  });
});

describe('listProcessUsdt on running processes', () => {
  let dir: string;
  const children: ChildProcess[] = [];

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tracefleet-usdt-proc-'));
  });
  after(() => {
    for (const c of children) stop(c);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('finds the python probes of a running python3.11', { timeout: 60_000 }, async () => {
    requireFile(PYTHON, "Debian's python3.11");
    const child = await startReady(PYTHON, ['-c', "import time; print('ready', flush=True); time.sleep(30)"]);
    children.push(child);
    const probes = listProcessUsdt(child.pid!);
    const start = find(probes, 'python', 'gc__start');
    assert.equal(start.path, `/proc/${child.pid}/root${PYTHON}`);
    const direct = find(readUsdtProbes(PYTHON), 'python', 'gc__start');
    assert.equal(start.fileOffset, direct.fileOffset);
    assert.equal(start.semaphoreFileOffset, direct.semaphoreFileOffset);
    find(probes, 'python', 'gc__done');
    const keys = probes.map((p) => `${p.path}|${p.provider}:${p.name}|${p.pc}`);
    assert.equal(new Set(keys).size, keys.length, 'each mapped file is read once');
    stop(child);
  });

  it('finds the hotspot probes of a running JVM', { timeout: 120_000 }, async () => {
    requireFile(JAVA, 'OpenJDK 17 java');
    requireFile(JAVAC, 'OpenJDK 17 javac (apt package openjdk-17-jdk-headless)');
    requireFile(LIBJVM, 'OpenJDK 17 libjvm.so');
    fs.writeFileSync(
      path.join(dir, 'Sleep.java'),
      'public class Sleep { public static void main(String[] a) throws Exception { System.out.println("ready"); System.out.flush(); Thread.sleep(30000); } }\n',
    );
    run(JAVAC, ['-d', dir, path.join(dir, 'Sleep.java')]);
    const child = await startReady(JAVA, ['-Xshare:off', '-Xmx64m', '-cp', dir, 'Sleep']);
    children.push(child);
    const probes = listProcessUsdt(child.pid!);
    const gc = find(probes, 'hotspot', 'gc__begin');
    const fromLibjvm = probes.filter((p) => p.path === gc.path);
    // libjvm's probes: hotspot:* (46 here), hotspot_jni:* (483) and hs_private:*.
    assert.ok(fromLibjvm.length > 400, `only ${fromLibjvm.length} probes from ${gc.path}`);
    assert.deepEqual(
      fromLibjvm.map((p) => `${p.provider}:${p.name}@${p.fileOffset}`).sort(),
      readUsdtProbes(LIBJVM).map((p) => `${p.provider}:${p.name}@${p.fileOffset}`).sort(),
      'the mapped libjvm gives the same probes as the file',
    );
    assert.equal(fs.realpathSync(gc.path), fs.realpathSync(LIBJVM));
    assert.ok(gc.path.startsWith(`/proc/${child.pid}/root/`), gc.path);
    find(probes, 'hotspot', 'gc__end');
    find(probes, 'hotspot', 'mem__pool__gc__begin');
    stop(child);
  });

  it('throws for a pid that does not exist', () => {
    assert.throws(() => listProcessUsdt(0x3fffffff), /cannot read the memory maps of pid 1073741823/);
    assert.throws(() => listProcessUsdt(-1), /invalid pid -1/);
  });
});

describe('parseUsdtArgs', () => {
  it('parses registers, memory operands and constants with sizes and signedness', () => {
    assert.deepEqual(parseUsdtArgs('-4@%edi 8@-16(%rbp) 4@$5 -8@8+foo(%rip)'), [
      { raw: '-4@%edi', size: 4, signed: true, location: '%edi', kind: 'register' },
      { raw: '8@-16(%rbp)', size: 8, signed: false, location: '-16(%rbp)', kind: 'memory' },
      { raw: '4@$5', size: 4, signed: false, location: '$5', kind: 'constant' },
      { raw: '-8@8+foo(%rip)', size: 8, signed: true, location: '8+foo(%rip)', kind: 'memory' },
    ]);
  });

  it('handles the other shapes seen in real binaries', () => {
    const args = parseUsdtArgs('  1@%dil -2@%r12w 2@$-1 -1@%al 8@(%rax) 8@112(%rsp) 4@(%rax,%rbx,4) 8@foo(%rip) 8@-0x10(%rbp,%rcx,8) 1@$0  ');
    assert.deepEqual(
      args.map((a) => [a.size, a.signed, a.kind, a.location]),
      [
        [1, false, 'register', '%dil'],
        [2, true, 'register', '%r12w'],
        [2, false, 'constant', '$-1'],
        [1, true, 'register', '%al'],
        [8, false, 'memory', '(%rax)'],
        [8, false, 'memory', '112(%rsp)'],
        [4, false, 'memory', '(%rax,%rbx,4)'],
        [8, false, 'memory', 'foo(%rip)'],
        [8, false, 'memory', '-0x10(%rbp,%rcx,8)'],
        [1, false, 'constant', '$0'],
      ],
    );
  });

  it('returns [] for probes without arguments and reads size-less (v1) arguments as 8 bytes', () => {
    assert.deepEqual(parseUsdtArgs(''), []);
    assert.deepEqual(parseUsdtArgs('   '), []);
    assert.deepEqual(parseUsdtArgs('%rdi'), [{ raw: '%rdi', size: 8, signed: false, location: '%rdi', kind: 'register' }]);
  });

  it('rejects malformed arguments, naming them', () => {
    assert.throws(() => parseUsdtArgs('3@%eax'), /argument #1 "3@%eax".*size 3 is not one of 1, 2, 4, 8/);
    assert.throws(() => parseUsdtArgs('4@%eax 16@%xmm0'), /argument #2 "16@%xmm0"/);
    assert.throws(() => parseUsdtArgs('4@'), /argument #1 "4@"/);
    assert.throws(() => parseUsdtArgs('8@%'), /"%" is not a register name/);
    assert.throws(() => parseUsdtArgs('8@$'), /"\$" is not an immediate constant/);
    assert.throws(() => parseUsdtArgs('8@-16(%rbp'), /is not a register, memory operand or constant/);
    assert.throws(() => parseUsdtArgs('8f@%xmm0'), /unrecognised size prefix/);
  });
});

describe('parseProbeSpec', () => {
  it('splits provider:probe', () => {
    assert.deepEqual(parseProbeSpec('python:gc__start'), { provider: 'python', name: 'gc__start' });
    assert.deepEqual(parseProbeSpec('_p1:N_2'), { provider: '_p1', name: 'N_2' });
  });

  it('rejects malformed specs with a clear message', () => {
    assert.throws(() => parseProbeSpec('python'), /invalid USDT probe spec "python": expected exactly one ":"/);
    assert.throws(() => parseProbeSpec('a:b:c'), /expected exactly one ":".*found 2/);
    assert.throws(() => parseProbeSpec(':gc__start'), /provider "" must be an identifier/);
    assert.throws(() => parseProbeSpec('python:'), /probe name "" must be an identifier/);
    assert.throws(() => parseProbeSpec('1python:x'), /provider "1python" must be an identifier/);
    assert.throws(() => parseProbeSpec('python:gc-start'), /probe name "gc-start" must be an identifier/);
    assert.throws(() => parseProbeSpec(' python:gc__start'), /provider " python" must be an identifier/);
    assert.throws(() => parseProbeSpec(''), /expected exactly one ":"/);
  });
});
