import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { AttachError, isHotSpot, jcmd, namespacedPid, request } from './attach';
import { JavaPerfMaps } from './perf-maps';

/** A UNIX socket server that answers every connection with `answer` (or never, for undefined). */
async function server(answer: Buffer | undefined): Promise<{ path: string; received: Buffer[]; close: () => void }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tf-attach-'));
  const sockPath = path.join(dir, 's');
  const received: Buffer[] = [];
  // allowHalfOpen: the silent peer keeps its side open after the request (the default would close it at once).
  const srv = net.createServer({ allowHalfOpen: true }, (c) => {
    c.on('data', (d) => received.push(d));
    c.on('end', () => {
      if (answer !== undefined) c.end(answer);
    });
    c.on('error', () => undefined);
  });
  await new Promise<void>((r) => srv.listen(sockPath, r));
  return {
    path: sockPath,
    received,
    close: () => {
      srv.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('HotSpot attach client', () => {
  it('sends the protocol request and reads the result code and output', async () => {
    const s = await server(Buffer.from('0\nsome output\n'));
    try {
      const r = await request(s.path, 'jcmd', ['Compiler.perfmap'], Date.now() + 2000);
      assert.deepEqual(r, { code: 0, output: 'some output\n' });
      assert.equal(Buffer.concat(s.received).toString('latin1'), '1\0jcmd\0Compiler.perfmap\0\0\0');
    } finally {
      s.close();
    }
  });

  it('refuses a hostile or silent peer: garbage, an answer past the bound, no answer in time', async () => {
    const garbage = await server(Buffer.from('\x00\xffnot a code'));
    const huge = await server(Buffer.concat([Buffer.from('0\n'), Buffer.alloc(200 * 1024, 0x41)]));
    const silent = await server(undefined);
    const empty = await server(Buffer.alloc(0));
    try {
      await assert.rejects(request(garbage.path, 'jcmd', ['x'], Date.now() + 2000), /not an attach answer/);
      await assert.rejects(request(empty.path, 'jcmd', ['x'], Date.now() + 2000), /not an attach answer: ""/);
      await assert.rejects(request(huge.path, 'jcmd', ['x'], Date.now() + 2000), /answer longer than 65536 bytes/);
      const t0 = Date.now();
      await assert.rejects(request(silent.path, 'jcmd', ['x'], Date.now() + 300), (e: unknown) => e instanceof AttachError && /no answer in time/.test(e.message));
      assert.ok(Date.now() - t0 < 2000);
    } finally {
      garbage.close();
      huge.close();
      silent.close();
      empty.close();
    }
  });

  it('never signals a process that is not a HotSpot JVM', async () => {
    assert.equal(namespacedPid(process.pid), process.pid);
    assert.equal(isHotSpot(process.pid), false);
    let quit = 0;
    const onQuit = () => quit++;
    process.on('SIGQUIT', onQuit);
    try {
      await assert.rejects(jcmd(process.pid, 'Compiler.perfmap'), /is not a HotSpot JVM/);
      await assert.rejects(jcmd(2 ** 22 + 7, 'Compiler.perfmap'), /is not a HotSpot JVM/);
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(quit, 0);
    } finally {
      process.off('SIGQUIT', onQuit);
    }
  });
});

describe('JavaPerfMaps', () => {
  it('asks only JVMs, again only after the refresh interval unless told, and reports failures by reason', async () => {
    const asked: number[] = [];
    const maps = new JavaPerfMaps(async (pid) => {
      asked.push(pid);
      if (pid === 2) throw new AttachError('pid 2: the JVM did not open its attach socket');
    });
    maps.see([process.pid]); // not a JVM
    assert.equal(maps.size, 0);
    // Fake JVMs: the class only asks what see() admitted, so admit them through its map.
    (maps as unknown as { jvms: Map<number, { askedAt: number; maps: number }> }).jvms.set(1, { askedAt: 0, maps: 0 }).set(2, { askedAt: 0, maps: 0 });
    await maps.refresh();
    await maps.refresh(); // within the interval: nobody asked again
    assert.deepEqual(asked.sort(), [1, 2]);
    await maps.refresh(true);
    assert.equal(asked.length, 4);
    assert.deepEqual(maps.notes(), [
      'java: 1 JVM(s) gave perf maps (jcmd Compiler.perfmap): JIT-compiled methods by name, interpreted code as Interpreter',
      'java: no perf map, JIT frames unnamed: pid 2: the JVM did not open its attach socket',
    ]);
  });
});
