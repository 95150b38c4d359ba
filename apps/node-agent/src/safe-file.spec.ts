import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { FileRefused, openRegular, readRegularFile, withRegularFile } from './safe-file';

const MiB = 1024 * 1024;

function refusal(fn: () => unknown): FileRefused {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof FileRefused, `expected FileRefused, got ${err}`);
    return err;
  }
  assert.fail('expected a refusal');
}

describe('safe-file: the agent opens regular files only', { timeout: 20_000 }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tracefleet-safe-file-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('opens a regular file read-only and non-blocking', () => {
    const f = path.join(dir, 'plain');
    fs.writeFileSync(f, 'hello');
    const content = withRegularFile(f, undefined, ({ fd, stat }) => {
      assert.equal(stat.size, 5);
      assert.throws(() => fs.writeSync(fd, 'x'), /EBADF/);
      return fs.readFileSync(fd, 'utf8');
    });
    assert.equal(content, 'hello');
  });

  it('refuses a FIFO at once without opening it for reading', () => {
    const fifo = path.join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const e = refusal(() => openRegular(fifo));
    assert.equal(e.code, 'ENOTREG');
    assert.equal(e.message, `${fifo}: not a regular file (FIFO)`);
    // A reader would let a non-blocking writer open; none is there.
    assert.throws(() => fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK), /ENXIO/);
  });

  it('refuses devices, directories, sockets and symlinks to them, naming the kind', async () => {
    const sock = path.join(dir, 'sock');
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(sock, resolve));
    fs.symlinkSync('/dev/null', path.join(dir, 'to-null'));
    fs.symlinkSync('/dev/zero', path.join(dir, 'to-zero'));
    try {
      const cases: [string, string][] = [
        ['/dev/null', 'character device'],
        ['/dev/zero', 'character device'],
        [path.join(dir, 'to-null'), 'character device'],
        [path.join(dir, 'to-zero'), 'character device'],
        [dir, 'directory'],
        [sock, 'socket'],
      ];
      for (const [p, kind] of cases) {
        const e = refusal(() => openRegular(p));
        assert.equal(e.message, `${p}: not a regular file (${kind})`);
        assert.equal(e.code, 'ENOTREG');
      }
    } finally {
      server.close();
    }
  });

  it('refuses kernel pseudo files (proc, sysfs) whose reads act on the kernel', () => {
    assert.equal(refusal(() => openRegular('/proc/self/status')).reason, 'on a pseudo file system (proc), not a data file');
    assert.equal(refusal(() => openRegular('/sys/kernel/notes')).code, 'EPSEUDOFS');
  });

  it('refuses an oversized file without telling its size', () => {
    const f = path.join(dir, 'big');
    fs.writeFileSync(f, Buffer.alloc(3 * MiB + 7));
    const e = refusal(() => readRegularFile(f, MiB));
    assert.equal(e.message, `${f}: larger than 1 MiB`);
    assert.doesNotMatch(e.message, /3145735/);
    assert.equal(readRegularFile(f, 4 * MiB).length, 3 * MiB + 7);
  });

  it('refuses a file that grows past the limit while it is read, reading at most limit + 1 bytes', () => {
    const f = path.join(dir, 'growing');
    fs.writeFileSync(f, Buffer.alloc(100 * 1024, 1));
    let read = 0;
    const e = refusal(() =>
      readRegularFile(f, 256 * 1024, (fd, buf, off, len, pos) => {
        fs.appendFileSync(f, Buffer.alloc(100 * 1024, 2)); // the writer keeps going between our reads
        const n = fs.readSync(fd, buf, off, len, pos);
        read += n;
        return n;
      }),
    );
    assert.equal(e.message, `${f}: larger than 262144 bytes (it grew while read)`);
    assert.equal(read, 256 * 1024 + 1);
  });

  it('says a missing file does not exist, and refuses empty or NUL-carrying paths', () => {
    const e = refusal(() => openRegular(path.join(dir, 'missing')));
    assert.equal(e.reason, 'does not exist');
    assert.equal(e.errno, 'ENOENT');
    assert.equal(refusal(() => openRegular('')).reason, 'not a valid path');
    assert.equal(refusal(() => openRegular('/etc/passwd\0x')).reason, 'not a valid path');
  });

  it('leaves no descriptor open after refusals', () => {
    const before = fs.readdirSync('/proc/self/fd').length;
    for (let i = 0; i < 50; i++) {
      for (const p of ['/dev/null', dir, '/proc/self/status', path.join(dir, 'missing')]) refusal(() => openRegular(p));
    }
    assert.equal(fs.readdirSync('/proc/self/fd').length, before);
  });
});
