// SslTracer's Python frames (python.bpf.h, read at the return probe) on Debian's python3.11 making an HTTPS
// request with its ssl module (SSL_write_ex / SSL_read_ex of libssl.so.3), against a server in this process.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { after, before, describe, test } from 'node:test';

import { SslTracer, type SslFunctionName, type SslProbeSpec, type SslRawEvent, type SslStats } from './index';
import { PYTHON, debianPython311Layout } from './python-spec-support';
import { LIBSSL, makeCertificate, sslObject, sslOffsets, startServer, traceWhile, type Server } from './ssl-spec-support';
import { tempDir } from './spec-support';
import { Target } from './usdt-spec-support';

/** Waits for a line on stdin, then makes one request from fetch_page (a frame between <module> and http.client's). */
const CLIENT = `
import http.client, ssl, sys
def fetch_page(port):
    conn = http.client.HTTPSConnection('127.0.0.1', port, context=ssl._create_unverified_context())
    conn.request('GET', '/py', headers={'Connection': 'close'})
    body = conn.getresponse().read()
    conn.close()
    return body
print('ready', flush=True)
sys.stdin.readline()
fetch_page(int(sys.argv[1]))
print('done', flush=True)
`;

const FNS: SslFunctionName[] = ['SSL_write_ex', 'SSL_read_ex'];

const probes = (pid: number): SslProbeSpec[] => {
  const offsets = sslOffsets();
  return FNS.map((fn) => ({ path: LIBSSL, fn, entryOffset: offsets[fn], returnKind: 'uretprobe', returnOffset: offsets[fn], pid }));
};

describe('SslTracer: Python frames of the caller', () => {
  const dir = tempDir('ssl-python');
  let server: Server;

  before(async () => {
    assert.ok(fs.existsSync(PYTHON), `${PYTHON} is missing: npm run setup installs python3.11`);
    server = await startServer(makeCertificate(dir));
  });
  after(async () => {
    await server?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function request(python: boolean, captureStacks: boolean): Promise<{ pid: number; events: SslRawEvent[]; stats: SslStats }> {
    const client = new Target(PYTHON, ['-c', CLIENT, String(server.port)], { stdin: true });
    try {
      await client.waitFor('ready');
      const { events, stats } = await traceWhile({ maxDataBytes: 256, captureStacks, python, pids: [client.pid] }, async (tracer) => {
        if (python) tracer.setPythonProcess(client.pid, debianPython311Layout());
        tracer.attach(probes(client.pid));
        client.child.stdin!.end('go\n');
        await client.waitFor('done');
      });
      return { pid: client.pid, events: events.filter((e) => e.pid === client.pid), stats };
    } finally {
      client.kill();
    }
  }

  test('each event carries the frame chain after its data and stack; the request and the response share fetch_page', async () => {
    const { events, stats } = await request(true, true);
    const write = events.find((e) => e.fn === 'SSL_write_ex' && e.data.toString().startsWith('GET /py HTTP/1.1'));
    const read = events.find((e) => e.fn === 'SSL_read_ex' && e.data.toString().startsWith('HTTP/1.1 200'));
    assert.ok(write && read, `request and response not both seen: ${events.map((e) => `${e.fn}:${e.data.subarray(0, 16)}`)}`);
    for (const e of events) {
      assert.ok(e.pyStatus >= 4, `${e.fn}: status ${e.pyStatus} (<module>, fetch_page, http.client's and ssl's frames expected)`);
      assert.equal(e.pyFrames.length, e.pyStatus);
      assert.equal(e.pyTruncated, false);
      assert.ok(e.userStack.length > 0, `${e.fn}: no user stack (${e.userStackError})`);
      const words = [...e.pyFrames];
      assert.ok(words.every((w) => w > 0x1000n), `${e.fn}: ${words.map((w) => w.toString(16))}`);
      assert.equal(words[words.length - 1] & 1n, 1n, '<module> is the outermost frame of its eval call');
    }
    // Outermost first: <module>, then fetch_page's code object: the same in both calls.
    const outer = (e: SslRawEvent): bigint[] => [...e.pyFrames].reverse().slice(0, 2);
    assert.deepEqual(outer(write), outer(read));
    assert.equal(stats.python.stacks, BigInt(events.length));
    assert.equal(stats.python.frames, BigInt(events.reduce((n, e) => n + e.pyStatus, 0)));
    assert.equal(stats.python.readFaults, 0n);
  });

  test('without python, or without captureStacks, events carry no Python frames and the data is intact', async () => {
    for (const [python, captureStacks] of [[false, true], [true, false]]) {
      const { events, stats } = await request(python, captureStacks);
      assert.ok(events.some((e) => e.fn === 'SSL_write_ex' && e.data.toString().startsWith('GET /py HTTP/1.1')), `python ${python}, stacks ${captureStacks}`);
      assert.ok(events.every((e) => e.pyStatus === 0 && e.pyFrames.length === 0));
      assert.equal(stats.python.stacks, 0n);
    }
  });

  test('setPythonProcess checks its arguments and needs python: true', () => {
    const withPython = new SslTracer({ objectPath: sslObject(), maxDataBytes: 0, captureStacks: true, python: true, onEvents: () => {} });
    const without = new SslTracer({ objectPath: sslObject(), maxDataBytes: 0, onEvents: () => {} });
    try {
      assert.throws(() => withPython.setPythonProcess(0, Buffer.alloc(32)), /tracer\.setPythonProcess\(pid: integer > 0/);
      assert.throws(() => withPython.setPythonProcess(1, Buffer.alloc(31)), /layout must be a Buffer of 32 bytes/);
      assert.throws(() => without.setPythonProcess(1, Buffer.alloc(32)), /made without python: true/);
      assert.throws(
        () => new SslTracer({ objectPath: sslObject(), maxDataBytes: 0, python: 'yes' as unknown as boolean, onEvents: () => {} }),
        (err: unknown) => err instanceof TypeError && /python/.test((err as Error).message),
      );
      withPython.setPythonProcess(1, Buffer.alloc(32));
      withPython.forgetPythonProcess(1);
      assert.equal(withPython.stats().python.stacks, 0n);
    } finally {
      withPython.close();
      without.close();
    }
  });
});
