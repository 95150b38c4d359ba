import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
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
import { isGoExecutable, opensslVersionIn, uncoveredTls } from './uncovered';

/** An ELF64 LE x86-64 header, a null section, the named one and a section name table. */
function fakeElfWithSection(name: string): Buffer {
  const names = Buffer.from(`\0${name}\0.shstrtab\0`, 'latin1');
  const shoff = 64 + 64; // header, then 64 bytes of section data
  const buf = Buffer.alloc(shoff + 3 * 64 + names.length);
  buf.write('\x7fELF', 0, 'latin1');
  buf[4] = 2; // ELFCLASS64
  buf[5] = 1; // little endian
  buf[6] = 1; // version
  buf.writeUInt16LE(2, 16); // ET_EXEC
  buf.writeUInt16LE(62, 18); // EM_X86_64
  buf.writeUInt32LE(1, 20);
  buf.writeBigUInt64LE(BigInt(shoff), 40);
  buf.writeUInt16LE(64, 52); // e_ehsize
  buf.writeUInt16LE(64, 58); // e_shentsize
  buf.writeUInt16LE(3, 60); // e_shnum
  buf.writeUInt16LE(2, 62); // e_shstrndx
  const sec = (i: number, nameOff: number, type: number, off: number, size: number): void => {
    const o = shoff + i * 64;
    buf.writeUInt32LE(nameOff, o);
    buf.writeUInt32LE(type, o + 4);
    buf.writeBigUInt64LE(BigInt(off), o + 24);
    buf.writeBigUInt64LE(BigInt(size), o + 32);
  };
  sec(1, 1, 1, 64, 16); // PROGBITS
  const strOff = shoff + 3 * 64;
  sec(2, 2 + name.length, 3, strOff, names.length); // STRTAB
  names.copy(buf, strOff);
  return buf;
}

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
    assert.equal(hit[0].kind, 'library');
    assert.equal(hit[0].library, 'openssl');
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
    assert.equal(s.reason, `pid ${c.pid} (sleep): no TLS library mapped (libssl.so.*, libgnutls.so.*, NSS) and /usr/bin/sleep exports no SSL_read`);
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
    const f = s.files.find((x) => x.kind === 'library');
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
      // Debian's curl links OpenSSL; libgnutls comes in too, through librtmp: both are probed, the one curl calls reports.
      assert.deepEqual(
        s.files.filter((f) => f.library === 'openssl').map((f) => [f.path, f.kind]),
        [[LIBSSL, 'library']],
      );
    });
  });

  describe('wget (GnuTLS)', () => {
    let server: Server;
    after(() => server?.close());
    it('finds the libgnutls wget links, as GnuTLS with its record functions', async () => {
      server = createServer(() => {});
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const port = (server.address() as { port: number }).port;
      const c = start('wget', ['-q', '-O', '/dev/null', '--timeout=20', '--tries=1', '--no-check-certificate', `https://127.0.0.1:${port}/`]);
      await mapped(c, /libgnutls\.so/);
      const s = scanProcess(c.pid!);
      const f = s.files.find((x) => x.library === 'gnutls');
      assert.ok(f, JSON.stringify(s));
      assert.equal(f.kind, 'library');
      assert.match(f.path, /\/libgnutls\.so\.30(\.[\d.]+)?$/);
      assert.deepEqual(f.functions, ['gnutls_record_recv', 'gnutls_record_send']);
    });
  });

  it('NSS: libnspr4.so is the file probed, with the span of libssl3.so; NSPR and libnss3 without libssl3.so are no TLS', async () => {
    const tls = start('/usr/bin/python3.11', ['-c', 'import ctypes,time; ctypes.CDLL("libssl3.so"); time.sleep(20)']);
    // The loader maps libssl3.so before the libraries it needs (libnss3, libnspr4): wait for the last of them.
    await mapped(tls, /libssl3\.so/);
    await mapped(tls, /libnspr4\.so/);
    const s = scanProcess(tls.pid!);
    const f = s.files.find((x) => x.library === 'nss');
    assert.ok(f, JSON.stringify(s, (_k, v) => (typeof v === 'bigint' ? String(v) : v)));
    assert.match(f.path, /\/libnspr4\.so$/);
    assert.equal(f.kind, 'library');
    assert.deepEqual(f.functions, ['PR_Read', 'PR_Write', 'PR_Recv', 'PR_Send']);
    const spans = readFileSync(`/proc/${tls.pid}/maps`, 'utf8')
      .split('\n')
      .filter((l) => l.endsWith('/libssl3.so'))
      .map((l) => l.split(' ')[0].split('-').map((h) => BigInt(`0x${h}`)));
    assert.deepEqual(s.nssLayer, { lo: spans[0][0], hi: spans.at(-1)![1] });

    const crypto = start('/usr/bin/python3.11', ['-c', 'import ctypes,time; ctypes.CDLL("libnss3.so"); time.sleep(20)']);
    await mapped(crypto, /libnss3\.so/);
    await mapped(crypto, /libnspr4\.so/);
    const c = scanProcess(crypto.pid!);
    assert.equal(c.files.length, 0, JSON.stringify(c));
    assert.equal(c.nssLayer, undefined);
    assert.match(c.reason ?? '', new RegExp(`^pid ${crypto.pid} \\(python3.11\\): \\S+/libnspr4\\.so is NSPR without NSS's libssl3\\.so \\(no NSS TLS\\) and /usr/bin/python3.11 exports no SSL_read$`));
  });

  it('OpenSSL linked statically, not exported (as BoringSSL is in Envoy): found through .symtab; stripped, named with its version text', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tf-static-'));
    const src = join(dir, 'static.c');
    writeFileSync(
      src,
      '#include <openssl/ssl.h>\n#include <unistd.h>\nint main(void) { SSL_CTX *c = SSL_CTX_new(TLS_client_method()); SSL *s = SSL_new(c); char b[4]; if (SSL_read(s, b, 0) > 0) SSL_write(s, b, 0); sleep(20); return 0; }\n',
    );
    const bin = join(dir, 'tfstaticssl');
    const lib = '/usr/lib/x86_64-linux-gnu';
    execFileSync('gcc', ['-O1', '-o', bin, src, `${lib}/libssl.a`, `${lib}/libcrypto.a`, '-ldl', '-pthread'], { stdio: 'inherit' });
    assert.equal(dynstrMentions(bin, ['SSL_read']), false, 'the test program must not export or import SSL_read');
    const c = start(bin, []);
    await mapped(c, /tfstaticssl/);
    const s = scanProcess(c.pid!);
    const f = s.files.find((x) => x.library === 'openssl');
    assert.ok(f, JSON.stringify(s));
    assert.equal(f.kind, 'executable');
    assert.ok(f.functions.includes('SSL_read') && f.functions.includes('SSL_write'), f.functions.join(' '));

    const stripped = join(dir, 'tfstripssl');
    execFileSync('strip', ['-o', stripped, bin]);
    const d = start(stripped, []);
    await mapped(d, /tfstripssl/);
    const t = scanProcess(d.pid!);
    assert.equal(t.files.length, 0, JSON.stringify(t));
    assert.match(t.reason ?? '', /it uses an OpenSSL-API library linked in statically without symbols \(\S+tfstripssl holds "[^"]*ssl\/ssl_lib\.c": OpenSSL or BoringSSL, but no symbol names SSL_read\), which ssl-capture does not cover$/);
  });

  it('hostile .rodata of a stripped executable: a section claiming more than the file holds, binary bytes around the mark, no mark', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tf-rodata-'));
    const shoff = 128;
    const elf = (content: Buffer, size: bigint): string => {
      const buf = fakeElfWithSection('.rodata');
      content.copy(buf, 64, 0, Math.min(content.length, 64));
      buf.writeBigUInt64LE(size, shoff + 64 + 32); // section 1's sh_size
      const f = join(dir, `x${Math.random().toString(36).slice(2)}`);
      writeFileSync(f, buf);
      return f;
    };
    const mark = Buffer.concat([Buffer.from([0xff, 0x00, 0x07]), Buffer.from('../ssl/ssl_lib.c', 'latin1'), Buffer.from([0x00, 0x80])]);
    assert.equal(opensslVersionIn(elf(mark, 64n)), '../ssl/ssl_lib.c');
    // A size past the end of the file (and past the 256 MiB read bound) is clipped to what is there.
    assert.equal(opensslVersionIn(elf(mark, 1n << 60n)), '../ssl/ssl_lib.c');
    assert.equal(opensslVersionIn(elf(Buffer.from('ssl/ssl_lib.cpp and OpenSSL x.y', 'latin1'), 64n)), undefined);
    assert.equal(opensslVersionIn(join(dir, 'missing')), undefined);
    writeFileSync(join(dir, 'text'), 'OpenSSL 3.0.0 in a file that is not ELF');
    assert.equal(opensslVersionIn(join(dir, 'text')), undefined);
  });

  it('names a TLS library it does not cover: a JVM (JSSE)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tf-jvm-'));
    writeFileSync(join(dir, 'Sleep.java'), 'public class Sleep { public static void main(String[] a) throws Exception { Thread.sleep(20000); } }');
    const c = start('java', ['-Xshare:auto', join(dir, 'Sleep.java')]);
    await mapped(c, /libjvm\.so/, 20_000);
    const s = scanProcess(c.pid!);
    assert.equal(s.files.length, 0, JSON.stringify(s));
    assert.match(s.reason ?? '', /; it uses a JVM's TLS \(JSSE, implemented in Java\) \(\S+\/libjvm\.so\), which ssl-capture does not cover$/);
  });

  it('names a Go program as using Go\'s crypto/tls, from its sections; a C program is not one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tf-go-'));
    const fake = join(dir, 'goapp');
    // A minimal ELF64 x86-64 with a .go.buildinfo section: what marks a Go executable.
    writeFileSync(fake, fakeElfWithSection('.go.buildinfo'));
    assert.equal(isGoExecutable(fake), true);
    assert.equal(isGoExecutable('/usr/bin/sleep'), false);
    assert.equal(isGoExecutable(join(dir, 'missing')), false);
    writeFileSync(join(dir, 'text'), 'not an ELF file');
    assert.equal(isGoExecutable(join(dir, 'text')), false);
    assert.equal(uncoveredTls(process.pid, [], undefined), undefined);
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
