import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';

import { Symbolizer, UsdtTracer, perfMapReader, safeOpenCheck } from './index';
import { usdtObject } from './usdt-spec-support';
import { compileC, runUntilReady, tempDir } from './spec-support';

const MiB = 1024 * 1024;
const NOBODY = 65534;
const DAEMON = 1;

describe('safeOpenCheck: only regular files are opened', { timeout: 20_000 }, () => {
  const dir = tempDir('safe-open');
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('a regular file is opened and its size known', () => {
    const f = path.join(dir, 'plain');
    fs.writeFileSync(f, 'x'.repeat(100));
    assert.deepEqual(safeOpenCheck(f), { ok: true, size: 100 });
  });

  test('a FIFO without a writer is refused at once (no wait), naming the kind', () => {
    const fifo = path.join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    assert.deepEqual(safeOpenCheck(fifo), { ok: false, error: 'not a regular file (FIFO)' });
    // Had it been opened for reading, a non-blocking writer would find a reader; it finds none.
    assert.throws(() => fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK), /ENXIO/);
  });

  test('devices, a directory, a socket and symlinks to them are refused', async () => {
    const sock = path.join(dir, 'sock');
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(sock, resolve));
    try {
      fs.symlinkSync('/dev/zero', path.join(dir, 'to-zero'));
      fs.symlinkSync(dir, path.join(dir, 'to-dir'));
      const cases: [string, string][] = [
        ['/dev/null', 'character device'],
        ['/dev/zero', 'character device'],
        [path.join(dir, 'to-zero'), 'character device'],
        [dir, 'directory'],
        [path.join(dir, 'to-dir'), 'directory'],
        [sock, 'socket'],
      ];
      for (const [p, kind] of cases) assert.deepEqual(safeOpenCheck(p), { ok: false, error: `not a regular file (${kind})` }, p);
    } finally {
      server.close();
    }
  });

  test('a file over the limit is refused without its size in the answer', () => {
    const f = path.join(dir, 'big');
    fs.writeFileSync(f, Buffer.alloc(2 * MiB + 3));
    const r = safeOpenCheck(f, MiB);
    assert.deepEqual(r, { ok: false, error: 'larger than 1 MiB' });
    assert.deepEqual(safeOpenCheck(f, 3 * MiB), { ok: true, size: 2 * MiB + 3 });
  });

  test('regular files of pseudo file systems (reads act on the kernel) are refused', () => {
    assert.deepEqual(safeOpenCheck('/proc/self/status'), { ok: false, error: 'on a pseudo file system (proc), not a data file' });
    assert.deepEqual(safeOpenCheck('/sys/kernel/notes'), { ok: false, error: 'on a pseudo file system (sysfs), not a data file' });
  });

  test('a path through /proc/PID/root or map_files reaches the real file', () => {
    assert.equal(safeOpenCheck(`/proc/${process.pid}/root${fs.realpathSync(process.execPath)}`).ok, true);
  });

  test('hostile paths: missing, empty', () => {
    assert.deepEqual(safeOpenCheck(path.join(dir, 'missing')), { ok: false, error: 'No such file or directory' });
    assert.deepEqual(safeOpenCheck(''), { ok: false, error: 'not a valid path' });
  });
});

describe('perf map reader: owner, mode, type, size and line length', { timeout: 60_000 }, () => {
  const dir = tempDir('perf-map');
  fs.chmodSync(dir, 0o755);
  const children: ReturnType<typeof spawn>[] = [];
  after(() => {
    for (const c of children) c.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });
  let n = 0;
  const file = (content: string | Buffer, mode = 0o644, uid = 0): string => {
    const f = path.join(dir, `perf-${n++}.map`);
    fs.writeFileSync(f, content);
    fs.chmodSync(f, mode);
    fs.chownSync(f, uid, uid);
    return f;
  };
  const LINE = '100000 100 jitFunction\n';

  test('a map owned by the process (root here) is read', () => {
    const r = perfMapReader(process.pid, file(LINE), 64 * MiB);
    assert.equal(r.refresh(), true);
    assert.equal(r.find(0x100010n), 'jitFunction');
  });

  test('a map owned by another user is refused and gives no names', () => {
    const r = perfMapReader(process.pid, file(LINE, 0o644, NOBODY), 64 * MiB);
    assert.equal(r.refresh(), false);
    assert.equal(r.find(0x100010n), null);
    assert.match(r.stats().refusal, /owned by uid 65534, not by the process \(uid 0\) or root/);
    assert.equal(r.stats().refused, 1);
  });

  test('a process running as nobody: its own map is read, one owned by daemon is not', () => {
    const child = spawn('sleep', ['30'], { uid: NOBODY, gid: NOBODY, stdio: 'ignore' });
    children.push(child);
    const own = perfMapReader(child.pid!, file(LINE, 0o644, NOBODY), 64 * MiB);
    assert.equal(own.refresh(), true);
    assert.equal(own.find(0x100010n), 'jitFunction');
    const other = perfMapReader(child.pid!, file(LINE, 0o644, DAEMON), 64 * MiB);
    assert.equal(other.refresh(), false);
    assert.equal(other.find(0x100010n), null);
  });

  test('world-writable is refused; group-writable (umask 002) is read', () => {
    const world = perfMapReader(process.pid, file(LINE, 0o666), 64 * MiB);
    assert.equal(world.refresh(), false);
    assert.match(world.stats().refusal, /world-writable/);
    const group = perfMapReader(process.pid, file(LINE, 0o664), 64 * MiB);
    assert.equal(group.refresh(), true);
    assert.equal(group.find(0x100010n), 'jitFunction');
  });

  test('a FIFO, a device or a directory in its place is refused at once', () => {
    const fifo = path.join(dir, 'fifo.map');
    execFileSync('mkfifo', [fifo]);
    const link = path.join(dir, 'zero.map');
    fs.symlinkSync('/dev/zero', link);
    for (const [p, kind] of [[fifo, 'FIFO'], [link, 'character device'], [dir, 'directory']]) {
      const r = perfMapReader(process.pid, p, 64 * MiB);
      assert.equal(r.refresh(), false, p);
      assert.equal(r.stats().refusal, `${p}: not a regular file (${kind})`);
    }
  });

  test('a line of 3 MiB without a newline is skipped, the lines after it are read', () => {
    const r = perfMapReader(process.pid, file(Buffer.concat([Buffer.alloc(3 * MiB, 'a'), Buffer.from(`\n${LINE}`)])), 64 * MiB);
    assert.equal(r.refresh(), true);
    assert.equal(r.stats().linesTooLong, 1);
    assert.equal(r.find(0x100010n), 'jitFunction');
  });

  test('nothing beyond the limit is read, and the unread bytes are counted', () => {
    const lines: string[] = [];
    for (let i = 0; lines.length * 24 < 2 * MiB; i++) lines.push(`${(0x100000 + i * 0x100).toString(16)} 10 f${String(i).padStart(9, '0')}\n`);
    const text = lines.join('');
    const r = perfMapReader(process.pid, file(text), MiB);
    assert.equal(r.refresh(), true);
    const entries = r.stats().entries;
    assert.ok(entries > 0 && entries * lines[0].length <= MiB, `${entries} entries read from a 1 MiB limit`);
    assert.equal(r.stats().bytesNotRead, Buffer.byteLength(text) - MiB);
    assert.equal(r.find(BigInt(0x100000 + (lines.length - 1) * 0x100)), null);
  });

  test('a big map is taken in pieces of at most 8 MiB per refresh', () => {
    const line = (i: number) => `${(0x100000 + i * 0x100).toString(16)} 10 g${String(i).padStart(20, '0')}\n`;
    const count = Math.ceil((20 * MiB) / line(0).length);
    const r = perfMapReader(process.pid, file(Array.from({ length: count }, (_, i) => line(i)).join('')), 64 * MiB);
    r.refresh();
    const first = r.stats().entries;
    assert.ok(first < count / 2, `${first} of ${count} entries after one refresh`);
    r.refresh();
    r.refresh();
    assert.equal(r.stats().entries, count);
  });

  test('a map that grows while read: a half-written line waits for its newline, appended lines come in', () => {
    const f = file('100000 100 first\n200000 1');
    const r = perfMapReader(process.pid, f, 64 * MiB);
    r.refresh();
    assert.equal(r.find(0x100010n), 'first');
    assert.equal(r.find(0x200001n), null);
    fs.appendFileSync(f, '0 second\n300000 10 third\n');
    r.refresh();
    assert.equal(r.find(0x200001n), 'second');
    assert.equal(r.find(0x300001n), 'third');
  });

  test('a map replaced by a file of another owner loses what it gave', () => {
    const f = file(LINE);
    const r = perfMapReader(process.pid, f, 64 * MiB);
    r.refresh();
    assert.equal(r.find(0x100010n), 'jitFunction');
    const replacement = file('100000 100 planted\n', 0o644, NOBODY);
    fs.renameSync(replacement, f);
    assert.equal(r.refresh(), false);
    assert.equal(r.find(0x100010n), null);
  });
});

describe('separate debuginfo: a .gnu_debuglink naming a FIFO is not opened', { timeout: 60_000 }, () => {
  const dir = tempDir('debuglink');
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('symbolizing a stripped binary whose debuglink file is a FIFO returns (module+offset), it does not hang', async () => {
    const source = `#include <stdio.h>
      #include <unistd.h>
      int main(void) { printf("ready\\n"); fflush(stdout); sleep(30); return 0; }`;
    const binary = compileC(dir, 'linked', source, ['-O1', '-g']);
    const debug = path.join(dir, 'hostile.debug');
    execFileSync('objcopy', ['--only-keep-debug', binary, debug]);
    execFileSync('strip', ['--strip-all', binary]);
    execFileSync('objcopy', [`--add-gnu-debuglink=${debug}`, binary]);
    fs.rmSync(debug);
    execFileSync('mkfifo', [debug]); // where libdwfl's standard search opens the debuglink, blocking
    const child = await runUntilReady(binary, []);
    try {
      const maps = fs.readFileSync(`/proc/${child.pid}/maps`, 'utf8').split('\n');
      const text = maps.find((l) => l.includes(' r-xp ') && l.endsWith('/linked'));
      assert.ok(text, maps.join('\n'));
      const addr = BigInt(`0x${text.split('-')[0]}`) + 0x10n;
      // In a child process: a blocked open could not be interrupted by the test's timeout.
      const script = `const { Symbolizer } = require(${JSON.stringify(path.join(__dirname, 'index'))});
        console.log(JSON.stringify(new Symbolizer().symbolizeUser(${child.pid}, new BigUint64Array([${addr}n]))));`;
      const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10_000 });
      assert.equal(run.status, 0, `symbolizer process: ${run.signal ?? ''} ${run.stderr}`);
      const [name] = JSON.parse(run.stdout) as string[];
      assert.ok(name && !name.startsWith('[unknown mapping]'), `the binary's own mapping resolves: ${name}`);
      // The FIFO was never opened for reading: a non-blocking writer finds no reader.
      assert.throws(() => fs.openSync(debug, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK), /ENXIO/);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('separate debuginfo: a regular debuglink file beside the binary still gives names', { timeout: 60_000 }, () => {
  const dir = tempDir('debuglink-ok');
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('a stripped PIE names its static function from dir/NAME.debug through our find_debuginfo', async () => {
    const source = `#include <stdio.h>
      #include <unistd.h>
      __attribute__((noinline)) static int tf_debuglinked_fn(int x) { return x * 3 + 1; }
      int main(int argc, char **argv) { printf("ready %d\\n", tf_debuglinked_fn(argc)); fflush(stdout); sleep(30); return 0; }`;
    const binary = compileC(dir, 'plain', source, ['-O1', '-g', '-fPIE', '-pie']);
    const debug = path.join(dir, 'plain.debug');
    execFileSync('objcopy', ['--only-keep-debug', binary, debug]);
    execFileSync('strip', ['--strip-all', binary]);
    execFileSync('objcopy', [`--add-gnu-debuglink=${debug}`, binary]);
    const nm = execFileSync('nm', [debug], { encoding: 'utf8' });
    const vaddr = BigInt(`0x${/^([0-9a-f]+) t tf_debuglinked_fn$/m.exec(nm)![1]}`);
    const child = await runUntilReady(binary, []);
    try {
      const first = fs.readFileSync(`/proc/${child.pid}/maps`, 'utf8').split('\n').find((l) => l.endsWith('/plain'))!;
      const base = BigInt(`0x${first.split('-')[0]}`); // the PIE's first mapping: file offset 0, vaddr 0
      const symbolizer = new Symbolizer();
      try {
        assert.deepEqual(symbolizer.symbolizeUser(child.pid!, new BigUint64Array([base + vaddr])), ['tf_debuglinked_fn']);
      } finally {
        symbolizer.close();
      }
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('USDT attach: libbpf is given the safely opened inode', { timeout: 30_000 }, () => {
  const dir = tempDir('usdt-attach');
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('a FIFO or a device as the probe binary fails start() with the reason, without blocking', () => {
    const fifo = path.join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    for (const [p, kind] of [[fifo, 'FIFO'], ['/dev/zero', 'character device']]) {
      const tracer = new UsdtTracer({ objectPath: usdtObject(), probes: [{ path: p, provider: 'python', name: 'gc__start', probe: 0 }], maxEvents: 10, onEvents: () => {} });
      try {
        assert.throws(() => tracer.start(), new RegExp(`^Error: attach usdt python:gc__start in ${p}: not a regular file \\(${kind}\\)$`));
      } finally {
        tracer.close();
      }
    }
    assert.throws(() => fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK), /ENXIO/);
  });
});
