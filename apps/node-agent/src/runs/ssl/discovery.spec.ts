import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, statSync, writeFileSync, mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dynstrMentions } from '../../lib/elf';
import {
  fileKey,
  fullReads,
  inspectBinary,
  isLibssl,
  parseLdconfig,
  scanProcess,
  systemLibssl,
} from './discovery';
import { parseMaps, tgidOf } from '../../lib/proc';

const LIBSSL = '/usr/lib/x86_64-linux-gnu/libssl.so.3';
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) c.kill('SIGKILL');
});

function start(cmd: string, args: string[]): ChildProcess {
  const c = spawn(cmd, args, { stdio: 'ignore' });
  children.push(c);
  return c;
}

/** Waits until the child maps a file matching `re` (or just runs its program, when re is undefined). */
async function mapped(c: ChildProcess, re: RegExp, timeoutMs = 10_000): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    try {
      if (re.test(readFileSync(`/proc/${c.pid}/maps`, 'utf8'))) return;
    } catch {
      // not there yet
    }
    if (Date.now() - t0 > timeoutMs) throw new Error(`pid ${c.pid} never mapped ${re}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('parsing', () => {
  it('reads file mappings of /proc/PID/maps, deleted files included', () => {
    const m = parseMaps(
      [
        '55d0c0a00000-55d0c0a02000 r--p 00000000 fe:00 123 /usr/bin/sleep',
        '7f0000000000-7f0000001000 r-xp 00001000 fe:00 339900                     /usr/lib/x86_64-linux-gnu/libssl.so.3',
        '7f0000002000-7f0000003000 r-xp 00000000 00:05 99 /tmp/old lib.so (deleted)',
        '7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]',
        '7f0000004000-7f0000005000 rw-p 00000000 00:00 0 ',
      ].join('\n'),
    );
    assert.deepEqual(
      m.map((x) => [x.start, x.perms, x.inode, x.path, x.deleted]),
      [
        ['55d0c0a00000', 'r--p', 123, '/usr/bin/sleep', false],
        ['7f0000000000', 'r-xp', 339900, LIBSSL, false],
        ['7f0000002000', 'r-xp', 99, '/tmp/old lib.so', true],
      ],
    );
  });

  it('takes OpenSSL libssl from ldconfig -p, not NSS libssl3.so nor other arches', () => {
    const text = [
      '1234 libs found in cache `/etc/ld.so.cache\'',
      '\tlibssl3.so (libc6,x86-64) => /lib/x86_64-linux-gnu/libssl3.so',
      '\tlibssl.so.3 (libc6,x86-64) => /lib/x86_64-linux-gnu/libssl.so.3',
      '\tlibssl.so.1.1 (libc6) => /lib/i386-linux-gnu/libssl.so.1.1',
      '\tlibssl.so (libc6,x86-64) => /lib/x86_64-linux-gnu/libssl.so',
    ].join('\n');
    assert.deepEqual(parseLdconfig(text), ['/lib/x86_64-linux-gnu/libssl.so.3', '/lib/x86_64-linux-gnu/libssl.so']);
    assert.equal(isLibssl('/x/libssl.so.3'), true);
    assert.equal(isLibssl('/x/libssl3.so'), false);
    assert.equal(isLibssl('/x/libssl.so'), true);
  });

  it('looks at the dynamic string table only', () => {
    assert.equal(dynstrMentions('/usr/bin/node', ['SSL_read']), true);
    assert.equal(dynstrMentions(LIBSSL, ['SSL_read']), true);
    assert.equal(dynstrMentions('/usr/bin/sleep', ['SSL_read']), false);
    const dir = mkdtempSync(join(tmpdir(), 'tf-disc-'));
    writeFileSync(join(dir, 'text'), 'SSL_read\0 is not an ELF file at all, not even close to 64 bytes long enough');
    assert.equal(dynstrMentions(join(dir, 'text'), ['SSL_read']), false);
  });
});

describe('files named by path', () => {
  it('finds the system libssl once, by its real path', () => {
    const sys = systemLibssl();
    const hit = sys.filter((f) => f.key === fileKey(statSync(LIBSSL)));
    assert.equal(hit.length, 1, JSON.stringify(sys));
    assert.equal(hit[0].path, LIBSSL);
    assert.equal(hit[0].kind, 'libssl');
    assert.ok(hit[0].functions.includes('SSL_read_ex') && hit[0].functions.includes('SSL_do_handshake'));
  });

  it('refuses a job binary that is missing or has no OpenSSL, naming the path', () => {
    assert.throws(() => inspectBinary('/nonexistent/libssl.so.3'), /^Error: binary \/nonexistent\/libssl.so.3: does not exist$/);
    assert.throws(() => inspectBinary('/usr/bin/sleep'), /binary \/usr\/bin\/sleep: exports no SSL_read and SSL_write/);
    assert.throws(() => inspectBinary('/usr/bin'), /binary \/usr\/bin: not a regular file/);
    const node = inspectBinary('/usr/bin/node');
    assert.equal(node.kind, 'executable');
    assert.deepEqual(node.functions.slice(0, 4), ['SSL_read', 'SSL_write', 'SSL_read_ex', 'SSL_write_ex']);
  });
});

describe('scanProcess on real processes', () => {
  it('says why a process has no OpenSSL', async () => {
    const c = start('sleep', ['30']);
    await mapped(c, /\/sleep$/m);
    const s = scanProcess(c.pid!);
    assert.equal(s.files.length, 0);
    assert.equal(s.reason, `pid ${c.pid} (sleep): no libssl.so.* mapped and /usr/bin/sleep exports no SSL_read`);
  });

  it('finds node\'s static OpenSSL in the executable, reading the file once for many processes', async () => {
    const a = start('/usr/bin/node', ['-e', 'setTimeout(() => {}, 20000)']);
    const b = start('/usr/bin/node', ['-e', 'setTimeout(() => {}, 20000)']);
    await mapped(a, /libc\.so/);
    await mapped(b, /libc\.so/);
    const before = fullReads();
    const sa = scanProcess(a.pid!);
    const sb = scanProcess(b.pid!);
    assert.ok(fullReads() - before <= 1, `${fullReads() - before} full reads`);
    for (const s of [sa, sb]) {
      assert.equal(s.comm, 'node');
      assert.equal(s.files.length, 1, JSON.stringify(s));
      assert.equal(s.files[0].path, '/usr/bin/node');
      assert.equal(s.files[0].kind, 'executable');
      assert.equal(s.files[0].openPath, `/proc/${s.pid}/root/usr/bin/node`);
    }
    assert.equal(sa.files[0].key, sb.files[0].key);
    const again = fullReads();
    scanProcess(a.pid!);
    assert.equal(fullReads(), again);
  });

  it('finds libssl.so.3 in a Python that imported ssl', async () => {
    const c = start('/usr/bin/python3.11', ['-c', 'import ssl,time; time.sleep(20)']);
    await mapped(c, /libssl\.so/);
    const s = scanProcess(c.pid!);
    const f = s.files.find((x) => x.kind === 'libssl');
    assert.ok(f, JSON.stringify(s));
    assert.equal(f.path, LIBSSL);
    assert.equal(f.openPath, `/proc/${c.pid}/root${LIBSSL}`);
    assert.equal(f.key, fileKey(statSync(LIBSSL)));
    assert.ok(!s.files.some((x) => x.path.includes('libcrypto')), 'libcrypto defines no SSL_read');
  });

  describe('curl', () => {
    let server: Server;
    after(() => server?.close());
    it('finds the libssl curl links', async () => {
      // a TCP server that never answers keeps curl waiting in its handshake
      server = createServer(() => {});
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const port = (server.address() as { port: number }).port;
      const c = start('curl', ['-sk', '--max-time', '20', `https://127.0.0.1:${port}/`]);
      await mapped(c, /libssl\.so/);
      const s = scanProcess(c.pid!);
      assert.deepEqual(s.files.map((f) => [f.path, f.kind]), [[LIBSSL, 'libssl']]);
    });
  });

  it('comes back "gone" for a process that no longer exists', () => {
    const s = scanProcess(4_000_000);
    assert.equal(s.gone, true);
    assert.equal(s.files.length, 0);
  });

  it('maps a thread id to its process', () => {
    assert.equal(tgidOf(process.pid), process.pid);
    assert.equal(tgidOf(4_000_000), undefined);
  });
});
