import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { OPENSSL_FUNCTIONS, SslTracer, type SslFunctionName, type SslProbeSpec, type SslRawEvent, type SslStats, type SslTracerOptions } from './index';
import {
  Client,
  LIBSSL,
  buildClient,
  makeCertificate,
  responseBody,
  returnPathSites,
  sslObject,
  sslOffsets,
  startServer,
  stream,
  traceWhile,
  type ClientRun,
  type Server,
} from './ssl-spec-support';
import { tempDir } from './spec-support';
import { ownBpfFds } from './usdt-spec-support';

const COMM = 'tfsslclient';

/** Entry probe and uretprobe on each function's first instruction in libssl.so.3. */
const uretprobes = (fns: readonly SslFunctionName[] = OPENSSL_FUNCTIONS, pid?: number): SslProbeSpec[] => {
  const offsets = sslOffsets();
  return fns.map((fn) => ({ path: LIBSSL, fn, entryOffset: offsets[fn], returnKind: 'uretprobe', returnOffset: offsets[fn], pid }));
};

const mine = (events: SslRawEvent[], pid: number): SslRawEvent[] => events.filter((e) => e.pid === pid);

function assertBalanced(stats: SslStats): void {
  assert.equal(stats.eventsSeen, stats.delivered + stats.kernelDrops + stats.queueDrops, `unbalanced stats ${JSON.stringify(stats, (_, v) => (typeof v === 'bigint' ? String(v) : v))}`);
}

const links = (m: Map<string, number>): number =>
  (m.get('anon_inode:bpf_link') ?? 0) + (m.get('anon_inode:bpf-link') ?? 0) + (m.get('anon_inode:[perf_event]') ?? 0);

describe('SslTracer on OpenSSL 3 (libssl.so.3) with a real TLS client', () => {
  const dir = tempDir('ssl');
  let client = '';
  let other = '';
  let server: Server;
  let runs = 0;

  before(async () => {
    client = buildClient(dir);
    other = path.join(dir, 'tfsslother');
    fs.copyFileSync(client, other);
    fs.chmodSync(other, 0o755);
    server = await startServer(makeCertificate(dir));
  });
  after(async () => {
    await server?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const newClient = (urlPath: string, opts: { body?: number; api?: 'plain' | 'ex'; binary?: string } = {}): Client =>
    new Client(opts.binary ?? client, server.port, urlPath, { ...opts, out: path.join(dir, `out-${++runs}`) });

  /** Starts a client, traces while it makes its request, returns its run with the events and stats. */
  async function traced(
    opts: Omit<SslTracerOptions, 'onEvents' | 'objectPath'>,
    probes: (pid: number) => SslProbeSpec[],
    urlPath: string,
    clientOpts: { body?: number; api?: 'plain' | 'ex' } = {},
  ): Promise<{ run: ClientRun; events: SslRawEvent[]; stats: SslStats }> {
    const c = newClient(urlPath, clientOpts);
    try {
      await c.ready();
      let run: ClientRun | undefined;
      const { events, stats } = await traceWhile(opts, async (tracer) => {
        tracer.attach(probes(c.pid));
        run = await c.go();
      });
      return { run: run!, events, stats };
    } finally {
      c.kill();
    }
  }

  test('uretprobes: the request in one SSL_write, the response in SSL_read, with pid, comm and latency', async () => {
    const marker = `/hello-${process.pid}-${Date.now()}`;
    const result = await traced({ maxDataBytes: 16384 }, () => uretprobes(), marker);
    const own = mine(result.events, result.run.pid);
    const writes = own.filter((e) => e.fn === 'SSL_write');
    assert.equal(writes.length, 1, `SSL_write events: ${writes.length}`);
    const [w] = writes;
    assert.equal(w.ret, result.run.sent.length);
    assert.equal(w.length, result.run.sent.length);
    assert.deepEqual(w.data, result.run.sent);
    assert.ok(w.data.toString().startsWith(`GET ${marker} HTTP/1.1\r\n`));
    assert.equal(w.truncated, false);
    assert.equal(w.readError, false);

    const reads = own.filter((e) => e.fn === 'SSL_read');
    assert.ok(reads.some((e) => e.data.toString().includes(`marker ${marker} got 0`)), 'the marker is in no SSL_read event');
    assert.deepEqual(stream(own, result.run.pid, ['SSL_read']), result.run.received);
    assert.ok(reads.at(-1)!.ret <= 0 && reads.at(-1)!.length === 0, 'the last SSL_read is the end of the stream');
    const handshakes = own.filter((e) => e.fn === 'SSL_do_handshake');
    assert.ok(handshakes.some((e) => e.ret === 1), `handshake results ${handshakes.map((e) => e.ret)}`);
    assert.ok(handshakes.every((e) => e.data.length === 0 && e.length === 0));

    for (const e of own) {
      assert.equal(e.comm, COMM);
      assert.equal(e.tid, result.run.pid);
      assert.ok(e.latencyNs > 0, `${e.fn} latency ${e.latencyNs}`);
      assert.ok(e.ssl !== 0n);
      assert.equal(e.userStack.length, 0);
    }
    assert.equal(new Set(own.map((e) => e.ssl)).size, 1, 'one connection, one SSL*');
    assert.ok(own.every((e, i) => i === 0 || e.tsNs >= own[i - 1].tsNs), 'events out of order');
    assertBalanced(result.stats);
    console.log(
      `uretprobes: ${own.length} events of pid ${result.run.pid} (${own.map((e) => `${e.fn}=${e.ret}`).join(' ')}), ` +
        `write ${w.length} B in ${w.latencyNs} ns; stats ${Object.entries(result.stats).map(([k, v]) => `${k}=${v}`).join(' ')}`,
    );
  });

  test('an empty pid filter lets nothing through', async () => {
    const { events, stats } = await traced({ maxDataBytes: 64, pids: [] }, () => uretprobes(), '/nobody');
    assert.equal(events.length, 0);
    assert.equal(stats.eventsSeen, 0n);
    assert.equal(stats.orphanReturns, 0n);
  });

  test('plain uprobes on the return path (js/jne sites computed from the bytes) give the same events', async () => {
    const offsets = sslOffsets();
    const read = returnPathSites(LIBSSL, offsets.SSL_read);
    const write = returnPathSites(LIBSSL, offsets.SSL_write);
    console.log(
      `return-path sites: SSL_read +${read.entry - offsets.SSL_read}/+${read.ret - offsets.SSL_read}, ` +
        `SSL_write +${write.entry - offsets.SSL_write}/+${write.ret - offsets.SSL_write}`,
    );
    const marker = `/plain-${process.pid}-${Date.now()}?size=40000`;
    const { run, events, stats } = await traced(
      { maxDataBytes: 16384, comm: COMM },
      (pid) => [
        { path: LIBSSL, fn: 'SSL_read', entryOffset: read.entry, returnKind: 'uprobe', returnOffset: read.ret, pid },
        { path: LIBSSL, fn: 'SSL_write', entryOffset: write.entry, returnKind: 'uprobe', returnOffset: write.ret, pid },
      ],
      marker,
    );
    const own = mine(events, run.pid);
    const writes = own.filter((e) => e.fn === 'SSL_write');
    assert.equal(writes.length, 1);
    assert.equal(writes[0].length, run.sent.length);
    assert.deepEqual(writes[0].data, run.sent);
    assert.equal(run.received.length > 40000, true);
    assert.deepEqual(stream(own, run.pid, ['SSL_read']), run.received);
    assert.ok(run.received.toString().endsWith(responseBody(marker, 0)));
    assert.ok(own.every((e) => e.latencyNs > 0 && e.comm === COMM));
    assert.equal(stats.orphanReturns, 0n);
    assert.equal(stats.nested, 0n);
    assertBalanced(stats);
    console.log(`plain uprobes: ${own.length} events, reads ${own.filter((e) => e.fn === 'SSL_read').map((e) => e.ret).join(',')}`);
  });

  test('SSL_read_ex/SSL_write_ex: the length comes from *readbytes/*written', async () => {
    const marker = `/ex-${process.pid}?size=20000`;
    const result = await traced({ maxDataBytes: 16384 }, (pid) => uretprobes(undefined, pid), marker, { api: 'ex' });
    const own = mine(result.events, result.run.pid);
    const writes = own.filter((e) => e.fn === 'SSL_write_ex');
    assert.equal(writes.length, 1);
    assert.equal(writes[0].ret, 1);
    assert.equal(writes[0].length, result.run.sent.length);
    assert.deepEqual(writes[0].data, result.run.sent);
    const reads = own.filter((e) => e.fn === 'SSL_read_ex');
    assert.ok(reads.filter((e) => e.ret === 1).every((e) => e.length === e.data.length && e.length > 0));
    assert.equal(reads.at(-1)!.ret, 0);
    assert.deepEqual(stream(own, result.run.pid, ['SSL_read_ex']), result.run.received);
    assert.equal(own.filter((e) => e.fn === 'SSL_read' || e.fn === 'SSL_write').length, 0, 'the _ex calls do not go through SSL_read/SSL_write');
    assertBalanced(result.stats);
  });

  test('maxDataBytes truncates: data is the first bytes, length the full count, truncated set', async () => {
    const { run, events, stats } = await traced({ maxDataBytes: 10, comm: COMM }, () => uretprobes(['SSL_write', 'SSL_read']), '/truncate?size=3000');
    const own = mine(events, run.pid);
    const [w] = own.filter((e) => e.fn === 'SSL_write');
    assert.equal(w.length, run.sent.length);
    assert.equal(w.data.length, 10);
    assert.deepEqual(w.data, run.sent.subarray(0, 10));
    assert.equal(w.truncated, true);
    for (const r of own.filter((e) => e.fn === 'SSL_read' && e.length > 0)) {
      assert.equal(r.data.length, Math.min(10, r.length));
      assert.equal(r.truncated, r.length > 10);
    }
    const zero = await traced({ maxDataBytes: 0, comm: COMM }, () => uretprobes(['SSL_write']), '/zero');
    const [z] = mine(zero.events, zero.run.pid);
    assert.equal(z.data.length, 0);
    assert.equal(z.length, zero.run.sent.length);
    assert.equal(z.truncated, true);
    assertBalanced(stats);
  });

  test('16 KiB of data from one large write; reads of up to 16 KiB arrive whole, with user stacks', async () => {
    const body = 20000;
    const c = newClient('/big?size=50000', { body });
    try {
      await c.ready();
      const text = fs
        .readFileSync(`/proc/${c.pid}/maps`, 'utf8')
        .split('\n')
        .filter((line) => line.endsWith(client) && line.split(/\s+/)[1].includes('x'))
        .map((line) => line.split(/\s+/)[0].split('-').map((h) => BigInt(`0x${h}`)));
      assert.equal(text.length, 1, `no single executable mapping of ${client}`);
      const [[start, end]] = text;
      let result: ClientRun | undefined;
      const traced2 = await traceWhile({ maxDataBytes: 16384, pids: [c.pid], captureStacks: true }, async (tracer) => {
        tracer.attach(uretprobes(['SSL_write', 'SSL_read'], c.pid));
        result = await c.go();
      });
      const own = mine(traced2.events, c.pid);
      const [w] = own.filter((e) => e.fn === 'SSL_write');
      assert.equal(w.length, result!.sent.length);
      assert.ok(w.length > 16384);
      assert.equal(w.data.length, 16384);
      assert.equal(w.truncated, true);
      assert.equal(w.readError, false);
      assert.deepEqual(w.data, result!.sent.subarray(0, 16384));
      const reads = own.filter((e) => e.fn === 'SSL_read' && e.length > 0);
      assert.ok(reads.some((e) => e.length === 16384), `read sizes ${reads.map((e) => e.length)}`);
      assert.ok(reads.every((e) => !e.truncated && e.data.length === e.length));
      assert.deepEqual(stream(own, c.pid, ['SSL_read']), result!.received);
      for (const e of own) {
        assert.equal(e.userStackError, 0);
        assert.ok(e.userStack.length >= 1, `${e.fn}: no stack`);
        // A uretprobe reports the return address in the caller: main of tfsslclient.
        assert.ok(e.userStack[0] >= start && e.userStack[0] < end, `${e.fn}: leaf 0x${e.userStack[0].toString(16)} is not in ${client}`);
      }
      assert.equal(traced2.stats.kernelDrops, 0n);
      assertBalanced(traced2.stats);
      console.log(`large: write ${w.length} B (kept ${w.data.length}), ${reads.length} reads (${reads.map((e) => e.length).join(',')}), stacks ${own.map((e) => e.userStack.length).join(',')}`);
    } finally {
      c.kill();
    }
  });

  test('pid filter, setPids while running, comm filter and excludePids', async () => {
    const a = newClient('/a');
    const b = newClient('/b', { binary: other });
    const c = newClient('/c');
    const d = newClient('/d');
    try {
      await Promise.all([a, b, c, d].map((x) => x.ready()));
      const { events, stats } = await traceWhile({ maxDataBytes: 64, pids: [a.pid] }, async (tracer) => {
        tracer.attach(uretprobes(['SSL_write']));
        await a.go();
        await b.go();
        tracer.setPids([b.pid, c.pid], [a.pid]);
        await c.go();
        tracer.setPids([], [c.pid, b.pid]);
        await d.go();
      });
      const pids = new Set(events.map((e) => e.pid));
      assert.deepEqual([...pids].sort(), [a.pid, c.pid].sort(), 'pid filter');
      assert.equal(stats.delivered, 2n);
      assertBalanced(stats);
    } finally {
      for (const x of [a, b, c, d]) x.kill();
    }

    // comm: only tfsslclient, not the same binary named tfsslother; excludePids beats the comm match.
    const e = newClient('/e');
    const f = newClient('/f', { binary: other });
    const g = newClient('/g');
    try {
      await Promise.all([e, f, g].map((x) => x.ready()));
      const { events } = await traceWhile({ maxDataBytes: 64, comm: COMM, excludePids: [g.pid] }, async (tracer) => {
        tracer.attach(uretprobes(['SSL_write']));
        await Promise.all([e.go(), f.go(), g.go()]);
      });
      assert.deepEqual([...new Set(events.map((x) => x.pid))], [e.pid], 'comm filter with excludePids');
      assert.ok(events.every((x) => x.comm === COMM));
    } finally {
      for (const x of [e, f, g]) x.kill();
    }

    // pids OR comm.
    const h = newClient('/h', { binary: other });
    const i = newClient('/i');
    const j = newClient('/j', { binary: other });
    try {
      await Promise.all([h, i, j].map((x) => x.ready()));
      const { events } = await traceWhile({ maxDataBytes: 64, comm: COMM, pids: [h.pid] }, async (tracer) => {
        tracer.attach(uretprobes(['SSL_write']));
        await Promise.all([h.go(), i.go(), j.go()]);
      });
      assert.deepEqual([...new Set(events.map((x) => x.pid))].sort(), [h.pid, i.pid].sort(), 'pids OR comm');
    } finally {
      for (const x of [h, i, j]) x.kill();
    }
  });

  test('detach() while running stops one function; a probe attached with a pid sees only that process', async () => {
    const a = newClient('/a');
    const b = newClient('/b');
    const c = newClient('/c');
    try {
      await Promise.all([a, b, c].map((x) => x.ready()));
      const { events, stats } = await traceWhile({ maxDataBytes: 64, pids: [a.pid, b.pid, c.pid] }, async (tracer) => {
        const [write] = tracer.attach(uretprobes(['SSL_write']));
        const [read] = tracer.attach(uretprobes(['SSL_read'], b.pid));
        await a.go();
        await b.go();
        tracer.detach([write, write, 12345]);
        await c.go();
        tracer.detach([read]);
      });
      assert.deepEqual(
        events.map((e) => `${e.pid === a.pid ? 'a' : e.pid === b.pid ? 'b' : 'c'}:${e.fn}`).filter((x, k, all) => all.indexOf(x) === k),
        ['a:SSL_write', 'b:SSL_write', 'b:SSL_read'],
      );
      assert.ok(events.every((e) => e.attachId === (e.fn === 'SSL_write' ? 1 : 2)));
      assertBalanced(stats);
    } finally {
      for (const x of [a, b, c]) x.kill();
    }
  });

  test('one function attached twice (by its path and through /proc/PID/root) records each call once, the inner hit as nested', async () => {
    const { run, events, stats } = await traced({ maxDataBytes: 4096, comm: COMM }, (pid) => {
      const [direct] = uretprobes(['SSL_write']);
      return [direct, { ...direct, path: `/proc/${pid}/root${LIBSSL}`, pid }];
    }, '/twice');
    const own = mine(events, run.pid);
    assert.equal(own.length, 1, `events ${own.map((e) => e.fn)}`);
    assert.deepEqual(own[0].data, run.sent);
    assert.equal(stats.nested, 1n);
    assert.equal(stats.orphanReturns, 0n);
    assertBalanced(stats);
  });

  test('maxQueuedEvents: 1 drops what JS has not taken and counts it', async () => {
    const { run, events, stats } = await traced({ maxDataBytes: 16384, comm: COMM, maxQueuedEvents: 1 }, () => uretprobes(), '/queue?size=100000');
    assert.ok(mine(events, run.pid).length >= 1);
    assertBalanced(stats);
    console.log(`queue of 1: ${stats.eventsSeen} seen, ${stats.queueDrops} dropped in the queue, ${stats.delivered} delivered`);
  });

  test('a tiny ring buffer drops records too big for it and counts them', async () => {
    const { run, events, stats } = await traced(
      { maxDataBytes: 16384, comm: COMM, ringBufferBytes: 4096 },
      () => uretprobes(['SSL_write', 'SSL_read']),
      '/tiny?size=100',
      { body: 10000 },
    );
    const own = mine(events, run.pid);
    assert.equal(own.filter((e) => e.fn === 'SSL_write').length, 0, 'a 10 KiB record cannot fit a 4 KiB ring');
    assert.ok(own.some((e) => e.fn === 'SSL_read'));
    assert.ok(stats.kernelDrops >= 1n);
    assertBalanced(stats);
    console.log(`tiny ring: ${stats.eventsSeen} seen, ${stats.kernelDrops} dropped in kernel, ${stats.delivered} delivered`);
  });

  test('a missing file or a bad offset fails attach() naming it and leaves nothing attached', async () => {
    const offsets = sslOffsets();
    const c = newClient('/after-failure');
    try {
      await c.ready();
      const before = ownBpfFds();
      const { events, stats } = await traceWhile({ maxDataBytes: 64, pids: [c.pid] }, async (tracer) => {
        const during = links(ownBpfFds());
        assert.throws(
          () => tracer.attach([...uretprobes(['SSL_write', 'SSL_read']), { path: '/nonexistent/libssl.so.3', fn: 'SSL_read_ex', entryOffset: 0x1000n, returnKind: 'uretprobe', returnOffset: 0x1000n }]),
          (err: unknown) =>
            err instanceof Error && err.message.startsWith('attach uretprobe SSL_read_ex return in /nonexistent/libssl.so.3 @0x1000: No such file or directory'),
        );
        assert.equal(links(ownBpfFds()), during, 'the probes attached before the failure stayed attached');
        const beyond = 1n << 32n;
        assert.throws(
          () => tracer.attach([{ path: LIBSSL, fn: 'SSL_write', entryOffset: beyond, returnKind: 'uprobe', returnOffset: offsets.SSL_write }]),
          (err: unknown) => err instanceof Error && err.message.startsWith(`attach uprobe SSL_write entry in ${LIBSSL} @0x100000000: Invalid argument`),
        );
        assert.equal(links(ownBpfFds()), during, 'the return probe of the failed spec stayed attached');
        await c.go();
      });
      assert.equal(events.length, 0);
      assert.equal(stats.eventsSeen, 0n);
      assert.equal(stats.orphanReturns, 0n);
      assert.deepEqual(ownBpfFds(), before);
    } finally {
      c.kill();
    }
  });
});

describe('SslTracer resources and lifecycle', () => {
  const options = (patch: Partial<SslTracerOptions> = {}): SslTracerOptions => ({
    objectPath: sslObject(),
    maxDataBytes: 64,
    pids: [],
    onEvents: () => {},
    ...patch,
  });

  test('detachAsync() takes the probes out off the JS thread; meanwhile attach, detach, stop and close refuse', async () => {
    const before = ownBpfFds();
    const tracer = new SslTracer(options());
    tracer.start();
    const ids = tracer.attach(uretprobes(['SSL_read', 'SSL_write']));
    // uprobe_multi: one link for both uretprobes and one for both entries; perf_event: one per offset.
    assert.equal(links(ownBpfFds()) - links(before), tracer.linkKind === 'uprobe_multi' ? 2 : 4);
    const t0 = Date.now();
    const pending = tracer.detachAsync(ids);
    const busy = /a detachAsync\(\) is still running; await it first/;
    assert.throws(() => tracer.attach(uretprobes(['SSL_read'])), busy);
    assert.throws(() => tracer.detach(ids), busy);
    assert.throws(() => tracer.close(), busy);
    await assert.rejects(async () => tracer.detachAsync(ids), busy);
    let ticks = 0;
    const tick = setInterval(() => ticks++, 10);
    await pending;
    clearInterval(tick);
    console.log(`detachAsync of 2 entry probes and 2 uretprobes: ${Date.now() - t0} ms, the JS thread ran ${ticks} timer ticks meanwhile`);
    assert.equal(links(ownBpfFds()) - links(before), 0, 'every link is gone');
    // Attachments come back as before; ids already gone are ignored.
    const again = tracer.attach(uretprobes(['SSL_read']));
    await tracer.detachAsync([...again, ...ids, 9999]);
    assert.equal(links(ownBpfFds()) - links(before), 0);
    await tracer.stop();
    tracer.close();
    assert.deepEqual(ownBpfFds(), before);
  });

  test('close() after stop() leaves no BPF or perf_event fds', async () => {
    const before = ownBpfFds();
    const tracer = new SslTracer(options());
    tracer.attach(uretprobes(['SSL_read']));
    tracer.start();
    tracer.attach(uretprobes(['SSL_write']));
    const during = ownBpfFds();
    assert.ok((during.get('anon_inode:bpf-prog') ?? 0) >= 2);
    assert.ok((during.get('anon_inode:bpf-map') ?? 0) >= 5);
    assert.ok(links(during) >= 4, `links ${links(during)}`);
    const stats = await tracer.stop();
    assert.equal(stats.delivered, 0n);
    assert.equal(links(ownBpfFds()) - links(before), 0, 'stop() left links');
    tracer.close();
    tracer.close();
    assert.deepEqual(ownBpfFds(), before);
    assert.deepEqual(await tracer.stop(), stats);
  });

  test('close() while running frees everything; stop() then gives the final stats; attach() and setPids() refuse', async () => {
    const before = ownBpfFds();
    const tracer = new SslTracer(options());
    tracer.start();
    tracer.attach(uretprobes(['SSL_read', 'SSL_write']));
    tracer.close();
    assert.deepEqual(ownBpfFds(), before);
    assert.throws(() => tracer.start(), /closed/);
    assert.throws(() => tracer.attach(uretprobes(['SSL_read'])), /SslTracer\.attach\(\): this SslTracer is closed/);
    assert.throws(() => tracer.setPids([1]), /closed/);
    tracer.detach([1]);
    const stats = await tracer.stop();
    assert.equal(typeof stats.eventsSeen, 'bigint');
    assert.deepEqual(tracer.stats(), stats);
  });

  test('stop() before start() detaches what attach() attached; a stopped tracer refuses attach()', async () => {
    const before = ownBpfFds();
    const tracer = new SslTracer(options());
    try {
      tracer.attach(uretprobes(['SSL_read']));
      const first = tracer.stop();
      const second = tracer.stop();
      assert.deepEqual(await first, await second);
      assert.equal(links(ownBpfFds()), links(before));
      assert.throws(() => tracer.attach(uretprobes(['SSL_read'])), /stopped/);
      assert.throws(() => tracer.start(), /already started/);
    } finally {
      tracer.close();
    }
  });

  test('setPids() needs a tracer created with pids', () => {
    const tracer = new SslTracer(options({ pids: undefined, comm: 'nobody' }));
    try {
      assert.throws(() => tracer.setPids([1]), /created without option pids/);
    } finally {
      tracer.close();
    }
  });

  const cases: Array<[string, Record<string, unknown>]> = [
    ['objectPath', { objectPath: '' }],
    ['maxDataBytes', { maxDataBytes: 16385 }],
    ['maxDataBytes', { maxDataBytes: -1 }],
    ['maxDataBytes', { maxDataBytes: undefined }],
    ['maxDataBytes', { maxDataBytes: 1.5 }],
    ['captureStacks', { captureStacks: 'yes' }],
    ['pids', { pids: 5 }],
    ['pids[1]', { pids: [1, 0] }],
    ['pids', { pids: Array.from({ length: 4097 }, (_, k) => k + 1) }],
    ['comm', { comm: '' }],
    ['comm', { comm: 'a-name-of-16-ch!' }],
    ['excludePids', { excludePids: Array.from({ length: 65 }, (_, k) => k + 1) }],
    ['excludePids[0]', { excludePids: [-1] }],
    ['ringBufferBytes', { ringBufferBytes: 5000 }],
    ['maxQueuedEvents', { maxQueuedEvents: 0 }],
    ['onEvents', { onEvents: undefined }],
    ['unknown option pid', { pid: 1 }],
  ];
  for (const [option, patch] of cases) {
    test(`bad ${option} is a TypeError naming it`, () => {
      assert.throws(
        () => new SslTracer(options(patch as Partial<SslTracerOptions>)),
        (err: unknown) => err instanceof TypeError && err.message.includes(option) && err.message.includes('Usage: new SslTracer'),
      );
    });
  }

  test('bad probe specs are TypeErrors naming the field, and attach nothing', () => {
    const before = ownBpfFds();
    const tracer = new SslTracer(options());
    try {
      const [good] = uretprobes(['SSL_read']);
      const specs: Array<[string, unknown]> = [
        ['probes must be an array', good],
        ['probes[1].path', { ...good, path: '' }],
        ['probes[1].fn', { ...good, fn: 'SSL_peek' }],
        ['probes[1].entryOffset', { ...good, entryOffset: 5 }],
        ['probes[1].entryOffset', { ...good, entryOffset: -1n }],
        ['probes[1].returnKind', { ...good, returnKind: 'kretprobe' }],
        ['probes[1].returnOffset', { ...good, returnOffset: undefined }],
        ['probes[1].pid', { ...good, pid: 0 }],
        ['probes[1].pid', { ...good, pid: -2 }],
        ['unknown option probes[1].offset', { ...good, offset: 1n }],
        ['probes[1].moreReturns must be an array', { ...good, returnKind: 'uprobe', moreReturns: 5n }],
        ['probes[1].moreReturns must have at most 64', { ...good, returnKind: 'uprobe', moreReturns: Array.from({ length: 65 }, () => good.returnOffset) }],
        ['probes[1].moreReturns[0]', { ...good, returnKind: 'uprobe', moreReturns: [-1n] }],
        ["probes[1].moreReturns needs returnKind 'uprobe'", { ...good, moreReturns: [good.returnOffset] }],
        ['cannot return through a uretprobe', { ...good, fn: 'crypto/tls.(*Conn).Read' }],
      ];
      for (const [field, spec] of specs) {
        assert.throws(
          () => tracer.attach((field.startsWith('probes must') ? spec : [good, spec]) as SslProbeSpec[]),
          (err: unknown) => err instanceof TypeError && err.message.includes(field) && err.message.includes('Usage: tracer.attach'),
          field,
        );
      }
      assert.equal(links(ownBpfFds()), links(before));
      assert.throws(() => tracer.detach([-1]), (err: unknown) => err instanceof TypeError && /ids\[0\]/.test((err as Error).message));
      assert.throws(() => tracer.setPids([0]), (err: unknown) => err instanceof TypeError && /add\[0\]/.test((err as Error).message));
      assert.throws(() => tracer.setPids([1], [1.5]), (err: unknown) => err instanceof TypeError && /remove\[0\]/.test((err as Error).message));
    } finally {
      tracer.close();
    }
  });

  test('an object without the ssl programs fails at construction, naming what it needs', () => {
    assert.throws(() => new SslTracer(options({ objectPath: sslObject().replace('ssl.bpf.o', 'usdt.bpf.o') })), /usdt\.bpf\.o: not an ssl object/);
  });
});
