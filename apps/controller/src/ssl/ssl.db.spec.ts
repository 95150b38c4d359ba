// ssl-capture storage against a real PostgreSQL (127.0.0.1:5432): ingest through RunsService (limits,
// counters, stacks), the events page (filters, contains, cursors), HTTP summaries from stored rows,
// the report in the job view, and the retention sweep. Creates a throwaway database, applies the
// committed migrations, drops it at the end. PostgreSQL being down is a failure that names it.
//
// The database belongs to the tracefleet role of DATABASE_URL (.env); TRACEFLEET_DB_TEST_ADMIN_URL (default
// postgresql://postgres@127.0.0.1:5432/postgres) only creates and drops it (testing/scratch-db.ts).
import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SslDirection, SslFunction, type SslEvent, type SslEventBatch } from '@tracefleet/proto';
import type { ControllerEnv } from '../config/env';
import { PrismaService } from '../prisma/prisma.service';
import { ProfilesService } from '../profiles/profiles.service';
import { RunsService } from '../runs/runs.service';
import { toJobView } from '../jobs/job.view';
import { SslReadService } from './ssl-read.service';
import { sweepExpired } from './ssl-retention.service';
import { parseHttpQuery, parsePageQuery } from './ssl-query';
import { scratchDb, type ScratchDb } from '../testing/scratch-db';
import { ingestServices } from '../testing/ingest-services';

const DB = 'tracefleet_ssl_test';
let db: ScratchDb;

let prisma: PrismaService;
let runs: RunsService;
let read: SslReadService;
let nodeId: string;
let jobId: string;
let runId: string;
let seq = 0n;

const BASE_TS = 5_000_000_000n;
function ev(over: Partial<SslEvent> & { text?: string }): SslEvent {
  const { text, ...rest } = over;
  const data = Buffer.from(text ?? '', 'utf8');
  return {
    pid: 100,
    tid: 101,
    comm: 'curl',
    function: SslFunction.SSL_FUNCTION_WRITE,
    direction: SslDirection.SSL_DIRECTION_WRITE,
    ret: BigInt(data.length),
    length: BigInt(data.length),
    latencyNs: 1000n,
    sslPtr: 0x55550000n,
    tsNs: BASE_TS,
    atUnixNs: 1_767_225_600_123_456_789n, // 2026-01-01T00:00:00.123456789Z
    data,
    truncated: false,
    redactions: 0,
    stack: [],
    binary: '/usr/lib/x86_64-linux-gnu/libssl.so.3',
    ...rest,
  };
}

async function send(events: SslEvent[], strings: string[] = []): Promise<void> {
  const batch: SslEventBatch = { runId, seq: ++seq, strings, events, origins: [] };
  await runs.onResult(nodeId, 'sslEvents', batch);
}

describe('ssl-capture storage (PostgreSQL)', { timeout: 180_000 }, () => {
  before(async () => {
    db = await scratchDb(DB);
    prisma = db.prisma;
    const profiles = new ProfilesService(prisma);
    runs = ingestServices(prisma, profiles).runs;
    read = new SslReadService(prisma);
    const node = await prisma.node.create({ data: { name: 'n1', kernelRelease: '6.1', btf: true, protocolVersion: 1, capabilities: ['ssl-capture'], agentVersion: 't' } });
    nodeId = node.id;
    const job = await prisma.job.create({
      data: {
        type: 'ssl_capture',
        durationSec: 10,
        status: 'running',
        params: { type: 'ssl-capture', maxEvents: 8, maxTotalBytes: 600, maxDataBytes: 200, userStacks: true, retentionHours: 2, target: { all: true } },
        runs: { create: [{ nodeId, status: 'running' }] },
      },
      include: { runs: true },
    });
    jobId = job.id;
    runId = job.runs[0].id;
  });

  after(async () => {
    await db?.drop();
  });

  it('stores events with wall time, expiry and stacks, within the job limits', async () => {
    const t = (n: number): bigint => BASE_TS + BigInt(n) * 1000n;
    await send(
      [
        ev({ tsNs: t(1), text: 'GET /a?q=50%_off HTTP/1.1\r\nHost: api.example\r\nAuthorization: [REDACTED]\r\n\r\n', redactions: 1, stack: [0, 1] }),
        ev({ tsNs: t(2), direction: SslDirection.SSL_DIRECTION_READ, function: SslFunction.SSL_FUNCTION_READ, text: 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhé!' }),
        ev({ tsNs: t(3), direction: SslDirection.SSL_DIRECTION_UNSPECIFIED, function: SslFunction.SSL_FUNCTION_DO_HANDSHAKE, ret: 1n }),
        // 250 bytes: over maxDataBytes (200), cut and counted.
        ev({ tsNs: t(4), pid: 200, sslPtr: 0x77770000n, text: 'x'.repeat(250) }),
        // Neither direction nor function: malformed, refused.
        ev({ tsNs: t(5), direction: SslDirection.SSL_DIRECTION_UNSPECIFIED, function: SslFunction.SSL_FUNCTION_UNSPECIFIED }),
        // A stack naming a string the batch does not have: stored without a stack.
        ev({ tsNs: t(6), pid: 200, sslPtr: 0x77770000n, text: 'tail', stack: [9] }),
      ],
      ['main', 'do_request'],
    );
    const rows = await prisma.sslEvent.findMany({ where: { jobId }, orderBy: { id: 'asc' } });
    assert.equal(rows.length, 5);
    assert.deepEqual(rows.map((r) => r.direction), ['write', 'read', 'handshake', 'write', 'write']);
    assert.equal(rows[2].function, 'SSL_do_handshake');
    assert.equal(rows[0].sslPtr, '0x55550000');
    assert.equal(rows[0].at.toISOString(), '2026-01-01T00:00:00.123Z');
    assert.equal(Buffer.from(rows[3].data).length, 200);
    assert.equal(rows[3].truncated, true);
    assert.equal(rows[0].redactions, 1);
    assert.ok(rows[0].stackId !== null && rows[4].stackId === null);
    const job = await prisma.job.findUniqueOrThrow({ where: { id: jobId } });
    assert.equal(rows[0].expiresAt.getTime(), job.createdAt.getTime() + 2 * 3600_000);
    const run = await prisma.jobRun.findUniqueOrThrow({ where: { id: runId } });
    assert.equal(run.samplesReceived, 5n);
    assert.equal(run.eventsRefused, 1n);
    assert.equal(run.sslBytesRefused, 50n);
    const stored = rows.reduce((a, r) => a + r.data.length, 0);
    assert.equal(run.sslBytesStored, BigInt(stored));
    // userStacks: the stack also went into the run's flame graph, under the function name.
    const stacks = await new ProfilesService(prisma).stacks(jobId);
    assert.deepEqual(stacks.map((s) => s.frames), [['SSL_write', 'main', 'do_request']]);
  });

  it('refuses what an agent sends past maxEvents and maxTotalBytes, and counts it', async () => {
    const before = await prisma.jobRun.findUniqueOrThrow({ where: { id: runId } });
    const left = 600 - Number(before.sslBytesStored);
    // 3 more fit under maxEvents=8; the bytes run out first.
    await send([0, 1, 2, 3, 4].map((i) => ev({ tsNs: BASE_TS + 100_000n + BigInt(i), pid: 300, text: 'y'.repeat(150) })));
    const run = await prisma.jobRun.findUniqueOrThrow({ where: { id: runId } });
    assert.equal(run.samplesReceived, 8n);
    assert.equal(run.eventsRefused, 1n + 2n);
    assert.equal(run.sslBytesStored, 600n);
    assert.equal(run.sslBytesRefused, 50n + BigInt(5 * 150 - left));
    assert.equal(run.batchesReceived, 2);
    assert.equal(run.seqGaps, 0);
  });

  it('pages events with filters, contains and cursors', async () => {
    const all = await read.events(jobId, parsePageQuery({}));
    assert.equal(all.events.length, 8);
    assert.equal(all.nextCursor, null);
    const first = all.events[0];
    assert.equal(first.node, 'n1');
    assert.equal(first.function, 'SSL_write');
    assert.deepEqual(first.stack, ['main', 'do_request']);
    assert.match(first.text, /^GET \/a\?q=50%_off HTTP\/1.1\r\nHost: api.example/);
    assert.equal(Buffer.from(first.dataBase64, 'base64').toString(), first.text);
    assert.equal(first.at, '2026-01-01T00:00:00.123Z');

    const ids = (p: { events: { id: string }[] }): string[] => p.events.map((e) => e.id);
    const reads = await read.events(jobId, parsePageQuery({ direction: 'read' }));
    assert.equal(reads.events.length, 1);
    assert.equal((await read.events(jobId, parsePageQuery({ pid: '200' }))).events.length, 2);
    assert.equal((await read.events(jobId, parsePageQuery({ node: 'other' }))).events.length, 0);
    // contains: bytes, no LIKE wildcards: "%_" matches only itself; UTF-8 is matched as bytes.
    assert.deepEqual(ids(await read.events(jobId, parsePageQuery({ contains: '50%_off' }))), [first.id]);
    assert.deepEqual(ids(await read.events(jobId, parsePageQuery({ contains: '%' }))), [first.id]);
    assert.deepEqual(ids(await read.events(jobId, parsePageQuery({ contains: 'hé!' }))), ids(reads));
    assert.equal((await read.events(jobId, parsePageQuery({ contains: "'; DROP TABLE x; --" }))).events.length, 0);

    const p1 = await read.events(jobId, parsePageQuery({ limit: '3' }));
    const p2 = await read.events(jobId, parsePageQuery({ limit: '3', after: p1.nextCursor! }));
    const p3 = await read.events(jobId, parsePageQuery({ limit: '3', after: p2.nextCursor! }));
    assert.deepEqual([...ids(p1), ...ids(p2), ...ids(p3)], ids(all));
    assert.equal(p3.nextCursor, null);
    const n1 = await read.events(jobId, parsePageQuery({ limit: '5', order: 'newest' }));
    const n2 = await read.events(jobId, parsePageQuery({ limit: '5', order: 'newest', before: n1.nextCursor! }));
    assert.deepEqual([...ids(n1), ...ids(n2)], ids(all).reverse());
  });

  it('summarizes HTTP per connection from stored rows', async () => {
    const h = await read.http(jobId, parseHttpQuery({}));
    assert.equal(h.connections.length, 3);
    const c = h.connections[0];
    assert.equal(c.node, 'n1');
    assert.equal(c.pid, 100);
    assert.equal(c.sslPtr, '0x55550000');
    assert.equal(c.protocol, 'http/1.1');
    if (c.protocol !== 'http/1.1') return;
    assert.equal(c.role, 'client');
    assert.equal(c.exchanges[0].method, 'GET');
    assert.equal(c.exchanges[0].status, 200);
    assert.equal(c.exchanges[0].request?.headers.authorization, '[REDACTED]');
    assert.equal(c.exchanges[0].latencyNs, '1000');
    assert.equal(h.connections[1].protocol, 'unknown');
    const page = await read.http(jobId, parseHttpQuery({ limit: '1' }));
    assert.equal(page.connections.length, 1);
    const rest = await read.http(jobId, parseHttpQuery({ after: page.nextCursor! }));
    assert.deepEqual(rest.connections.map((x) => x.pid), [200, 300]);
    assert.equal(rest.nextCursor, null);
    assert.equal((await read.http(jobId, parseHttpQuery({ pid: '200' }))).connections.length, 1);
  });

  it('shows the report and the controller counters in the job view', async () => {
    runs.onResult(nodeId, 'sslReport', {
      runId,
      eventsSeen: 20n,
      eventsSent: 11n,
      droppedKernel: 1n,
      droppedAgent: 2n,
      overBudget: 5n,
      bytesOverBudget: 100n,
      truncatedEvents: 3n,
      redactions: 4n,
      orphanReturns: 1n,
      readErrors: 0n,
      attached: ['SSL_read in /usr/lib/x86_64-linux-gnu/libssl.so.3'],
      noOpenssl: ['pid 7 (sleep): no libssl.so.* mapped'],
    });
    runs.onFinished(nodeId, { runId, ok: true, reason: '', targetExited: false, samplesTaken: 0n, samplesDroppedKernel: 0n, samplesDroppedAgent: 0n, samplesSent: 11n, lastSeq: seq, batchesSpooled: 0n, batchesOverflowed: 0n });
    await runs.settled(runId);
    const job = await prisma.job.findUniqueOrThrow({ where: { id: jobId }, include: { runs: { include: { node: { select: { name: true } } } } } });
    const view = toJobView(job);
    assert.equal(view.type, 'ssl-capture');
    assert.equal(view.status, 'completed');
    const r = view.runs[0];
    assert.equal(r.samplesTaken, 20, 'RunFinished zeros do not erase the report');
    assert.equal(r.samplesStored, 8);
    assert.equal(r.samplesLostTransit, 11 - 8 - 3, 'refused events arrived: not lost in transit');
    assert.deepEqual(r.ssl, {
      eventsSeen: 20,
      eventsSent: 11,
      eventsStored: 8,
      droppedKernel: 1,
      droppedAgent: 2,
      overBudget: 5,
      bytesOverBudget: 100,
      truncatedEvents: 3,
      redactions: 4,
      orphanReturns: 1,
      readErrors: 0,
      // An agent from before the content filter sends neither.
      filteredCalls: 0,
      skippedCalls: 0,
      noSocketCalls: 0,
      noOpenssl: ['pid 7 (sleep): no libssl.so.* mapped'],
      attached: ['SSL_read in /usr/lib/x86_64-linux-gnu/libssl.so.3'],
      bytesStored: 600,
      refusedByController: { events: 3, bytes: r.ssl!.refusedByController.bytes },
      reported: true,
    });
    assert.equal(view.sslTotals?.eventsStored, 8);
    assert.equal(view.links.http, `/api/v1/jobs/${jobId}/http`);
  });

  it('retention: expired events are not served, and the sweep deletes them in batches', async () => {
    const other = await prisma.job.create({ data: { type: 'ssl_capture', durationSec: 1, params: {}, status: 'completed' } });
    const keep = await prisma.sslEvent.count({ where: { jobId } });
    await prisma.$executeRaw`
      INSERT INTO "SslEvent" ("jobId", "runId", "nodeName", "pid", "tid", "comm", "function", "direction", "ret", "length", "latencyNs", "sslPtr", "tsNs", "at", "data", "binary", "expiresAt")
      SELECT ${other.id}::uuid, ${runId}::uuid, 'n1', 1, 1, 'c', 'SSL_read', 'read', 1, 1, 1, '0x1', g, now(), '\\x41', '/l', now() - interval '1 hour'
      FROM generate_series(1, 25) g`;
    assert.equal((await read.events(other.id, parsePageQuery({}))).events.length, 0, 'expired rows are not served before the sweep');
    assert.deepEqual(await sweepExpired(prisma, 10, 100), { deleted: 25, batches: 3, more: false });
    assert.equal(await prisma.sslEvent.count({ where: { jobId: other.id } }), 0);
    assert.equal(await prisma.sslEvent.count({ where: { jobId } }), keep, 'unexpired rows stay');
    await prisma.sslEvent.updateMany({ where: { jobId }, data: { expiresAt: new Date(Date.now() - 1000) } });
    assert.equal((await sweepExpired(prisma)).deleted, keep);
    assert.equal(await prisma.sslEvent.count(), 0);
  });

  it('headers-only jobs: skipped bytes and calls stored (bounded), shown, counted into HTTP bodies; the report\'s new counters', async () => {
    const job = await prisma.job.create({
      data: {
        type: 'ssl_capture',
        durationSec: 10,
        status: 'running',
        params: { type: 'ssl-capture', mode: 'headers', maxEvents: 100, maxTotalBytes: 100_000, maxDataBytes: 1024, userStacks: false, retentionHours: 2, target: { all: true } },
        runs: { create: [{ nodeId, status: 'running' }] },
      },
      include: { runs: true },
    });
    const run = job.runs[0].id;
    const t = (n: number): bigint => BASE_TS + BigInt(n) * 1000n;
    const read = { direction: SslDirection.SSL_DIRECTION_READ, function: SslFunction.SSL_FUNCTION_READ };
    const head = 'HTTP/1.1 200 OK\r\nContent-Length: 65536\r\n\r\n';
    const grown = 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\nX-Api-Key: [REDACTED]\r\n\r\n';
    const events = [
      ev({ tsNs: t(1), text: 'GET /big HTTP/1.1\r\nHost: h\r\n\r\n' }),
      { ...ev({ tsNs: t(2), ...read, text: head }), length: BigInt(head.length + 1000), truncated: true },
      ev({ tsNs: t(3), text: 'GET /next HTTP/1.1\r\nHost: h\r\n\r\n' }),
      ev({ tsNs: t(4), ...read, text: 'HTTP/1.1 204 No Content\r\n\r\n', skippedBytes: 64_536n, skippedCalls: 4 }),
      // Past what the columns and the views hold: kept at their bounds, the batch not refused.
      ev({ tsNs: t(5), pid: 400, text: 'GET / HTTP/1.1\r\n\r\n', skippedBytes: (1n << 64n) - 1n, skippedCalls: 2 ** 32 - 1 }),
      // Redaction made this head 10 bytes longer; the job's mode lets the next kept head end its body.
      ev({ tsNs: t(6), pid: 500, text: 'GET /a HTTP/1.1\r\n\r\n' }),
      { ...ev({ tsNs: t(7), pid: 500, ...read, text: grown }), length: BigInt(grown.length - 10 + 100), truncated: true },
      ev({ tsNs: t(8), pid: 500, text: 'GET /b HTTP/1.1\r\n\r\n' }),
      ev({ tsNs: t(9), pid: 500, ...read, text: 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n' }),
    ];
    await runs.onResult(nodeId, 'sslEvents', { runId: run, seq: 1n, strings: [], events, origins: [] } satisfies SslEventBatch);
    const rows = await prisma.sslEvent.findMany({ where: { jobId: job.id }, orderBy: { id: 'asc' } });
    assert.deepEqual(
      rows.map((r) => [r.skippedBytes, r.skippedCalls]),
      [
        [0n, 0],
        [0n, 0],
        [0n, 0],
        [64_536n, 4],
        [BigInt(Number.MAX_SAFE_INTEGER), 2 ** 31 - 1],
        [0n, 0],
        [0n, 0],
        [0n, 0],
        [0n, 0],
      ],
    );
    const page = await new SslReadService(prisma).events(job.id, parsePageQuery({}));
    assert.equal('skippedBytes' in page.events[0] || 'skippedCalls' in page.events[0], false, 'absent when 0');
    assert.deepEqual([page.events[3].skippedBytes, page.events[3].skippedCalls], [64_536, 4]);
    assert.deepEqual([page.events[4].skippedBytes, page.events[4].skippedCalls], [Number.MAX_SAFE_INTEGER, 2 ** 31 - 1]);

    const h = await new SslReadService(prisma).http(job.id, parseHttpQuery({ pid: '100' }));
    const c = h.connections[0];
    assert.equal(c.protocol, 'http/1.1');
    if (c.protocol !== 'http/1.1') return;
    assert.deepEqual(c.exchanges.map((x) => [x.path, x.status, x.complete]), [
      ['/big', 200, true],
      ['/next', 204, true],
    ]);
    assert.deepEqual(c.exchanges[0].response?.body, { framing: 'content-length', bytes: 65536, complete: true });
    assert.deepEqual(c.notes, ['headers-only capture: 4 calls, 64536 bytes of bodies were not captured']);
    const g = (await new SslReadService(prisma).http(job.id, parseHttpQuery({ pid: '500' }))).connections[0];
    assert.ok(g.protocol === 'http/1.1');
    assert.deepEqual(g.exchanges.map((x) => [x.path, x.status, x.complete]), [
      ['/a', 200, true],
      ['/b', 404, true],
    ]);

    await runs.onResult(nodeId, 'sslReport', {
      runId: run,
      eventsSeen: 9n,
      eventsSent: 5n,
      droppedKernel: 0n,
      droppedAgent: 0n,
      overBudget: 0n,
      bytesOverBudget: 0n,
      truncatedEvents: 1n,
      redactions: 0n,
      orphanReturns: 0n,
      readErrors: 0n,
      attached: [],
      noOpenssl: [],
      filteredCalls: 70n,
      skippedCalls: (1n << 64n) - 1n,
    });
    await runs.settled(run);
    const stored = await prisma.job.findUniqueOrThrow({ where: { id: job.id }, include: { runs: { include: { node: { select: { name: true } } } } } });
    const view = toJobView(stored);
    assert.equal(view.runs[0].ssl?.filteredCalls, 70);
    assert.equal(view.runs[0].ssl?.skippedCalls, Number.MAX_SAFE_INTEGER);
    assert.equal(view.sslTotals?.filteredCalls, 70);
    assert.deepEqual((view.params as { mode?: string }).mode, 'headers');
  });
});
