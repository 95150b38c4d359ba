import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AgentRouter, MAX_START_HOPS, routeFor } from './agent-router';
import type { NodeRoute } from '../nodes/nodes.service';
import { commandQueueName, decodeWire, encodeWire } from '../queue/agent-commands';

const node = (over: Partial<NodeRoute>): NodeRoute => ({ id: 'id', name: 'n1', state: 'connected', replicaId: 'r-b', sessionId: 's1', ...over });

describe('replica routing', () => {
  it('sends to this replica when it holds the session, else to the replica the registry names', () => {
    assert.deepEqual(routeFor(node({ replicaId: 'r-b' }), 'r-a', true), { kind: 'here' });
    assert.deepEqual(routeFor(node({ replicaId: 'r-b' }), 'r-a', false), { kind: 'replica', replicaId: 'r-b' });
    assert.equal(commandQueueName('r-b'), 'agent-commands-r-b');
  });

  it('does not route to a node without a live session, and says why', () => {
    assert.deepEqual(routeFor(undefined, 'r-a', false), { kind: 'none', reason: 'never registered' });
    assert.deepEqual(routeFor(node({ state: 'unreachable' }), 'r-a', false), { kind: 'none', reason: 'unreachable' });
    assert.deepEqual(routeFor(node({ state: 'gone' }), 'r-a', false), { kind: 'none', reason: 'gone' });
    assert.deepEqual(routeFor(node({ replicaId: null }), 'r-a', false), { kind: 'none', reason: 'no session' });
    // The registry says "here" but this replica has no such session (it restarted under the same id): stale.
    assert.deepEqual(routeFor(node({ replicaId: 'r-a' }), 'r-a', false), { kind: 'none', reason: 'its session on replica r-a has ended' });
  });

  it('carries bigints through BullMQ results', () => {
    const answer = { requestId: 'x', probes: [{ fileOffset: 0x1234n, semaphore: 0n, args: [{ size: -4 }] }], error: '' };
    const wire = encodeWire(answer);
    assert.doesNotThrow(() => JSON.stringify(wire));
    assert.deepEqual(decodeWire(JSON.parse(JSON.stringify(wire))), answer);
    assert.equal(encodeWire(undefined), null);
  });
});

describe('starting a dispatch', () => {
  // Fakes at the router's boundaries: the registry, the gateway's sessions, the command queues, PostgreSQL.
  const setup = (gone: string[] = []) => {
    const local = new Map([['n1', 's-1'], ['n2', 's-2']]);
    const failed: string[] = [];
    const sent: string[] = [];
    const queued: { replicaId: string; names: string[]; runIds: string[][] }[] = [];
    const carried: unknown[] = [];
    const pending = new Set(['run-1', 'run-2', 'run-3', 'run-4']);
    const nodeOf: Record<string, string> = { 'run-1': 'n1', 'run-2': 'n2', 'run-3': 'n3', 'run-4': 'n4' };
    const gateway = {
      isConnected: (n: string) => local.has(n),
      // `gone`: the session ended between the routing and the start.
      session: (n: string) => (local.has(n) && !gone.includes(n) ? { sessionId: local.get(n) } : undefined),
      send: (n: string, m: { msg: { $case: string; value: { runId: string } } }) => (sent.push(`${n}:${m.msg.$case}:${m.msg.value.runId}`), true),
    };
    const prisma = {
      $queryRaw: async (strings: TemplateStringsArray, ...values: unknown[]) => {
        const ids = values[0] as string[];
        const sql = strings.join('?');
        if (sql.includes('UPDATE')) return ids.filter((id) => pending.delete(id)).map((id) => ({ id }));
        return ids.filter((id) => pending.has(id)).map((id) => ({ id, jobId: 'job-1', name: nodeOf[id] }));
      },
      job: { findMany: async () => assert.fail('the job row is given: not read again') },
    };
    const commands = {
      sendFast: async (replicaId: string, cmds: { cmd: { name: string; data: { runIds: string[] } } }[]) => {
        queued.push({ replicaId, names: cmds.map((c) => c.cmd.name), runIds: cmds.map((c) => c.cmd.data.runIds) });
        carried.push(...cmds.map((c) => c.cmd.data));
      },
    };
    let routesRead = 0;
    const routeOf = (n: string) => node({ name: n, ...(n === 'n4' ? { state: 'unreachable' as const } : {}) });
    const nodes = {
      routes: async (names: string[]) => (routesRead++, new Map(names.map((n) => [n, routeOf(n)]))),
      toRoutes: (rows: { name: string }[]) => new Map(rows.map((r) => [r.name, routeOf(r.name)])),
      route: async (n: string) => node({ name: n, replicaId: 'r-a' }),
    };
    const runs = { failRun: async (id: string, why: string) => void (pending.delete(id), failed.push(`${id}: ${why}`)), finalizeJob: async () => undefined };
    const router = new AgentRouter({ replicaId: 'r-a' } as never, prisma as never, gateway as never, commands as never, nodes as never, runs as never);
    return { router, sent, queued, carried, pending, failed, routesRead: () => routesRead };
  };
  const job = { id: 'job-1', type: 'cpu_profile', durationSec: 5, params: { type: 'cpu-profile', frequencyHz: 99, target: { all: true } }, startAt: null };

  it("starts this replica's sessions here, queues the others' on their replica, and says why a run cannot start", async () => {
    const { router, sent, queued, pending } = setup();
    const why = await router.startRuns(job, ['run-1', 'run-2', 'run-3', 'run-4'].map((runId, i) => ({ runId, nodeName: `n${i + 1}` })));
    assert.deepEqual(sent.sort(), ['n1:startRun:run-1', 'n2:startRun:run-2'], 'StartRun sent on the local sessions, without a trip through Redis');
    assert.deepEqual(queued, [{ replicaId: 'r-b', names: ['start-runs'], runIds: [['run-3']] }], 'only the other replica gets a queued command');
    assert.deepEqual([...why], [['run-4', 'unreachable']]);
    assert.deepEqual([...pending].sort(), ['run-3', 'run-4'], 'the local runs were claimed (pending → dispatched)');
  });

  it("takes the node rows a new job's insert read (no second read), and tells the other replica each run's node and job", async () => {
    const { router, carried, routesRead } = setup();
    const runs = ['run-1', 'run-2', 'run-3', 'run-4'].map((runId, i) => ({ runId, nodeName: `n${i + 1}` }));
    const before = Date.now();
    const rows = runs.map((r) => ({ id: `id-${r.nodeName}`, name: r.nodeName, status: 'connected' as const, lastSeenAt: new Date(), replicaId: 'r-b', sessionId: 's' }));
    const why = await router.startRuns(job, runs, rows);
    assert.equal(routesRead(), 0, 'the registry was not read again');
    assert.deepEqual([...why], [['run-4', 'unreachable']]);
    assert.equal(carried.length, 1);
    const data = carried[0] as { runIds: string[]; jobId: string; nodeNames: string[]; sentAt: number };
    assert.deepEqual([data.runIds, data.jobId, data.nodeNames], [['run-3'], 'job-1', ['n3']]);
    assert.ok(data.sentAt >= before && data.sentAt <= Date.now());
    // Without them (the queued dispatch, a retry) the registry is read.
    const again = setup();
    await again.router.startRuns(job, runs);
    assert.equal(again.routesRead(), 1);
  });

  it("skips a fast start-runs command's queued copy once the fast one has done the work, not when it failed", async () => {
    const handlers = new Map<string, (data: unknown, via: string) => Promise<void>>();
    const claims: string[][] = [];
    let failNext = false;
    const prisma = {
      storeGate: { foreground: <T>(fn: () => Promise<T>) => fn() },
      $queryRaw: async (_s: TemplateStringsArray, ...values: unknown[]) => {
        if (failNext) throw ((failNext = false), new Error('PostgreSQL went away'));
        claims.push(values[0] as string[]);
        return [];
      },
      job: { findMany: async () => [] },
    };
    const gateway = { session: () => ({ sessionId: 's' }) };
    const commands = { handle: (name: string, fn: (data: unknown, via: string) => Promise<void>) => void handlers.set(name, fn) };
    const router = new AgentRouter({ replicaId: 'r-b' } as never, prisma as never, gateway as never, commands as never, {} as never, {} as never);
    router.onModuleInit();
    const start = handlers.get('start-runs')!;
    const data = { runIds: ['run-1', 'run-2'], jobId: 'job-1', nodeNames: ['n1', 'n2'] };
    await start(data, 'fast');
    await start(data, 'queue');
    assert.equal(claims.length, 1, 'the queued copy did nothing: the fast one claimed');
    // Another chunk (same first run, another count) is not taken for it.
    await start({ ...data, runIds: ['run-1'], nodeNames: ['n1'] }, 'queue');
    assert.equal(claims.length, 2);
    // The fast copy failed: its queued copy does the work.
    failNext = true;
    const other = { runIds: ['run-3'], jobId: 'job-1', nodeNames: ['n3'] };
    await assert.rejects(start(other, 'fast'), /went away/);
    await start(other, 'queue');
    assert.deepEqual(claims.at(-1), ['run-3']);
    // Without run ids (garbage): handled as before, nothing remembered.
    await start({ runIds: [] }, 'fast');
  });

  it('starts a run once when the same dispatch runs twice (the queued backstop after the one from POST)', async () => {
    const { router, sent } = setup();
    const runs = [{ runId: 'run-1', nodeName: 'n1' }];
    await Promise.all([router.startRuns(job, runs), router.startRuns(job, runs)]);
    await router.startRuns(job, runs);
    assert.deepEqual(sent, ['n1:startRun:run-1']);
  });

  it('fails a run whose session ended between routing and start, only while it is still pending', async () => {
    const { router, sent, failed, pending } = setup(['n2']);
    await router.startRuns(job, [{ runId: 'run-1', nodeName: 'n1' }, { runId: 'run-2', nodeName: 'n2' }]);
    assert.deepEqual(sent, ['n1:startRun:run-1']);
    assert.deepEqual(failed, ['run-2: node n2 was not connected when the job was dispatched (its session on replica r-a has ended)']);
    // Already claimed by another start (not pending): left alone.
    const other = setup(['n2']);
    other.pending.delete('run-2');
    await other.router.startRuns(job, [{ runId: 'run-2', nodeName: 'n2' }]);
    assert.deepEqual(other.failed, []);
    assert.ok(!pending.has('run-2'));
  });

  it("names this replica's sessions of a job's nodes; sends the runs stored bound to them; one whose session changed starts again", async () => {
    const { router } = setup(['n2']);
    // n2's session ended, n3's is on another replica: only n1's is here.
    assert.deepEqual([...router.sessionsHere(['n1', 'n2', 'n3', 'n1'])], [['n1', 's-1']]);
    assert.deepEqual([...router.sessionsHere([])], []);

    // Runs stored dispatched on sessions: n1's is current; n2's ended; n3 registered again here (a new session)
    // after run-3 was bound to its old one; n4's session ended and it registered on replica r-b.
    const status = new Map([['run-1', 's-1'], ['run-2', 's-2'], ['run-3', 's-3-old'], ['run-4', 's-4']].map(([id, sid]) => [id, { status: 'dispatched', sid }]));
    const nodeOf: Record<string, string> = { 'run-1': 'n1', 'run-2': 'n2', 'run-3': 'n3', 'run-4': 'n4' };
    const sessions = new Map([['n1', 's-1'], ['n3', 's-3-new']]);
    const sent: string[] = [];
    const failed: string[] = [];
    const forwarded: string[] = [];
    const finalized: string[] = [];
    const prisma = {
      $queryRaw: async (strings: TemplateStringsArray, ...values: unknown[]) => {
        const sql = strings.join('?');
        const ids = values[0] as string[];
        if (sql.includes(`SET "status" = 'pending'`)) {
          const sids = values[1] as string[];
          return ids.filter((id, i) => status.get(id)?.status === 'dispatched' && status.get(id)?.sid === sids[i] && status.set(id, { status: 'pending', sid: '' })).map((id) => ({ id }));
        }
        if (sql.includes('UPDATE')) {
          const sids = values[1] as string[];
          return ids.filter((id, i) => status.get(id)?.status === 'pending' && status.set(id, { status: 'dispatched', sid: sids[i] })).map((id) => ({ id }));
        }
        return ids.filter((id) => status.get(id)?.status === 'pending').map((id) => ({ id, jobId: 'job-1', name: nodeOf[id] }));
      },
      job: { findMany: async () => [job] },
    };
    const gateway = {
      session: (n: string) => (sessions.has(n) ? { sessionId: sessions.get(n) } : undefined),
      send: (n: string, m: { msg: { value: { runId: string } } }) => sessions.has(n) && sent.push(`${n}:${m.msg.value.runId}`) > 0,
    };
    const nodes = { route: async (n: string) => node({ name: n, replicaId: n === 'n4' ? 'r-b' : 'r-a' }) };
    const commands = { send: async (replicaId: string, cmd: { data: { runId: string; hops: number } }) => void forwarded.push(`${replicaId}:${cmd.data.runId}:h${cmd.data.hops}`) };
    const runs = { failRun: async (id: string, why: string) => void failed.push(`${id}: ${why}`), finalizeJob: async (id: string) => void finalized.push(id) };
    const moving = new AgentRouter({ replicaId: 'r-a' } as never, prisma as never, gateway as never, commands as never, nodes as never, runs as never);
    await moving.sendStarts(['run-1', 'run-2', 'run-3', 'run-4'].map((id) => ({ id, nodeName: nodeOf[id], sessionId: status.get(id)!.sid, job })));
    assert.deepEqual(sent, ['n1:run-1', 'n3:run-3'], "run-3 was sent on n3's new session, once claimed again on it");
    assert.deepEqual(status.get('run-3'), { status: 'dispatched', sid: 's-3-new' });
    assert.deepEqual(failed, ['run-2: node n2 was not connected when the job was dispatched (its session on replica r-a has ended)']);
    assert.deepEqual(forwarded, ['r-b:run-4:h2'], "run-4 follows its node to replica r-b");
    assert.equal(status.get('run-4')!.status, 'pending');
    assert.deepEqual(finalized, ['job-1']);

    // A run the agent's registration already put back to pending is left to that (not started twice).
    status.set('run-5', { status: 'pending', sid: '' });
    nodeOf['run-5'] = 'n2';
    failed.length = 0;
    await moving.sendStarts([{ id: 'run-5', nodeName: 'n2', sessionId: 's-2', job }]);
    assert.deepEqual(failed, []);
    assert.equal(status.get('run-5')!.status, 'pending');

    // Past MAX_START_HOPS tries a run whose session keeps changing fails with the reason, its job finalized.
    status.set('run-6', { status: 'dispatched', sid: 's-3-older' });
    finalized.length = 0;
    await moving.sendStarts([{ id: 'run-6', nodeName: 'n3', sessionId: 's-3-older', job }], MAX_START_HOPS);
    assert.deepEqual(failed, [`run-6: node n3 kept changing sessions as the run was sent (${MAX_START_HOPS} tries)`]);
    assert.deepEqual(finalized, ['job-1']);
    assert.equal(sent.filter((m) => m.endsWith('run-6')).length, 0);
  });

  it('says once when every StartRun written here has gone out (the flush step), not before', async () => {
    // n1, n2: written, their callbacks held until the test lets them go; n3: its session changed; n4: the write was refused.
    const callbacks: (() => void)[] = [];
    const gateway = {
      session: (n: string) => ({ sessionId: n === 'n3' ? 's-new' : `s-${n}` }),
      send: (n: string, _m: unknown, written?: () => void) => n !== 'n4' && callbacks.push(written!) > 0,
    };
    const prisma = { $queryRaw: async () => [] };
    const router = new AgentRouter({ replicaId: 'r-a' } as never, prisma as never, gateway as never, {} as never, {} as never, {} as never);
    let flushed = 0;
    const runs = ['n1', 'n2', 'n3', 'n4'].map((n, i) => ({ id: `run-${i + 1}`, nodeName: n, sessionId: `s-${n}`, job: job as never }));
    await router.sendStarts(runs, 0, () => void flushed++);
    assert.equal(callbacks.length, 2, 'n1 and n2 written');
    assert.equal(flushed, 0, 'not before the writes have gone out');
    callbacks[1]();
    assert.equal(flushed, 0);
    callbacks[0]();
    assert.equal(flushed, 1, 'once both have');
    // Nothing written here: said at once.
    await router.sendStarts([runs[2]], 0, () => void flushed++);
    assert.equal(flushed, 2);
  });
});
