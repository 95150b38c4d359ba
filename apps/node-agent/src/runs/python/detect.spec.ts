import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PythonNames } from './code-names';
import { clearDetectCache, detectPython, elfParses, loadBias, pythonFileName, versionFromHex, type PythonProcess } from './detect';
import { PY_FRAME_ENTRY, PY_FRAME_OWNED_BY_CSTACK, PY_MODEL_CSTACK, PY_MODEL_FRAME_OBJECT, PY_MODEL_IS_ENTRY, PY_OFF_NONE, TRACEFLEET_MAX_PY_FRAMES } from './layout';
import { readProcessMemory } from './memory';

const PYENV = '/root/.pyenv/versions';
// The directory's name is not ASCII: co_filename is then a UCS-4 str, and the 'λ' function's name a UCS-2 one.
const dir = mkdtempSync(join(tmpdir(), 'tf-python-😀-'));
const children: ChildProcess[] = [];
after(async () => {
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          c.once('exit', () => resolve());
          c.kill('SIGKILL');
        }),
    ),
  );
  rmSync(dir, { recursive: true, force: true });
});

const SCRIPT = [
  'import threading, time', // 1
  'class C:', // 2
  '    def m(self):', // 3
  '        print(id(C.m.__code__), id(f.__code__), id(λ_fn.__code__), threading.get_ident(), flush=True)', // 4
  '        time.sleep(600)', // 5
  'def λ_fn():', // 6
  '    pass', // 7
  'def f():', // 8
  '    C().m()', // 9
  'f()', // 10
  '',
].join('\n');
const scriptPath = join(dir, 'script.py');
writeFileSync(scriptPath, SCRIPT);

function need(path: string): string {
  if (!existsSync(path)) throw new Error(`${path} is missing: these specs read real interpreters (pyenv install the version, or apt-get install python3.11)`);
  return path;
}

/** Starts `exe args` and resolves with its first line of output (or rejects, naming stderr, after 20 s). */
function start(exe: string, args: string[]): Promise<{ child: ChildProcess; line: string }> {
  const child = spawn(need(exe), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`${exe} printed nothing in 20 s; stderr: ${err}`)), 20_000);
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        resolve({ child, line: out.slice(0, nl) });
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${exe} exited (${code ?? signal}) before it was ready; stderr: ${err}`));
    });
  });
}

function read8(pid: number, addr: bigint): bigint {
  const b = readProcessMemory(pid, addr, 8);
  assert.ok(b, `pid ${pid}: cannot read 0x${addr.toString(16)}`);
  return b.readBigUInt64LE(0);
}

function read1(pid: number, addr: bigint): number {
  const b = readProcessMemory(pid, addr, 1);
  assert.ok(b, `pid ${pid}: cannot read 0x${addr.toString(16)}`);
  return b[0];
}

/** The thread state whose thread_id is `ident`, found as the profile program finds it. */
function threadState(pid: number, py: PythonProcess, ident: bigint): bigint {
  const l = py.layout;
  const interp = read8(pid, py.interpHeadAddr);
  assert.notEqual(interp, 0n, 'the interpreter list is empty');
  for (let t = read8(pid, interp + BigInt(l.interpThreads)), n = 0; t !== 0n && n < 64; t = read8(pid, t + BigInt(l.tstateNext)), n++) {
    if (read8(pid, t + BigInt(l.tstateThreadId)) === ident) return t;
  }
  assert.fail(`no thread state of pid ${pid} has thread_id ${ident}`);
}

/** The thread's frame words, innermost first, as python.h describes the walk the profile program makes. */
function frameWords(pid: number, py: PythonProcess, tstate: bigint): bigint[] {
  const l = py.layout;
  let frame = read8(pid, tstate + BigInt(l.tstateFrame));
  if (l.cframeFrame !== PY_OFF_NONE && frame !== 0n) frame = read8(pid, frame + BigInt(l.cframeFrame));
  const words: bigint[] = [];
  for (let n = 0; frame !== 0n && n < TRACEFLEET_MAX_PY_FRAMES; n++, frame = read8(pid, frame + BigInt(l.framePrevious))) {
    if (l.model === PY_MODEL_CSTACK && read1(pid, frame + BigInt(l.frameFlag)) === PY_FRAME_OWNED_BY_CSTACK) {
      if (words.length > 0) words[words.length - 1] |= PY_FRAME_ENTRY;
      continue;
    }
    const entry = l.model === PY_MODEL_FRAME_OBJECT || (l.model === PY_MODEL_IS_ENTRY && read1(pid, frame + BigInt(l.frameFlag)) !== 0);
    words.push(read8(pid, frame + BigInt(l.frameCode)) | (entry ? PY_FRAME_ENTRY : 0n));
  }
  return words;
}

const SUPPORTED = [
  { exe: '/usr/bin/python3.11', version: '3.11.2', file: '/usr/bin/python3.11' }, // Debian: static, non-PIE, no debug info
  { exe: `${PYENV}/3.8.18/bin/python3.8`, version: '3.8.18', file: `${PYENV}/3.8.18/lib/libpython3.8.so.1.0` },
  { exe: `${PYENV}/3.9.18/bin/python3.9`, version: '3.9.18', file: `${PYENV}/3.9.18/lib/libpython3.9.so.1.0` },
  { exe: `${PYENV}/3.10.13/bin/python3.10`, version: '3.10.13', file: `${PYENV}/3.10.13/lib/libpython3.10.so.1.0` },
  { exe: `${PYENV}/3.11.7/bin/python3.11`, version: '3.11.7', file: `${PYENV}/3.11.7/lib/libpython3.11.so.1.0` },
  { exe: `${PYENV}/3.12.1/bin/python3.12`, version: '3.12.1', file: `${PYENV}/3.12.1/lib/libpython3.12.so.1.0` },
  { exe: `${PYENV}/3.13.0/bin/python3.13`, version: '3.13.0', file: `${PYENV}/3.13.0/lib/libpython3.13.so.1.0` },
];

describe('detectPython on real interpreters', () => {
  for (const { exe, version, file } of SUPPORTED) {
    it(`python ${version} (${exe}): version, thread states, frames and code names`, async () => {
      const { child, line } = await start(exe, ['-I', scriptPath]);
      const pid = child.pid!;
      const [mId, fId, lambdaId, ident] = line.split(' ').map((x) => BigInt(x));
      const d = detectPython(pid);
      assert.equal(d.kind, 'python', JSON.stringify(d, (_k, v) => (typeof v === 'bigint' ? v.toString(16) : v)));
      const py = d as PythonProcess;
      assert.equal(py.version, version);
      assert.equal(py.minor, Number(version.split('.')[1]));
      assert.equal(py.path, file);
      assert.equal(py.pyProc.readBigUInt64LE(0), py.interpHeadAddr);

      const tstate = threadState(pid, py, ident);
      const words = frameWords(pid, py, tstate);
      const minor = py.minor;
      const names = new PythonNames();
      try {
        names.addProcess(pid, py);
        const m = minor >= 11 ? 'C.m' : 'm'; // co_qualname from 3.11
        assert.equal(names.name(pid, fId), 'f (script.py:8)');
        assert.equal(names.name(pid, mId), `${m} (script.py:3)`);
        assert.equal(names.name(pid, lambdaId), 'λ_fn (script.py:6)');
        assert.deepEqual(
          words.map((w) => names.name(pid, w)),
          [`${m} (script.py:3)`, 'f (script.py:8)', '<module> (script.py:1)'],
        );
        assert.deepEqual(words.slice(0, 2).map((w) => w & ~PY_FRAME_ENTRY), [mId, fId]);
        // One C call of the eval loop per frame before 3.11; from 3.11 Python calls Python in the same C call.
        const entries = words.map((w) => (w & PY_FRAME_ENTRY) !== 0n);
        assert.deepEqual(entries, minor <= 10 ? [true, true, true] : [false, false, true]);
        assert.equal(names.name(pid, py.codeType + 64n).startsWith('[python code'), true); // not a code object
        assert.deepEqual(names.stats(), { resolved: 4, failed: 1, cacheHits: 2, cached: 5, processes: 1 });
      } finally {
        names.close();
      }
    });
  }

  it('says which version it will not read, and why', async () => {
    for (const [exe, version] of [
      [`${PYENV}/3.7.16/bin/python3.7`, '3.7.16'],
      [`${PYENV}/2.7.18/bin/python2.7`, '2.7.18'],
    ]) {
      const { child } = await start(exe, ['-c', 'import sys, time; sys.stdout.write("ready\\n"); sys.stdout.flush(); time.sleep(600)']);
      const d = detectPython(child.pid!);
      assert.equal(d.kind, 'unsupported');
      assert.equal(d.kind === 'unsupported' && d.version, version);
      assert.equal(d.kind === 'unsupported' && d.reason, `python ${version}: no frame layout for this version (supported: 3.8–3.13); profiled natively`);
    }
  });

  it('parses one interpreter file once, however many processes run it', async () => {
    clearDetectCache();
    const exe = `${PYENV}/3.12.1/bin/python3.12`;
    const [a, b] = await Promise.all([start(exe, ['-I', scriptPath]), start(exe, ['-I', scriptPath])]);
    const before = elfParses();
    const da = detectPython(a.child.pid!);
    const afterFirst = elfParses();
    const db = detectPython(b.child.pid!);
    assert.equal(da.kind, 'python');
    assert.equal(db.kind, 'python');
    assert.ok(afterFirst > before);
    assert.equal(elfParses(), afterFirst, 'the second process of the same interpreter parsed its files again');
    // Memory that cannot be read (or lies) about Py_Version: the value the file holds still names the version.
    for (const readMemory of [() => undefined, () => Buffer.alloc(8, 0xff)]) {
      const d = detectPython(b.child.pid!, { readMemory });
      assert.equal(d.kind === 'python' && d.version, '3.12.1');
    }
  });

  it('is not fooled by files named like Python that are not, and finds the real one beside them', async () => {
    // Not ELF, and an ELF whose section table points past the end: both mapped into a real 3.11.
    const notElf = join(dir, 'libpython3.12.so.1.0');
    writeFileSync(notElf, Buffer.alloc(8192, 0x41));
    const broken = join(dir, 'python3.9');
    const libc = readFileSync('/lib/x86_64-linux-gnu/libc.so.6');
    const head = Buffer.from(libc.subarray(0, 64 * 1024));
    head.writeBigUInt64LE(0x7fff_0000n, 40); // e_shoff
    writeFileSync(broken, head);
    const code = 'import mmap, sys, time\nfs = [open(p, "rb") for p in sys.argv[1:]]\nms = [mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) for f in fs]\nprint("ready", flush=True)\ntime.sleep(600)';
    const { child } = await start('/usr/bin/python3.11', ['-I', '-c', code, notElf, broken]);
    const maps = readFileSync(`/proc/${child.pid}/maps`, 'utf8');
    assert.ok(maps.includes(notElf) && maps.includes(broken), 'the fake files are mapped');
    const d = detectPython(child.pid!);
    assert.equal(d.kind, 'python');
    assert.equal(d.kind === 'python' && d.version, '3.11.2');

    // A program named python3.12 that is not Python: nothing to read.
    const fakeDir = join(dir, 'bin');
    mkdirSync(fakeDir);
    const fake = join(fakeDir, 'python3.12');
    copyFileSync(need('/usr/bin/sleep'), fake);
    const sleeper = spawn(fake, ['600'], { stdio: 'ignore' });
    children.push(sleeper);
    for (let i = 0; i < 100 && !readFileSync(`/proc/${sleeper.pid}/maps`, 'utf8').includes(fake); i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(detectPython(sleeper.pid!), { kind: 'none' });
    assert.deepEqual(detectPython(process.pid), { kind: 'none' });
    assert.deepEqual(detectPython(4_000_000), { kind: 'none' });
  });
});

describe('detect helpers', () => {
  it('reads interpreter file names', () => {
    assert.deepEqual(pythonFileName('/usr/bin/python3.11'), { major: 3, minor: 11, flags: '' });
    assert.deepEqual(pythonFileName('/x/libpython3.7m.so.1.0'), { major: 3, minor: 7, flags: 'm' });
    assert.deepEqual(pythonFileName('/x/libpython3.13t.so.1.0'), { major: 3, minor: 13, flags: 't' });
    assert.deepEqual(pythonFileName('/usr/bin/python3.12d'), { major: 3, minor: 12, flags: 'd' });
    assert.equal(pythonFileName('/x/libpython3.so'), undefined);
    assert.equal(pythonFileName('/usr/bin/python3'), undefined);
    assert.equal(pythonFileName('/x/_pythonx.so'), undefined);
  });

  it('decodes PY_VERSION_HEX', () => {
    assert.equal(versionFromHex(0x030b02f0n)?.text, '3.11.2');
    assert.equal(versionFromHex(0x030d00c1n)?.text, '3.13.0rc1');
    assert.equal(versionFromHex(0x030e00a3n)?.text, '3.14.0a3');
    assert.equal(versionFromHex(0n), undefined);
    assert.equal(versionFromHex(0x030b0200n), undefined); // release level 0
    assert.equal(versionFromHex(1n << 40n), undefined);
  });

  it('finds the load bias of PIE, shared and non-PIE files from one mapping', () => {
    // A PIE: text at file offset 0x1000 (vaddr 0x1000), data at 0x2dd0 (vaddr 0x3dd0).
    const pie = [
      { offset: 0n, vaddr: 0n, filesz: 0x1000n, memsz: 0x1000n },
      { offset: 0x1000n, vaddr: 0x1000n, filesz: 0x800n, memsz: 0x800n },
      { offset: 0x2dd0n, vaddr: 0x3dd0n, filesz: 0x300n, memsz: 0x400n },
    ];
    assert.equal(loadBias(pie, { startAddr: 0x5555_5555_4000n, offset: 0n }), 0x5555_5555_4000n);
    assert.equal(loadBias(pie, { startAddr: 0x5555_5555_5000n, offset: 0x1000n }), 0x5555_5555_4000n);
    assert.equal(loadBias(pie, { startAddr: 0x5555_5555_7000n, offset: 0x2000n }), 0x5555_5555_4000n); // data's first page
    // Non-PIE: linked at 0x400000, mapped there.
    const exec = [{ offset: 0n, vaddr: 0x400000n, filesz: 0x1000n, memsz: 0x1000n }];
    assert.equal(loadBias(exec, { startAddr: 0x400000n, offset: 0n }), 0n);
    assert.equal(loadBias(exec, { startAddr: 0x400000n, offset: 0x5000n }), undefined); // past every segment
  });
});
