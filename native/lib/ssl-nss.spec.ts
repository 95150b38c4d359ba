// NSS: NSPR's PR_Write/PR_Recv on an NSS SSL layer descriptor are captured once the tracer knows where the
// process maps libssl3.so; the same functions on a plain file are not, nor anything of a process it was not given.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { SslTracer, functionOffsets, type SslProbeSpec, type SslRawEvent } from './index';
import { makeCertificate, sslObject, startServer, traceWhile, type Server } from './ssl-spec-support';
import { compileC, tempDir } from './spec-support';
import { Target, requireFile } from './usdt-spec-support';

const NSPR = '/usr/lib/x86_64-linux-gnu/libnspr4.so';
const NSS_FUNCTIONS = ['PR_Read', 'PR_Write', 'PR_Recv', 'PR_Send'] as const;
const SOURCE = path.join(__dirname, '../../e2e/fixtures/nss_client.c');

/** [lo, hi) of the process's libssl3.so (NSS) mappings. */
function nssLayer(pid: number): { lo: bigint; hi: bigint } {
  const spans = fs
    .readFileSync(`/proc/${pid}/maps`, 'utf8')
    .split('\n')
    .filter((l) => /\/libssl3\.so$/.test(l))
    .map((l) => l.split(' ')[0].split('-').map((h) => BigInt(`0x${h}`)));
  assert.ok(spans.length > 0, `pid ${pid} maps no libssl3.so`);
  return { lo: spans.reduce((a, s) => (s[0] < a ? s[0] : a), spans[0][0]), hi: spans.reduce((a, s) => (s[1] > a ? s[1] : a), 0n) };
}

describe('SslTracer on NSS (PR_Write/PR_Recv through libnspr4.so) with a real NSS client', () => {
  const dir = tempDir('ssl-nss');
  let client = '';
  let server: Server;

  before(async () => {
    requireFile('/usr/include/nss/ssl.h', 'install libnss3-dev and libnspr4-dev (infra/setup.sh lists them) to build the NSS test client');
    requireFile(NSPR, 'install libnspr4: the tests trace the system NSPR');
    const flags = execFileSync('pkg-config', ['--cflags', 'nss'], { encoding: 'utf8' }).trim().split(/\s+/);
    const libs = execFileSync('pkg-config', ['--libs', 'nss'], { encoding: 'utf8' }).trim().split(/\s+/);
    client = compileC(dir, 'tfnssclient', fs.readFileSync(SOURCE, 'utf8'), ['-O1', '-g', ...flags], libs);
    server = await startServer(makeCertificate(dir));
  });
  after(async () => {
    await server?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const probes = (pid: number): SslProbeSpec[] => {
    const offsets = functionOffsets(NSPR, [...NSS_FUNCTIONS]);
    return NSS_FUNCTIONS.map((fn) => {
      assert.equal(typeof offsets[fn], 'bigint', `${NSPR} has no ${fn}`);
      return { path: NSPR, fn, entryOffset: offsets[fn], returnKind: 'uretprobe', returnOffset: offsets[fn], pid };
    });
  };

  async function run(urlPath: string, giveLayer: boolean): Promise<{ events: SslRawEvent[]; pid: number; out: string }> {
    const target = new Target(client, [String(server.port), urlPath, path.join(dir, `scratch-${process.hrtime.bigint()}`)], { stdin: true });
    try {
      await target.waitFor('ready');
      const { events } = await traceWhile({ maxDataBytes: 4096 }, async (tracer) => {
        tracer.attach(probes(target.pid));
        if (giveLayer) {
          const { lo, hi } = nssLayer(target.pid);
          tracer.setNssLayer(target.pid, lo, hi);
        }
        target.child.stdin!.end('go\n');
        await target.waitFor('done');
      });
      assert.equal(await target.exited, 0);
      return { events: events.filter((e) => e.pid === target.pid), pid: target.pid, out: target.output };
    } finally {
      target.kill();
    }
  }

  test('the request through PR_Write and the response through PR_Recv; PR_Write to a plain file is not captured', async () => {
    const urlPath = `/nss-${process.pid}`;
    const { events, out } = await run(urlPath, true);
    const writes = events.filter((e) => e.fn === 'PR_Write');
    assert.equal(writes.length, 1, `PR_Write events: ${writes.map((e) => e.data.subarray(0, 40).toString()).join(' | ')}`);
    assert.ok(writes[0].data.toString().startsWith(`GET ${urlPath} HTTP/1.1\r\n`));
    assert.equal(writes[0].length, Number(/done (\d+) /.exec(out)?.[1]));
    const received = Buffer.concat(events.filter((e) => e.fn === 'PR_Recv' && e.length > 0).map((e) => e.data)).toString();
    assert.ok(received.startsWith('HTTP/1.1 200 OK') && received.includes(`marker ${urlPath} got 0`), received.slice(0, 200));
    assert.equal(received.length, Number(/done \d+ (\d+)/.exec(out)?.[1]), 'every received byte, in order');
    assert.ok(!events.some((e) => e.data.toString().includes('/plain-file-not-tls')), 'a PR_Write to a plain file was captured');
    assert.equal(new Set(events.map((e) => e.ssl)).size, 1, 'one connection: the SSL layer descriptor');
  });

  test('a process whose libssl3.so span the tracer was not given: nothing is captured', async () => {
    const { events } = await run(`/nss-unknown-${process.pid}`, false);
    assert.equal(events.length, 0, events.map((e) => e.fn).join(' '));
  });

  test('setNssLayer refuses bad values, naming them', () => {
    const tracer = new SslTracer({ objectPath: sslObject(), maxDataBytes: 64, onEvents: () => undefined });
    try {
      assert.throws(() => tracer.setNssLayer(0, 1n, 2n), (e: unknown) => e instanceof TypeError && /pid/.test(e.message));
      assert.throws(() => tracer.setNssLayer(1, 5n, 1n), (e: unknown) => e instanceof TypeError && /lo must not be above hi/.test(e.message));
      assert.throws(() => tracer.setNssLayer(1, 1 as unknown as bigint, 2n), (e: unknown) => e instanceof TypeError && /lo/.test(e.message));
      tracer.setNssLayer(1, 0n, 0n); // forgetting a pid never given is fine
    } finally {
      tracer.close();
    }
  });
});
