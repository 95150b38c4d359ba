// AgentRegistrar with its storage faked (the batching, not the SQL: nodes.db.spec.ts records many registrations
// and hands many nodes' runs over against a real PostgreSQL; the e2e tests register real agents).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { PROTOCOL_VERSION, type Register } from '@tracefleet/proto';
import type { NodeIdentity } from '@tracefleet/pki';
import type { ControllerEnv } from '../config/env';
import { EnrollError } from '../enrollment/bootstrap-token';
import type { NodeCertificatesService } from '../enrollment/node-certificates.service';
import type { NodesService } from '../nodes/nodes.service';
import type { Registered, Registration } from '../nodes/register-many';
import type { RunHandover } from '../runs/run-handover';
import type { RunsService } from '../runs/runs.service';
import type { AgentCommandQueue } from '../queue/agent-commands';
import { AgentRegistrar } from './agent-registrar';
import type { AgentSession } from './agent.gateway';

const reg = (nodeName: string, more: Partial<Register> = {}): Register => ({
  nodeName,
  labels: {},
  kernelRelease: '6.18',
  btf: true,
  protocolVersion: PROTOCOL_VERSION,
  capabilities: ['cpu-profile'],
  agentVersion: 'test',
  cpus: 2,
  instanceId: '',
  heldRunIds: [],
  ...more,
});
const peer = (nodeName: string): NodeIdentity => ({ nodeName, serial: `s-${nodeName}` }) as NodeIdentity;

interface FakeCall {
  written: { msg?: { $case: string } }[];
  ended: boolean;
  write(m: { msg?: { $case: string } }): boolean;
  end(): void;
}
const call = (): FakeCall => ({
  written: [],
  ended: false,
  write(m) {
    this.written.push(m);
    return true;
  },
  end() {
    this.ended = true;
  },
});

/** A registrar over fakes: `calls` has the names of each registerMany call; `hold` keeps every call waiting until released. */
function setup(opts: { fail?: (items: Registration[]) => Error | undefined; handoverFails?: boolean; revoked?: string[] } = {}) {
  const calls: string[][] = [];
  let release: () => void = () => undefined;
  let held: Promise<void> | undefined;
  const nodes = {
    async registerMany(items: Registration[]): Promise<Registered[]> {
      calls.push(items.map((i) => i.reg.nodeName));
      if (held) await held;
      const err = opts.fail?.(items);
      if (err) throw err;
      return items.map((i) => ({ nodeId: `id-${i.reg.nodeName}`, previousReplicaId: null }));
    },
  };
  const certs = { refusals: async (peers: NodeIdentity[]) => peers.map((p) => (opts.revoked?.includes(p.nodeName) ? `certificate of ${p.nodeName} revoked` : null)) };
  const handover = {
    handOverMany: async (items: unknown[]) => {
      if (opts.handoverFails) throw new Error('database away');
      return items.map(() => ({ kept: [], restarted: [], failed: [], ended: [] }));
    },
  };
  const runs = { pendingRunIdsOf: async () => new Map<string, string[]>() };
  const commands = { send: async () => undefined };
  const sessions = new Map<string, AgentSession>();
  const registrar = new AgentRegistrar(
    { replicaId: 'r1', heartbeatIntervalMs: 1000 } as ControllerEnv,
    certs as unknown as NodeCertificatesService,
    nodes as unknown as NodesService,
    handover as unknown as RunHandover,
    runs as unknown as RunsService,
    commands as unknown as AgentCommandQueue,
    sessions,
  );
  const hold = (): void => {
    held = new Promise<void>((r) => (release = r));
  };
  const go = (): void => {
    held = undefined;
    release();
  };
  const register = (c: FakeCall, r: Register) => registrar.register(c as unknown as AgentSession['call'], r, peer(r.nodeName));
  return { registrar, calls, sessions, hold, go, register };
}

describe('AgentRegistrar: registrations recorded in batches', () => {
  it('records a fleet registering at once in a few batches, and answers each agent', async () => {
    const { calls, sessions, register } = setup();
    const calls500 = Array.from({ length: 500 }, call);
    const done = await Promise.all(calls500.map((c, i) => register(c, reg(`n${i}`))));
    assert.equal(done.length, 500);
    assert.ok(calls.length <= 5, `500 registrations took ${calls.length} batches: ${calls.map((c) => c.length).join(', ')}`);
    assert.equal(calls.flat().length, 500, 'each recorded once');
    assert.equal(sessions.size, 500);
    done.forEach((s, i) => {
      assert.equal(s.nodeName, `n${i}`);
      assert.equal(s.nodeId, `id-n${i}`);
      assert.equal(sessions.get(`n${i}`), s);
      assert.deepEqual(
        calls500[i].written.map((m) => m.msg?.$case),
        ['registered'],
      );
    });
  });

  it('records a name twice in one batch in two rounds: the second session supersedes the first', async () => {
    const { calls, sessions, hold, go, register } = setup();
    hold();
    // Two registrations hold both batch slots; the next three wait and are taken together.
    const busy = [register(call(), reg('a')), register(call(), reg('b'))];
    const [c1, c2] = [call(), call()];
    const waiting = [register(c1, reg('twice')), register(c2, reg('twice')), register(call(), reg('other'))];
    await new Promise((r) => setImmediate(r));
    go();
    const [s1, s2] = await Promise.all(waiting);
    await Promise.all(busy);
    assert.deepEqual(calls.slice(2), [['twice', 'other'], ['twice']]);
    assert.notEqual(s1.sessionId, s2.sessionId);
    assert.equal(sessions.get('twice'), s2);
    assert.equal(c1.ended, true, 'the first stream is ended when its node registers again');
    assert.equal(c2.ended, false);
  });

  it("refuses only the agents at fault: a bad certificate, another protocol, values the database refuses", async () => {
    const poison = new Error('invalid input syntax for type json');
    const { registrar, calls, sessions, register } = setup({ revoked: ['revoked'], fail: (items) => (items.some((i) => i.reg.nodeName === 'poison') ? poison : undefined) });
    await assert.rejects(register(call(), reg('old', { protocolVersion: PROTOCOL_VERSION + 1 })), (e: EnrollError) => e.code === status.FAILED_PRECONDITION);
    await assert.rejects(registrar.register(call() as unknown as AgentSession['call'], reg('someone-else'), peer('mallory')), (e: EnrollError) => e.code === status.PERMISSION_DENIED);
    assert.equal(calls.length, 0, 'refused before any database work');
    const names = ['ok-1', 'revoked', 'poison', 'ok-2', 'ok-3'];
    const results = await Promise.allSettled(names.map((n) => register(call(), reg(n))));
    const outcome = Object.fromEntries(results.map((r, i) => [names[i], r.status === 'fulfilled' ? 'ok' : (r.reason as Error).message]));
    assert.deepEqual(outcome, { 'ok-1': 'ok', revoked: 'certificate of revoked revoked', poison: poison.message, 'ok-2': 'ok', 'ok-3': 'ok' });
    assert.equal((results[1] as PromiseRejectedResult).reason.code, status.PERMISSION_DENIED);
    assert.deepEqual([...sessions.keys()].sort(), ['ok-1', 'ok-2', 'ok-3']);
    assert.ok(
      calls.some((c) => c.length > 1 && c.includes('poison')) && calls.filter((c) => c.length === 1 && c[0] === 'poison').length >= 1,
      `the batch with the poison was recorded again one by one: ${JSON.stringify(calls)}`,
    );
  });

  it('registers the agents when handing their runs over fails (the sweep and the deadline end those runs)', async () => {
    const { sessions, register } = setup({ handoverFails: true });
    const c = call();
    const s = await register(c, reg('n1'));
    assert.equal(sessions.get('n1'), s);
    assert.deepEqual(
      c.written.map((m) => m.msg?.$case),
      ['registered'],
    );
  });
});
