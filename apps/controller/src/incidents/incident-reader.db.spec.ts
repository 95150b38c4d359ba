// An incident's merged outputs read through cursors against a real PostgreSQL (127.0.0.1:5432): two
// cpu-profile jobs of one incident over the same 400 nodes (shared stacks, one stack of its own per node,
// hostile frame names), served through real HTTP responses. Each output must be what the whole-list code
// made of every row (ProfilesService.stacksByNode per job, every node counted on every path), the checks
// must answer before anything is read, and a client that goes away must end the read.
import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { get } from 'node:http';
import type { Response } from 'express';
import type { ControllerEnv } from '../config/env';
import type { PrismaService } from '../prisma/prisma.service';
import type { JobsService } from '../jobs/jobs.service';
import { ProfilesService } from '../profiles/profiles.service';
import { ProfileReader } from '../profiles/profile-reader';
import { frameColor, mergeStacks, renderFlameGraphSvg, toFolded, type FrameInfo, type StackCount } from '../profiles/flamegraph/flamegraph';
import { functionCounts, topFunctions } from '../profiles/top-functions';
import { scratchDb, type ScratchDb } from '../testing/scratch-db';
import { seedFleetProfile, type SeededJob } from '../testing/fleet-profile-seed';
import { ReadServer, settled } from '../testing/read-server';
import { IncidentReader } from './incident-reader';
import { IncidentOutputsService } from './incident-outputs.service';
import { IncidentsService } from './incidents.service';

const DB = 'tracefleet_incident_reads_test';
const NODES = 400;
const HOSTILE = [
  ['main', 'evil;semi', 'new\nline'],
  ['main', 'evil:semi', 'new line'],
  ['main', '<script>alert(1)</script>', 'x&amp;"\''],
];

let db: ScratchDb;
let prisma: PrismaService;
let reader: ProfileReader;
let read: IncidentReader;
let outputs: IncidentOutputsService;
let profiles: ProfilesService;
let jobs: SeededJob[];
let incidentId: string;
let http: ReadServer;

const serve = (work: (res: Response) => Promise<void>): Promise<{ status: number; text: string }> => http.serveText(work);

/** Every node's stacks over the incident's jobs (or one job), read whole: what the outputs were made of before. */
async function wholeList(jobIds = jobs.map((j) => j.jobId), node?: string): Promise<{ node: string; stacks: StackCount[] }[]> {
  const byNode = new Map<string, StackCount[]>();
  for (const id of jobIds) for (const n of await profiles.stacksByNode(id, node)) byNode.set(n.node, [...(byNode.get(n.node) ?? []), ...n.stacks]);
  return [...byNode].map(([n, stacks]) => ({ node: n, stacks })).sort((a, b) => a.node.localeCompare(b.node));
}

/** The tooltip counting every node on every path (no bound): largest 8 first, ties by name, then a tally. */
function everyNodeStyle(perNode: { node: string; stacks: StackCount[] }[]): (f: FrameInfo) => { fill: string; note?: string } {
  const byPath = new Map<string, Map<string, bigint>>();
  for (const n of perNode) {
    for (const s of n.stacks) {
      for (let d = 0; d <= s.frames.length; d++) {
        const key = s.frames.slice(0, d).join('\0');
        let m = byPath.get(key);
        if (m === undefined) byPath.set(key, (m = new Map()));
        m.set(n.node, (m.get(n.node) ?? 0n) + BigInt(s.count));
      }
    }
  }
  return (f) => {
    const fill = frameColor(f.depth === 0 ? 'all' : f.stack[f.depth - 1]);
    const m = byPath.get(f.stack.slice(0, f.depth).join('\0'));
    if (m === undefined) return { fill };
    const listed = [...m].sort(([a, x], [b, y]) => (x === y ? (a < b ? -1 : 1) : x > y ? -1 : 1));
    const more = listed.length > 8 ? `, +${listed.length - 8} more` : '';
    return { fill, note: ` · by node: ${listed.slice(0, 8).map(([n, c]) => `${n} ${c.toLocaleString('en-US')}`).join(', ')}${more}` };
  };
}

describe('an incident\'s merged reads (PostgreSQL)', { timeout: 600_000 }, () => {
  before(async () => {
    db = await scratchDb(DB);
    prisma = db.prisma;
    reader = new ProfileReader(prisma, { databaseUrl: db.url } as ControllerEnv);
    reader.caps.chunk = 500; // many round trips per read
    read = new IncidentReader(reader);
    outputs = new IncidentOutputsService(new IncidentsService(prisma, {} as JobsService), read);
    profiles = new ProfilesService(prisma);
    // The same nodes and, for the first 30, the same stacks in both jobs: the incident sums them.
    jobs = [
      await seedFleetProfile(reader.pool, { nodes: NODES, shared: 30, depth: 10, distinct: 1, prefix: 'ir', extra: HOSTILE }),
      await seedFleetProfile(reader.pool, { nodes: NODES, shared: 45, depth: 10, distinct: 1, prefix: 'ir' }),
    ];
    incidentId = (await reader.pool.query<{ id: string }>(`INSERT INTO "Incident" ("id", "name", "nodes", "bundle", "startAt") VALUES (gen_random_uuid(), 'reads', '"all"', '[]', now()) RETURNING "id"::text`)).rows[0].id;
    await reader.pool.query('UPDATE "Job" SET "incidentId" = $1::uuid WHERE "id" = ANY($2::uuid[])', [incidentId, jobs.map((j) => j.jobId)]);
    http = await ReadServer.start();
  });

  after(async () => {
    http?.close();
    await reader?.onModuleDestroy();
    await db?.drop();
  });

  it('serves the flame graph of every node, with the tooltips of counting every node on every path', async () => {
    const res = await serve((r) => outputs.svg(r, incidentId, {}));
    assert.equal(res.status, 200, res.text);
    const perNode = await wholeList();
    assert.equal(perNode.length, NODES);
    const all = perNode.flatMap((n) => n.stacks);
    const total = all.reduce((a, s) => a + BigInt(s.count), 0n);
    const totals = perNode.map((n) => `${n.node} ${n.stacks.reduce((a, s) => a + BigInt(s.count), 0n).toLocaleString('en-US')}`).join(', ');
    const want = renderFlameGraphSvg(mergeStacks(all), {
      title: `CPU profile · incident ${incidentId.slice(0, 8)} (reads)`,
      subtitle: `${NODES} node(s) merged · ${total.toLocaleString('en-US')} samples = ${totals} · hover a frame for its count on each node`,
      frameStyle: everyNodeStyle(perNode),
    });
    assert.equal(res.text, want);
    assert.match(res.text, /by node: ir-\d{5} \d+, .*, \+392 more/);
    assert.ok(!res.text.includes('<script>alert'), 'a frame name is escaped');
  });

  it('streams the folded text: the sum of both jobs over every node, one node, one job', async () => {
    const res = await serve((r) => outputs.folded(r, incidentId, {}));
    assert.equal(res.status, 200);
    assert.equal(res.text, toFolded(mergeStacks((await wholeList()).flatMap((n) => n.stacks))));
    assert.match(res.text, /^main;evil:semi;new line 800$/m);
    const node = jobs[0].nodeNames[17];
    assert.equal((await serve((r) => outputs.folded(r, incidentId, { node }))).text, toFolded(mergeStacks((await wholeList(undefined, node)).flatMap((n) => n.stacks))));
    const job = jobs[1].jobId;
    assert.equal((await serve((r) => outputs.folded(r, incidentId, { job }))).text, toFolded(jobs[1].merged));
  });

  it('lists top functions with each node\'s counts of them, as counting every function of every node did', async () => {
    const res = await serve((r) => outputs.functions(r, incidentId, { limit: 7 }));
    assert.equal(res.status, 200);
    const perNode = await wholeList();
    const top = topFunctions(mergeStacks(perNode.flatMap((n) => n.stacks)), 7);
    const counts = perNode.map((n) => ({ node: n.node, counts: functionCounts(n.stacks).counts }));
    const row = (f: (typeof top.bySelf)[number]) => ({ ...f, byNode: Object.fromEntries(counts.map((n) => [n.node, n.counts.get(f.name) ?? { self: 0, total: 0 }])) });
    assert.deepEqual(JSON.parse(res.text), {
      totalSamples: top.totalSamples,
      nodeTotals: Object.fromEntries(perNode.map((n) => [n.node, n.stacks.reduce((a, s) => a + Number(s.count), 0)])),
      bySelf: top.bySelf.map(row),
      byTotal: top.byTotal.map(row),
    });
  });

  it('answers 404 for an unknown incident, job or node and 422 for no cpu-profile job, before reading anything', async () => {
    const hostile = [`'; DROP TABLE "Job"; --`, '../../etc/passwd', '\u0000', 'x'.repeat(10_000)];
    for (const node of ['nope', ...hostile]) assert.equal((await serve((r) => outputs.svg(r, incidentId, { node }))).status, 404, node.slice(0, 20));
    for (const job of ['00000000-0000-4000-8000-000000000000', ...hostile]) assert.equal((await serve((r) => outputs.folded(r, incidentId, { job }))).status, 404, job.slice(0, 20));
    assert.equal((await serve((r) => outputs.functions(r, '00000000-0000-4000-8000-000000000000', {}))).status, 404);
    const empty = (await reader.pool.query<{ id: string }>(`INSERT INTO "Incident" ("id", "nodes", "bundle", "startAt") VALUES (gen_random_uuid(), '"all"', '[]', now()) RETURNING "id"::text`)).rows[0].id;
    const none = await serve((r) => outputs.svg(r, empty, {}));
    assert.equal(none.status, 422);
    assert.match(none.text, /no cpu-profile job/);
    assert.equal(reader.gate.busy, 0);
  });

  it('refuses past its caps with a 422 naming them, and frees its connection', async () => {
    const caps = { ...reader.caps };
    try {
      reader.caps.trieNodes = 300;
      const paths = await serve((r) => outputs.svg(r, incidentId, {}));
      assert.equal(paths.status, 422);
      assert.match(paths.text, /more than 300 distinct call-path frames/);
      reader.caps.trieNodes = caps.trieNodes;
      reader.caps.nodeStacks = 20;
      const stacks = await serve((r) => outputs.functions(r, incidentId, {}));
      assert.equal(stacks.status, 422);
      assert.match(stacks.text, /node ir-\d{5} has more than 20 stored stack counts in this incident/);
    } finally {
      Object.assign(reader.caps, caps);
    }
    await settled(reader);
  });

  it('ends the read when the client goes away mid-read: no query left running, the pool still serves', async () => {
    reader.caps.chunk = 40;
    let nodesRead = 0;
    const real = read.byNode.bind(read);
    let gone!: () => void;
    const tenRead = new Promise<void>((r) => (gone = r));
    read.byNode = (q, signal, client, onNode) =>
      real(q, signal, client, (n, rows) => {
        if (++nodesRead === 10) gone();
        onNode(n, rows);
      });
    try {
      http.route((res) => outputs.svg(res, incidentId, {}));
      const req = get(`${http.base}/`);
      req.on('error', () => undefined);
      await tenRead;
      req.destroy();
      await http.served;
      assert.ok(nodesRead < NODES, `the read stopped early (${nodesRead} of ${NODES} nodes)`);
      await settled(reader);
      const active = await prisma.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND state <> 'idle' AND query LIKE '%ProfileSample%' AND pid <> pg_backend_pid()`;
      assert.equal(active[0].n, 0, 'no query of the read still runs');
    } finally {
      read.byNode = real;
      reader.caps.chunk = 500;
    }
    const res = await serve((r) => outputs.folded(r, incidentId, {}));
    assert.equal(res.status, 200);
  });
});
