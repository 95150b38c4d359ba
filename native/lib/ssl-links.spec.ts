// How SslTracer links its uprobes: uprobe_multi links (one per file, program and probe kind of an attach()
// call) where the kernel has them, perf-event uprobes one per offset with perOffsetLinks. Both must record the
// same calls; a partial detach of one attach() call's ids must keep the others recording under their ids;
// a failing link must leave nothing attached.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { type SslProbeSpec, type SslRawEvent } from './index';
import { type Client, LIBSSL, returnPathSites, sslOffsets, stream, traceWhile, useTlsFixture } from './ssl-spec-support';
import { ownBpfFds } from './usdt-spec-support';

const linkFds = (m: Map<string, number>): number =>
  (m.get('anon_inode:bpf_link') ?? 0) + (m.get('anon_inode:bpf-link') ?? 0) + (m.get('anon_inode:[perf_event]') ?? 0);

/** Plain uprobe pairs on SSL_read and SSL_write (emulated sites), and uretprobe pairs on the _ex variants. */
function fourFunctions(pid?: number): SslProbeSpec[] {
  const offsets = sslOffsets();
  const read = returnPathSites(LIBSSL, offsets.SSL_read);
  const write = returnPathSites(LIBSSL, offsets.SSL_write);
  return [
    { path: LIBSSL, fn: 'SSL_read', entryOffset: read.entry, returnKind: 'uprobe', returnOffset: read.ret, pid },
    { path: LIBSSL, fn: 'SSL_write', entryOffset: write.entry, returnKind: 'uprobe', returnOffset: write.ret, pid },
    { path: LIBSSL, fn: 'SSL_read_ex', entryOffset: offsets.SSL_read_ex, returnKind: 'uretprobe', returnOffset: offsets.SSL_read_ex, pid },
    { path: LIBSSL, fn: 'SSL_write_ex', entryOffset: offsets.SSL_write_ex, returnKind: 'uretprobe', returnOffset: offsets.SSL_write_ex, pid },
  ];
}

describe('SslTracer uprobe links', () => {
  const fx = useTlsFixture('ssl-links');
  const newClient = (urlPath: string, api: 'plain' | 'ex' = 'plain'): Client => fx.newClient(urlPath, { api });

  test('this kernel makes uprobe_multi links; perOffsetLinks makes perf-event ones', async () => {
    await traceWhile({ maxDataBytes: 64, pids: [] }, async (tracer) => {
      assert.equal(tracer.linkKind, 'uprobe_multi', 'Linux 6.6+ has uprobe_multi links: the probe of the kernel found none');
    });
    await traceWhile({ maxDataBytes: 64, pids: [], perOffsetLinks: true }, async (tracer) => {
      assert.equal(tracer.linkKind, 'perf_event');
    });
  });

  for (const perOffsetLinks of [false, true]) {
    test(`${perOffsetLinks ? 'perf-event' : 'uprobe_multi'} links: plain and uretprobe pairs in one attach() record every call, with the link count expected`, async () => {
      const marker = `/links-${perOffsetLinks}-${process.pid}-${Date.now()}?size=20000`;
      const plain = newClient(marker);
      const ex = newClient(`${marker}-ex`, 'ex');
      try {
        await Promise.all([plain.ready(), ex.ready()]);
        const before = ownBpfFds();
        const runs: { pid: number; sent: Buffer; received: Buffer }[] = [];
        const { events, stats } = await traceWhile({ maxDataBytes: 16384, pids: [plain.pid, ex.pid], perOffsetLinks }, async (tracer) => {
          const ids = tracer.attach(fourFunctions());
          assert.equal(ids.length, 4);
          // uprobe_multi: a link of the plain return sites, one of the uretprobes, one of the entries;
          // perf_event: one per offset (4 entries, 2 return sites, 2 uretprobes), each a link fd and a perf_event fd.
          assert.equal(linkFds(ownBpfFds()) - linkFds(before), perOffsetLinks ? 16 : 3);
          runs.push(await plain.go(), await ex.go());
        });
        assert.equal(stats.orphanReturns, 0n);
        const [p, x] = runs;
        assert.deepEqual(stream(events, p.pid, ['SSL_write']), p.sent);
        assert.deepEqual(stream(events, p.pid, ['SSL_read']), p.received);
        assert.deepEqual(stream(events, x.pid, ['SSL_write_ex']), x.sent);
        assert.deepEqual(stream(events, x.pid, ['SSL_read_ex']), x.received);
        const ids = new Map<string, Set<number>>();
        for (const e of events) ids.set(e.fn, (ids.get(e.fn) ?? new Set()).add(e.attachId));
        assert.deepEqual([...ids.values()].map((s) => s.size), [...ids.keys()].map(() => 1), 'one attach id per function');
        assert.equal(new Set([...ids.values()].map((s) => [...s][0])).size, ids.size, 'each function its own id');
        assert.deepEqual(ownBpfFds(), before);
      } finally {
        plain.kill();
        ex.kill();
      }
    });
  }

  test('detaching some ids of one attach() call keeps the others recording under their ids', async () => {
    const a = newClient('/partial-a');
    const b = newClient('/partial-b');
    try {
      await Promise.all([a.ready(), b.ready()]);
      const events: SslRawEvent[] = [];
      let ids: number[] = [];
      const result = await traceWhile({ maxDataBytes: 64, pids: [a.pid, b.pid] }, async (tracer) => {
        ids = tracer.attach(fourFunctions());
        await a.go();
        const [, write] = ids;
        const t0 = Date.now();
        tracer.detach([write, 4242]);
        console.log(`detach of one of four functions attached together (the other three attached again): ${Date.now() - t0} ms`);
        await b.go();
      });
      events.push(...result.events);
      const [read, write] = ids;
      const fnsOf = (pid: number): string[] => [...new Set(events.filter((e) => e.pid === pid).map((e) => `${e.fn}#${e.attachId}`))].sort();
      assert.deepEqual(fnsOf(a.pid), [`SSL_read#${read}`, `SSL_write#${write}`]);
      assert.deepEqual(fnsOf(b.pid), [`SSL_read#${read}`], 'after the detach only SSL_read, under its first id');
    } finally {
      a.kill();
      b.kill();
    }
  });

  test('a link that fails names every offset it held and leaves nothing of the call attached', async () => {
    const offsets = sslOffsets();
    const before = ownBpfFds();
    await traceWhile({ maxDataBytes: 64, pids: [] }, async (tracer) => {
      const kept = tracer.attach(fourFunctions().slice(0, 1));
      const during = linkFds(ownBpfFds());
      const beyond = 1n << 40n;
      assert.throws(
        () =>
          tracer.attach([
            { path: LIBSSL, fn: 'SSL_write', entryOffset: offsets.SSL_write, returnKind: 'uretprobe', returnOffset: offsets.SSL_write },
            { path: LIBSSL, fn: 'SSL_read', entryOffset: beyond, returnKind: 'uretprobe', returnOffset: offsets.SSL_read },
          ]),
        (err: unknown) =>
          err instanceof Error &&
          err.message.startsWith(`attach uprobe link (SSL_write entry @0x${offsets.SSL_write.toString(16)}, SSL_read entry @0x10000000000) in ${LIBSSL}: Invalid argument`),
      );
      assert.equal(linkFds(ownBpfFds()), during, 'the uretprobe link made before the failure was closed');
      tracer.detach(kept);
    });
    assert.deepEqual(ownBpfFds(), before);
  });
});
