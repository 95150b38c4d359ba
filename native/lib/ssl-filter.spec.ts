// The in-kernel content filter (prefixes) and headers-only mode (messageStarts) of ssl.bpf.c, on real
// TLS clients: the test's OpenSSL client and curl, against a local HTTPS server.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { describe, test } from 'node:test';

import { OPENSSL_FUNCTIONS, SslTracer, type SslProbeSpec, type SslRawEvent, type SslTracerOptions } from './index';
import { LIBSSL, makeCertificate, sslObject, sslOffsets, startServer, traceWhile, useTlsFixture } from './ssl-spec-support';
import { ensureTracefs } from './spec-support';

const HTTP1_STARTS = ['GET ', 'POST ', 'PUT ', 'DELETE ', 'HEAD ', 'OPTIONS ', 'PATCH ', 'CONNECT ', 'TRACE ', 'HTTP/1.'].map((s) => Buffer.from(s));

const probes = (pid?: number): SslProbeSpec[] => {
  const offsets = sslOffsets();
  return OPENSSL_FUNCTIONS.map((fn) => ({ path: LIBSSL, fn, entryOffset: offsets[fn], returnKind: 'uretprobe', returnOffset: offsets[fn], pid }));
};

const startsMessage = (data: Buffer): boolean => HTTP1_STARTS.some((s) => data.subarray(0, s.length).equals(s));

describe('SslTracer content filter and headers-only mode, on real TLS clients', () => {
  const fx = useTlsFixture('ssl-filter');

  async function clientRun(opts: Omit<SslTracerOptions, 'onEvents' | 'objectPath'>, urlPaths: string[], body = 0): Promise<{ pids: number[]; events: SslRawEvent[]; stats: Awaited<ReturnType<typeof traceWhile>>['stats'] }> {
    const clients = urlPaths.map((p) => fx.newClient(p, { body }));
    try {
      for (const c of clients) await c.ready();
      const { events, stats } = await traceWhile(opts, async (tracer) => {
        tracer.attach(probes());
        for (const c of clients) await c.go();
      });
      return { pids: clients.map((c) => c.pid), events, stats };
    } finally {
      for (const c of clients) c.kill();
    }
  }

  test('prefixes: a connection whose first bytes match is captured whole; another is counted as filtered, never sent', async () => {
    const keep = `/keep-${process.pid}`;
    const { pids, events, stats } = await clientRun({ maxDataBytes: 4096, prefixes: [Buffer.from(`GET ${keep}`)] }, [`${keep}?size=100`, '/drop?size=100']);
    const [kept, dropped] = pids;
    const ofKept = events.filter((e) => e.pid === kept && e.fn !== 'SSL_do_handshake');
    const ofDropped = events.filter((e) => e.pid === dropped && e.fn !== 'SSL_do_handshake');
    assert.equal(ofDropped.length, 0, `events of the filtered connection: ${ofDropped.map((e) => `${e.fn} ${e.data.subarray(0, 20)}`).join('; ')}`);
    assert.ok(ofKept.some((e) => e.fn === 'SSL_write' && e.data.toString().startsWith(`GET ${keep}?size=100 HTTP/1.1`)), 'the matching request was not captured');
    assert.ok(ofKept.some((e) => e.fn === 'SSL_read' && e.data.toString().includes(`marker ${keep}?size=100`)), 'the response on the admitted connection was not captured');
    // Handshakes carry no data: they pass whatever the filter.
    assert.ok(events.some((e) => e.pid === dropped && e.fn === 'SSL_do_handshake'), 'the handshake of the filtered connection did not pass');
    // The dropped client's write and its reads (data and the end of stream) were counted.
    assert.ok(stats.filtered >= 2n, `filtered ${stats.filtered}`);
    assert.equal(stats.skipped, 0n);
    assert.equal(stats.eventsSeen, stats.delivered + stats.kernelDrops + stats.queueDrops);
  });

  test('messageStarts: only calls that start an HTTP/1 message are copied; body calls are counted as skipped', async () => {
    const urlPath = `/heads-${process.pid}?size=60000`;
    const { pids, events, stats } = await clientRun({ maxDataBytes: 512, messageStarts: HTTP1_STARTS }, [urlPath], 30_000);
    const own = events.filter((e) => e.pid === pids[0] && e.fn !== 'SSL_do_handshake');
    assert.ok(own.length > 0, 'nothing captured');
    for (const e of own) assert.ok(startsMessage(e.data), `${e.fn} event starts no message: ${JSON.stringify(e.data.subarray(0, 24).toString('latin1'))}`);
    const write = own.find((e) => e.fn === 'SSL_write');
    assert.ok(write, 'the POST was not captured');
    assert.equal(write.data.length, 512, 'maxDataBytes bounds the copy');
    assert.ok(write.length > 30_000, `length ${write.length} is the whole call (head and 30000 bytes of body)`);
    assert.ok(write.data.toString().startsWith(`POST ${urlPath} HTTP/1.1`) && write.truncated);
    const reads = own.filter((e) => e.fn === 'SSL_read');
    assert.equal(reads.length, 1, `read events: ${reads.map((e) => e.data.subarray(0, 16).toString('latin1')).join(' | ')}`);
    assert.ok(reads[0].data.toString('latin1').startsWith('HTTP/1.1 200'));
    // 60 KiB of body come in at least 3 more SSL_reads (16 KiB each at most), then the end of the stream.
    assert.ok(stats.skipped >= 4n, `skipped ${stats.skipped}`);
    assert.equal(stats.filtered, 0n);
  });

  test('messageStarts on a keep-alive connection: the next head carries the bytes and calls skipped since the last one (curl, two requests)', async () => {
    const a = `/first-${process.pid}?size=50000`;
    const b = `/second-${process.pid}?size=10`;
    const base = `https://127.0.0.1:${fx.server().port}`;
    const { events, sizes, pid } = await curlRun({ maxDataBytes: 1024, messageStarts: HTTP1_STARTS }, [`${base}${a}`, `${base}${b}`]);
    const reads = events.filter((e) => e.pid === pid && e.fn.startsWith('SSL_read') && e.length > 0);
    assert.equal(reads.length, 2, `read events: ${reads.map((e) => e.data.subarray(0, 16).toString('latin1')).join(' | ')}`);
    const [first, second] = reads;
    assert.ok(first.data.toString('latin1').startsWith('HTTP/1.1 200') && second.data.toString('latin1').startsWith('HTTP/1.1 200'));
    assert.equal(first.skippedBytes, 0);
    // The first response is its first call plus what was skipped before the second one.
    assert.equal(first.length + second.skippedBytes, sizes[0], `first ${first.length} + skipped ${second.skippedBytes} vs response ${sizes[0]}`);
    assert.ok(second.skippedCalls >= 3, `skipped calls ${second.skippedCalls}`);
    const writes = events.filter((e) => e.pid === pid && e.fn.startsWith('SSL_write'));
    assert.equal(writes.length, 2, 'both GETs');
    assert.ok(writes.every((w) => w.data.toString().startsWith('GET /') && w.skippedCalls === 0));
  });

  test('ports: connections to the port asked for are captured, those to another port are filtered (learnt from the syscalls)', async () => {
    ensureTracefs(); // the syscall tracepoints' ids come from tracefs, as the agent's runs mount it
    const second = await startServer(makeCertificate(fx.dir));
    try {
      const keep = fx.newClient(`/port-keep-${process.pid}`);
      const drop = fx.newClient(`/port-drop-${process.pid}`, { port: second.port });
      try {
        await keep.ready();
        await drop.ready();
        const { events, stats } = await traceWhile({ maxDataBytes: 4096, ports: [fx.server().port] }, async (tracer) => {
          tracer.attach(probes());
          await keep.go();
          await drop.go();
        });
        const data = (pid: number) => events.filter((e) => e.pid === pid && e.fn !== 'SSL_do_handshake');
        assert.ok(data(keep.pid).some((e) => e.fn === 'SSL_write' && e.data.toString().startsWith(`GET /port-keep-${process.pid}`)), 'the request to the asked port was not captured');
        assert.ok(data(keep.pid).some((e) => e.fn === 'SSL_read' && e.data.toString().includes('marker /port-keep')), 'its response was not captured');
        assert.equal(data(drop.pid).length, 0, `events to port ${second.port}: ${data(drop.pid).map((e) => e.fn).join(' ')}`);
        assert.ok(stats.filtered >= 2n, `filtered ${stats.filtered}`);
      } finally {
        keep.kill();
        drop.kill();
      }
    } finally {
      await second.close();
    }
  });

  async function curlRun(opts: Omit<SslTracerOptions, 'onEvents' | 'objectPath'>, urls: string[]): Promise<{ events: SslRawEvent[]; sizes: number[]; pid: number }> {
    execFileSync('curl', ['--version']); // a missing curl fails here, naming it
    let pid = 0;
    let out = '';
    const { events } = await traceWhile(opts, async (tracer) => {
      tracer.attach(probes());
      const child = spawn('curl', ['-sk', '--http1.1', '-o', '/dev/null', '-o', '/dev/null', '-w', '%{size_header} %{size_download}\n', ...urls], { stdio: ['ignore', 'pipe', 'inherit'] });
      pid = child.pid!;
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      assert.equal(code, 0, 'curl failed');
    });
    const sizes = out
      .trim()
      .split('\n')
      .map((l) => l.split(' ').reduce((n, x) => n + Number(x), 0));
    assert.equal(sizes.length, urls.length, `curl printed ${out}`);
    return { events, sizes, pid };
  }

  const base = (): SslTracerOptions => ({ objectPath: sslObject(), maxDataBytes: 64, onEvents: () => undefined });
  const hostile: Array<[string, Record<string, unknown>]> = [
    ['option prefixes', { prefixes: Buffer.from('GET ') }],
    ['option prefixes[0]', { prefixes: ['GET '] }],
    ['option prefixes[0]', { prefixes: [Buffer.alloc(0)] }],
    ['option prefixes[0]', { prefixes: [Buffer.alloc(17, 0x41)] }],
    ['option prefixes[1]', { prefixes: [Buffer.from('a'), Buffer.from('b\0c')] }],
    ['option prefixes', { prefixes: Array.from({ length: 17 }, (_, i) => Buffer.from(`p${i}`)) }],
    ['option messageStarts[0]', { messageStarts: [Buffer.from([0x47, 0x00])] }],
    ['option messageStarts', { messageStarts: 'GET ' }],
    ['option ports[0]', { ports: [0] }],
    ['option ports[1]', { ports: [443, 65536] }],
    ['option ports', { ports: Array.from({ length: 17 }, (_, i) => i + 1) }],
    ['option ports', { ports: 443 }],
  ];
  for (const [i, [name, patch]] of hostile.entries()) {
    test(`hostile case ${i}: bad ${name} is a TypeError naming it`, () => {
      assert.throws(
        () => new SslTracer({ ...base(), ...(patch as Partial<SslTracerOptions>) }),
        (err: unknown) => err instanceof TypeError && err.message.includes(name),
      );
    });
  }
});
