// Streamed profile reads against a real PostgreSQL (127.0.0.1:5432): a cpu-profile job of 2,000 runs ×
// 50 shared stacks (+ one stack of its own per node, + hostile frame names), written by SQL, served
// through real HTTP responses. The outputs must be byte for byte those of the whole-list code
// (ProfilesService.stacks / stacksByNode with toFolded, renderFlameGraphSvg, encodePprof, toSpeedscope),
// and a client that goes away mid-response must leave no connection or read slot held.
import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { get } from 'node:http';
import { gunzipSync } from 'node:zlib';
import type { Response } from 'express';
import type { ControllerEnv } from '../config/env';
import type { PrismaService } from '../prisma/prisma.service';
import { ProfilesService } from './profiles.service';
import { ProfileReader } from './profile-reader';
import { ProfileStreamsService } from '../jobs/profile-streams.service';
import type { JobsService } from '../jobs/jobs.service';
import { toJobView } from '../jobs/job.view';
import { renderFlameGraphSvg, toFolded } from './flamegraph/flamegraph';
import { encodePprof } from './pprof/pprof';
import { decodePprof } from './pprof/pprof-decode';
import { toSpeedscope } from './speedscope/speedscope';
import { TooManyPathsError } from './stack-trie';
import { scratchDb, type ScratchDb } from '../testing/scratch-db';
import { seedFleetProfile, type SeededJob } from '../testing/fleet-profile-seed';
import { ReadServer, settled as settledReads, type Fetched } from '../testing/read-server';

const DB = 'tracefleet_reads_test';
// Frame names as ingest stores them: NUL arrives as U+FFFD (common/sanitize.ts); ';' and line breaks stay.
const HOSTILE = [
  ['main', 'evil;semi', 'new\nline'],
  ['main', 'nul\uFFFDx', 'trail  '],
  ['main', 'evil:semi', 'new line'],
];

let db: ScratchDb;
let prisma: PrismaService;
let reader: ProfileReader;
let streams: ProfileStreamsService;
let profiles: ProfilesService;
let seed: SeededJob;
let http: ReadServer;
const serve = (work: (res: Response) => Promise<void>): Promise<Fetched> => http.serve(work);
const settled = (): Promise<void> => settledReads(reader);

describe('streamed profile reads (PostgreSQL)', { timeout: 600_000 }, () => {
  before(async () => {
    db = await scratchDb(DB);
    prisma = db.prisma;
    reader = new ProfileReader(prisma, { databaseUrl: db.url } as ControllerEnv);
    reader.caps.chunk = 700; // many round trips per read
    const jobs = {
      get: async (id: string) => toJobView(await prisma.job.findUniqueOrThrow({ where: { id }, include: { runs: { include: { node: { select: { name: true } } } } } })),
    } as unknown as JobsService;
    streams = new ProfileStreamsService(reader, jobs);
    profiles = new ProfilesService(prisma);
    seed = await seedFleetProfile(reader.pool, { nodes: 2000, shared: 50, depth: 12, distinct: 1, prefix: 'rd', extra: HOSTILE });
    http = await ReadServer.start();
  });

  after(async () => {
    http?.close();
    await reader?.onModuleDestroy();
    await db?.drop();
  });

  it('serves the merged folded text of 2,000 nodes as the sum of their stacks, hostile names escaped as before', async () => {
    assert.equal(seed.rows, 2000 * 54);
    const res = await serve((r) => streams.folded(r, seed.jobId, undefined, {}, undefined));
    assert.equal(res.status, 200);
    const text = res.body.toString('utf8');
    assert.equal(text, toFolded(seed.merged), 'the sum over nodes');
    assert.equal(text, toFolded(await profiles.stacks(seed.jobId)), 'what the whole-list read makes');
    // 'evil;semi' and 'evil:semi' merge once made safe, as toFolded always merged them.
    assert.match(text, /^main;evil:semi;new line 4000$/m);
    assert.match(text, /^main;nul\uFFFDx;trail 2000$/m);
    const one = await serve((r) => streams.folded(r, seed.jobId, seed.nodeNames[7], {}, undefined));
    assert.equal(one.body.toString('utf8'), toFolded(await profiles.stacks(seed.jobId, seed.nodeNames[7])));
  });

  it('serves the flame graph the whole-list code made', async () => {
    const res = await serve(async (r) => streams.svg(r, await streamsJob(), undefined, {}, undefined));
    assert.equal(res.status, 200);
    const job = await streamsJob();
    const stacks = await profiles.stacks(seed.jobId);
    const total = stacks.reduce((a, s) => a + BigInt(s.count), 0n);
    const want = renderFlameGraphSvg(stacks, {
      title: `CPU profile · job ${seed.jobId.slice(0, 8)}`,
      subtitle: `${job.runs.length} nodes · ${total.toLocaleString('en-US')} samples · 99 Hz · 10 s · completed`,
    });
    // The cpu-profile type may title its graph itself: compare what does not depend on the title.
    const body = res.body.toString('utf8');
    const frames = (svg: string): string => svg.slice(svg.indexOf('<g id="fg-frames">'));
    assert.equal(frames(body), frames(want));
  });

  it('writes pprof node by node: every node, byte for byte the whole-list encoding', async () => {
    const res = await serve((r) => streams.pprof(r, seed.jobId, undefined, {}));
    assert.equal(res.status, 200);
    const bytes = gunzipSync(res.body);
    const p = decodePprof(bytes);
    const nodes = new Set(p.samples.map((s) => s.labels.find((l) => l.key === 'node')?.str));
    assert.deepEqual([...nodes].sort(), [...seed.nodeNames].sort());
    const job = await prisma.job.findUniqueOrThrow({ where: { id: seed.jobId } });
    const byNode = await profiles.stacksByNode(seed.jobId);
    const want = encodePprof({
      nodes: byNode,
      frequencyHz: 99,
      timeNanos: BigInt(job.startedAt!.getTime()) * 1_000_000n,
      durationNanos: BigInt(job.finishedAt!.getTime() - job.startedAt!.getTime()) * 1_000_000n,
      comments: [`tracefleet cpu-profile job ${seed.jobId} (completed)`, `nodes: ${byNode.map((n) => n.node).join(', ')}`],
    });
    assert.ok(Buffer.from(want).equals(bytes), 'same protobuf bytes');
  });

  it('writes speedscope in two passes of one snapshot, byte for byte toSpeedscope', async () => {
    const res = await serve((r) => streams.speedscope(r, seed.jobId, undefined, {}));
    assert.equal(res.status, 200);
    const want = toSpeedscope({ name: `tracefleet cpu-profile ${seed.jobId.slice(0, 8)} · 99 Hz`, nodes: await profiles.stacksByNode(seed.jobId), merged: true, unit: 'none' });
    assert.equal(res.body.toString('utf8'), JSON.stringify(want));
    const one = await serve((r) => streams.speedscope(r, seed.jobId, seed.nodeNames[3], {}));
    const wantOne = toSpeedscope({ name: `tracefleet cpu-profile ${seed.jobId.slice(0, 8)} · 99 Hz`, nodes: await profiles.stacksByNode(seed.jobId, seed.nodeNames[3]), merged: false, unit: 'none' });
    assert.equal(one.body.toString('utf8'), JSON.stringify(wantOne));
  });

  it('groups and filters by origin as the whole-list read did (?groupBy=, ?container=, ?cgroup=)', async () => {
    const small = await seedFleetProfile(reader.pool, { nodes: 40, shared: 10, depth: 6, distinct: 1, prefix: 'og' });
    const a = 'a'.repeat(64);
    const b = 'b'.repeat(64);
    const o = await reader.pool.query<{ id: number }>(
      `INSERT INTO "Origin" ("key", "cgroup", "containerId", "podUid") VALUES ('og-a', '/docker/' || $1::text, $1::text, NULL), ('og-b', '/kubepods/pod/' || $2::text, $2::text, '0f0f0f0f-0000-4000-8000-000000000001') RETURNING "id"`,
      [a, b],
    );
    // Nodes 0-9 ran in container a, 10-19 in b, the rest: origin not known.
    await reader.pool.query(
      `UPDATE "ProfileSample" ps SET "originId" = CASE WHEN n."name" < 'og-00010' THEN $1::int ELSE $2::int END
       FROM "Profile" p JOIN "JobRun" r ON r."id" = p."runId" JOIN "Node" n ON n."id" = r."nodeId"
       WHERE ps."profileId" = p."id" AND p."jobId" = $3::uuid AND n."name" < 'og-00020'`,
      [o.rows[0].id, o.rows[1].id, small.jobId],
    );
    const cases: [Parameters<ProfilesService['stacks']>[2], Parameters<ProfilesService['stacks']>[3]][] = [
      [{}, 'container'],
      [{}, 'pod'],
      [{}, 'cgroup'],
      [{ container: 'aaaa' }, undefined],
      [{ cgroup: '/kubepods' }, 'cgroup'],
      [{ container: 'cccc' }, undefined],
    ];
    for (const [filter, groupBy] of cases) {
      const res = await serve((r) => streams.folded(r, small.jobId, undefined, filter ?? {}, groupBy));
      assert.equal(res.body.toString('utf8'), toFolded(await profiles.stacks(small.jobId, undefined, filter, groupBy)), JSON.stringify([filter, groupBy]));
    }
    const grouped = (await serve((r) => streams.folded(r, small.jobId, undefined, {}, 'container'))).body.toString('utf8');
    assert.match(grouped, /^container aaaaaaaaaaaa;og_main;/m);
    assert.match(grouped, /^\[no container\];og_main;/m);
    const pprof = decodePprof(gunzipSync((await serve((r) => streams.pprof(r, small.jobId, undefined, { container: 'bbbb' }))).body));
    const labels = new Set(pprof.samples.map((x) => x.labels.find((l) => l.key === 'container')?.str));
    assert.deepEqual([...labels], [b]);
  });

  it('refuses a read past its cap with a 422 before sending anything, and frees its connection', async () => {
    const cap = reader.caps.trieNodes;
    reader.caps.trieNodes = 500;
    try {
      const res = await serve((r) => streams.folded(r, seed.jobId, undefined, {}, undefined));
      assert.equal(res.status, 422);
      assert.match(res.body.toString(), /more than 500 distinct call-path frames/);
      await assert.rejects(reader.merged({ jobId: seed.jobId }), TooManyPathsError);
    } finally {
      reader.caps.trieNodes = cap;
    }
    await settled();
  });

  it('releases the connection when a read fails mid-cursor, and the pool still serves', async () => {
    let nodes = 0;
    await assert.rejects(
      reader.perNode({ jobId: seed.jobId }, undefined, async () => {
        if (++nodes === 3) throw new Error('encoding failed');
      }),
      /encoding failed/,
    );
    await settled();
    const res = await serve((r) => streams.folded(r, seed.jobId, seed.nodeNames[0], {}, undefined));
    assert.equal(res.status, 200);
  });

  it('answers 503 with Retry-After when every read slot and place in line is taken', async () => {
    const held = await Promise.all(Array.from({ length: reader.gate.slots }, () => reader.gate.acquire()));
    const ac = new AbortController();
    const waiting = Array.from({ length: reader.gate.queue }, () => reader.gate.acquire(ac.signal).catch(() => undefined));
    try {
      const res = await serve((r) => streams.folded(r, seed.jobId, undefined, {}, undefined));
      assert.equal(res.status, 503);
      assert.equal(res.headers['retry-after'], '5');
      assert.match(res.body.toString(), /retry in 5 s/);
    } finally {
      ac.abort();
      await Promise.all(waiting);
      for (const release of held) release();
    }
    assert.equal(reader.gate.busy, 0);
  });

  it('closes the cursor and releases the connection when the client goes away mid-response', async () => {
    reader.caps.chunk = 50;
    let nodesWritten = 0;
    const real = reader.perNode.bind(reader);
    reader.perNode = (q, signal, onNode, client) => real(q, signal, async (n, s) => (nodesWritten++, onNode(n, s)), client);
    try {
      for (const output of ['pprof', 'speedscope'] as const) {
        nodesWritten = 0;
        http.route((res) => (output === 'pprof' ? streams.pprof(res, seed.jobId, undefined, {}) : streams.speedscope(res, seed.jobId, undefined, {})));
        await new Promise<void>((resolve, reject) => {
          const req = get(`${http.base}/`, (res) => {
            res.once('data', () => {
              req.destroy();
              resolve();
            });
          });
          req.on('error', (e) => ((e as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(e)));
        });
        await http.served;
        assert.ok(nodesWritten < 2000, `${output}: the read stopped early (${nodesWritten} of 2000 nodes)`);
        await settled();
        const active = await prisma.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND state <> 'idle' AND query LIKE '%ProfileSample%' AND pid <> pg_backend_pid()`;
        assert.equal(active[0].n, 0, `${output}: no query of the read still runs`);
      }
    } finally {
      reader.perNode = real;
      reader.caps.chunk = 700;
    }
    // The pool still serves: a full read after the aborted ones.
    const res = await serve((r) => streams.folded(r, seed.jobId, undefined, {}, undefined));
    assert.equal(res.body.toString('utf8'), toFolded(seed.merged));
  });
});

async function streamsJob() {
  return toJobView(await prisma.job.findUniqueOrThrow({ where: { id: seed.jobId }, include: { runs: { include: { node: { select: { name: true } } } } } }));
}
