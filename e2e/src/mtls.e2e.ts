import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect as netConnect, type Server as NetServer } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { join } from 'node:path';
import { readFileSync, statSync } from 'node:fs';
import { credentials, Metadata, Server, ServerCredentials, status, type ClientDuplexStream, type ServerDuplexStream, type ServiceError } from '@grpc/grpc-js';
import { AgentLinkClient, AgentLinkService, PROTOCOL_VERSION, type AgentMessage, type ControllerMessage } from '@tracefleet/proto';
import { createCa, issueServerCert, loadCa, nodeIdentity } from '@tracefleet/pki';
import { Client } from 'pg';
import { bpfFds, buildC, freePort, ROOT, sleep, startStack, waitFor, waitJob, type Enrolled, type Stack } from './harness';

/** A real agent process outside the harness's wait-for-connected (these agents must not connect). */
function spawnAgent(name: string, env: Record<string, string>): { proc: ChildProcess; output: () => string } {
  let out = '';
  const proc = spawn(process.execPath, [join(ROOT, 'apps/node-agent/dist/main.js')], {
    cwd: ROOT,
    env: { ...process.env, TRACEFLEET_NODE_NAME: name, TRACEFLEET_NODE_LABELS: 'role=mtls', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  return { proc, output: () => out };
}

type Session = ClientDuplexStream<AgentMessage, ControllerMessage>;

/** Opens a session with `creds` and registers as `nodeName`; resolves with how it went. */
function registerAs(stack: Stack, creds: ReturnType<Enrolled['credentials']>, nodeName: string): Promise<{ ok: true; call: Session; client: AgentLinkClient } | { ok: false; err: ServiceError }> {
  const client = new AgentLinkClient(stack.grpcAddr, creds);
  const call = client.session(new Metadata());
  return new Promise((resolve) => {
    call.on('data', (m: ControllerMessage) => {
      if (m.msg?.$case === 'registered') resolve({ ok: true, call, client });
    });
    call.on('error', (err: ServiceError) => {
      client.close();
      resolve({ ok: false, err });
    });
    call.write({
      msg: { $case: 'register', value: { nodeName, labels: {}, kernelRelease: '6.18', btf: true, protocolVersion: PROTOCOL_VERSION, capabilities: ['cpu-profile'], agentVersion: 'mtls-e2e', cpus: 1, instanceId: '', heldRunIds: [] } },
    });
  });
}

describe('mutual TLS between agents and controllers', { timeout: 300_000 }, () => {
  let stack: Stack;
  const procs: ChildProcess[] = [];
  const closers: (() => void)[] = [];
  const tag = randomBytes(3).toString('hex');

  before(async () => {
    // Short-lived node certificates, so renewal (at two thirds) happens within the test.
    stack = await startStack({ agent: false, env: { TRACEFLEET_NODE_CERT_LIFETIME_SEC: '45' } });
  });
  after(async () => {
    for (const c of closers) c();
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    await stack?.stop();
  });

  it('an agent refuses a rogue controller (certificate of another CA) and starts nothing; enrollment never shows a rogue the token', async () => {
    // The rogue: a TLS front with a certificate of its own CA (valid for 127.0.0.1), decrypting into a
    // gRPC AgentLink server that would send StartRun to whatever registers.
    const made = await createCa('rogue CA', 1);
    const rogueCa = await loadCa(made.certPem, made.keyPem);
    const rogueCert = await issueServerCert(rogueCa, ['127.0.0.1', 'localhost']);
    const hot = spawn(buildC('hot'), ['0'], { stdio: 'ignore' });
    procs.push(hot);
    const sessions: string[] = [];
    const grpcRogue = new Server();
    grpcRogue.addService(AgentLinkService, {
      session: (call: ServerDuplexStream<AgentMessage, ControllerMessage>) => {
        call.on('data', (m: AgentMessage) => {
          if (m.msg?.$case !== 'register') return;
          sessions.push(m.msg.value.nodeName);
          call.write({ msg: { $case: 'registered', value: { nodeId: 'rogue', heartbeatIntervalMs: 1000 } } });
          call.write({
            msg: {
              $case: 'startRun',
              value: { runId: 'rogue-run', jobId: 'rogue-job', durationSec: 30, target: { kind: { $case: 'pid', value: hot.pid! } }, spec: { $case: 'cpuProfile', value: { frequencyHz: 99, skipJavaPerfMaps: false, skipPythonFrames: false } }, startAtUnixMs: 0n },
            },
          });
        });
      },
    });
    const innerPort = await new Promise<number>((resolve, reject) => grpcRogue.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    closers.push(() => grpcRogue.forceShutdown());
    let handshakes = 0;
    let handshakeErrors = 0;
    const front: NetServer = createTlsServer({ key: rogueCert.keyPem, cert: rogueCert.certPem, ALPNProtocols: ['h2'] }, (sock) => {
      handshakes++;
      const inner = netConnect(innerPort, '127.0.0.1');
      sock.pipe(inner).pipe(sock);
      sock.on('error', () => inner.destroy());
      inner.on('error', () => sock.destroy());
    });
    front.on('tlsClientError', () => handshakeErrors++);
    const roguePort = await freePort();
    await new Promise<void>((r) => front.listen(roguePort, '127.0.0.1', r));
    closers.push(() => front.close());
    const rogueAddr = `127.0.0.1:${roguePort}`;

    // The rogue as the link: the agent enrolls with the real controller, then meets the rogue.
    const name = `mtls-${tag}-victim`;
    const victim = spawnAgent(name, {
      TRACEFLEET_CONTROLLER_GRPC: rogueAddr,
      TRACEFLEET_ENROLL_ADDR: stack.enrollAddr,
      TRACEFLEET_CA_CERT: stack.caCertFile,
      TRACEFLEET_AGENT_STATE_DIR: stack.agentStateDir(name),
      TRACEFLEET_ENROLLMENT_TOKEN: stack.enrollmentToken,
    });
    procs.push(victim.proc);
    await waitFor(async () => handshakeErrors >= 2, 20_000, `the agent to try the rogue twice:\n${victim.output()}`);
    assert.match(victim.output(), /enrolled: certificate [0-9a-f]+ for node/, victim.output());
    assert.match(victim.output(), new RegExp(`refused the controller at ${rogueAddr}: the TLS handshake failed`), victim.output());
    assert.equal(handshakes, 0, 'no TLS handshake with the rogue completed');
    assert.deepEqual(sessions, [], 'the rogue never saw a session');
    assert.doesNotMatch(victim.output(), /rogue-run|registered with/, 'no run, no registration');
    assert.deepEqual(bpfFds(victim.proc.pid!), [], 'no BPF program or map was loaded');
    assert.equal(victim.proc.exitCode, null, 'the agent keeps trying (a rogue during a restart must not kill it)');
    victim.proc.kill('SIGKILL');

    // The rogue as the enrollment endpoint: the handshake fails before the token is sent.
    const fresh = `mtls-${tag}-fresh`;
    const before = handshakeErrors;
    const newcomer = spawnAgent(fresh, {
      TRACEFLEET_CONTROLLER_GRPC: stack.grpcAddr,
      TRACEFLEET_ENROLL_ADDR: rogueAddr,
      TRACEFLEET_CA_CERT: stack.caCertFile,
      TRACEFLEET_AGENT_STATE_DIR: stack.agentStateDir(fresh),
      TRACEFLEET_ENROLLMENT_TOKEN: stack.enrollmentToken,
    });
    procs.push(newcomer.proc);
    await waitFor(async () => handshakeErrors >= before + 2, 20_000, `the newcomer to try the rogue:\n${newcomer.output()}`);
    assert.match(newcomer.output(), /refused the controller at .*its certificate does not chain to the fleet CA.*nothing was sent to it/, newcomer.output());
    assert.equal(handshakes, 0);
    newcomer.proc.kill('SIGKILL');
    const nodes = (await stack.api('GET', '/nodes')).json as { name: string }[];
    assert.ok(!nodes.some((n) => n.name === fresh), 'the newcomer never reached the controller');
  });

  it('a valid certificate for node A cannot register as node B, and no certificate or a foreign one gets no session', async () => {
    const a = await stack.enroll(`mtls-${tag}-a`);
    const b = `mtls-${tag}-b`;
    const asB = await registerAs(stack, a.credentials(), b);
    assert.equal(asB.ok, false);
    if (!asB.ok) {
      assert.equal(status[asB.err.code], 'PERMISSION_DENIED', asB.err.message);
      assert.match(asB.err.details, new RegExp(`certificate is for node mtls-${tag}-a; it cannot register as "${b}"`));
    }
    // The same certificate as itself works: the refusal above is about the name.
    const asA = await registerAs(stack, a.credentials(), a.nodeName);
    assert.ok(asA.ok, asA.ok ? '' : asA.err.message);
    if (asA.ok) {
      asA.call.end();
      asA.client.close();
    }
    const nodes = (await stack.api('GET', '/nodes')).json as { name: string }[];
    assert.ok(nodes.some((n) => n.name === a.nodeName));
    assert.ok(!nodes.some((n) => n.name === b), 'node B was never registered');

    const noCert = await registerAs(stack, credentials.createSsl(Buffer.from(readFileSync(stack.caCertFile))), `mtls-${tag}-anon`);
    assert.equal(noCert.ok, false);
    if (!noCert.ok) assert.equal(status[noCert.err.code], 'UNAVAILABLE', 'the handshake itself fails without a client certificate');
    const foreign = await createCa('foreign', 1);
    const foreignCa = await loadCa(foreign.certPem, foreign.keyPem);
    const forged = await issueServerCert(foreignCa, ['127.0.0.1']);
    const withForged = await registerAs(stack, credentials.createSsl(Buffer.from(readFileSync(stack.caCertFile)), Buffer.from(forged.keyPem), Buffer.from(forged.certPem)), `mtls-${tag}-forged`);
    assert.equal(withForged.ok, false);
    if (!withForged.ok) assert.equal(status[withForged.err.code], 'UNAVAILABLE');
  });

  it('DELETE /nodes/:name revokes: the live session ends (its run fails), the agent cannot reconnect, its certificate opens nothing', async () => {
    const name = `mtls-${tag}-revoked`;
    const agent = await stack.startAgent(name, 'role=mtls');
    const hot = spawn(buildC('hot'), ['0'], { stdio: 'ignore' });
    procs.push(hot);
    const created = await stack.api('POST', '/jobs', { type: 'cpu-profile', durationSec: 30, frequencyHz: 49, target: { pid: hot.pid }, nodes: { names: [name] } });
    assert.equal(created.status, 201, created.text);
    await waitFor(async () => (await stack.api('GET', `/jobs/${created.json.id}`)).json.runs[0].status === 'running', 30_000, 'the run to start');

    // The e2e database outlives stacks: only this test's audit entries count.
    const since = new Date(Date.now() - 1000).toISOString();
    const denied = await stack.api('DELETE', `/nodes/${name}`);
    assert.equal(denied.status, 403, 'revoking needs the admin (ssl-capture) scope');
    assert.equal((await stack.api('DELETE', `/nodes/mtls-${tag}-nobody`, undefined, stack.captureToken)).status, 404);
    const res = await stack.api('DELETE', `/nodes/${name}`, undefined, stack.captureToken);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.sessionEnded, true);
    assert.ok(res.json.certificatesRevoked >= 1);

    const job = await waitJob(stack, created.json.id, 20_000);
    assert.equal(job.runs[0].status, 'failed', JSON.stringify(job.runs[0]));
    assert.match(job.runs[0].reason, new RegExp(`^node ${name} was revoked at `));
    const log = (): string => stack.logs.filter((l) => l.startsWith(`[agent ${name}]`)).join('');
    await waitFor(async () => (log().match(/PERMISSION_DENIED: certificate [0-9a-f]+ of node .* was revoked/g) ?? []).length >= 1, 20_000, `a refused reconnect:\n${log()}`);
    await sleep(3000);
    const node = (await stack.api('GET', `/nodes/${name}`)).json;
    assert.equal(node.connected, false, JSON.stringify(node));
    assert.equal(node.status, 'gone');
    assert.equal(node.statusReason, 'revoked');
    assert.equal(agent.exitCode, null, 'the agent is alive, and kept out');
    assert.deepEqual(bpfFds(agent.pid!), [], 'its run detached everything when the session ended');

    const audit = await stack.api('GET', `/audit?action=node.revoke&since=${encodeURIComponent(since)}`, undefined, stack.captureToken);
    assert.equal(audit.status, 200, audit.text);
    const entries = audit.json.entries as { outcome: string; target: { type: string; id: string | null } }[];
    assert.deepEqual(entries.map((e) => `${e.outcome} ${e.target.type}:${e.target.id}`).sort(), [`denied node:${name}`, `ok node:${name}`, `refused node:mtls-${tag}-nobody`]);
  });

  it('bootstrap tokens: created with the admin scope, refused past their uses or expiry, and an unbound token cannot take a live name', async () => {
    assert.equal((await stack.api('POST', '/enrollment-tokens', { maxUses: 1 })).status, 403, 'the jobs token cannot admit nodes');
    assert.equal((await stack.api('POST', '/enrollment-tokens', { maxUses: 0 }, stack.captureToken)).status, 400);
    const created = await stack.api('POST', '/enrollment-tokens', { maxUses: 1, ttlSec: 600 }, stack.captureToken);
    assert.equal(created.status, 201, created.text);
    const token = created.json.token as string;
    const first = await stack.enroll(`mtls-${tag}-t1`, token);
    assert.equal(nodeIdentity(first.certPem).nodeName, `mtls-${tag}-t1`);
    await assert.rejects(stack.enroll(`mtls-${tag}-t2`, token), (e: ServiceError) => status[e.code] === 'PERMISSION_DENIED' && /used up \(1 of 1 uses\)/.test(e.details));

    // A real agent with a used-up token stops, saying why.
    const used = spawnAgent(`mtls-${tag}-t3`, {
      TRACEFLEET_CONTROLLER_GRPC: stack.grpcAddr,
      TRACEFLEET_ENROLL_ADDR: stack.enrollAddr,
      TRACEFLEET_CA_CERT: stack.caCertFile,
      TRACEFLEET_AGENT_STATE_DIR: stack.agentStateDir(`mtls-${tag}-t3`),
      TRACEFLEET_ENROLLMENT_TOKEN: token,
    });
    procs.push(used.proc);
    const code = await new Promise<number | null>((r) => used.proc.once('exit', r));
    assert.equal(code, 2, used.output());
    assert.match(used.output(), /enrollment refused by .*PERMISSION_DENIED: bootstrap token used up/);

    // Expired: made so in the database (the shortest TTL is a minute).
    const expiring = await stack.api('POST', '/enrollment-tokens', { maxUses: 5, ttlSec: 60 }, stack.captureToken);
    const pg = new Client({ connectionString: stack.databaseUrl });
    await pg.connect();
    try {
      await pg.query(`UPDATE "BootstrapToken" SET "expiresAt" = now() - interval '1 second' WHERE id = $1`, [expiring.json.id]);
      const stored = await pg.query(`SELECT "tokenHash" FROM "BootstrapToken" WHERE id = $1`, [expiring.json.id]);
      assert.notEqual(stored.rows[0].tokenHash, expiring.json.token, 'stored hashed');
    } finally {
      await pg.end();
    }
    await assert.rejects(stack.enroll(`mtls-${tag}-t4`, expiring.json.token), (e: ServiceError) => status[e.code] === 'PERMISSION_DENIED' && /expired at/.test(e.details));

    // The stack's .env token is unbound: it cannot enroll a name that holds a live certificate (t1's)...
    await assert.rejects(stack.enroll(`mtls-${tag}-t1`), (e: ServiceError) => status[e.code] === 'ALREADY_EXISTS' && /already holds a certificate/.test(e.details));
    // ...a token bound to that name can.
    const bound = await stack.api('POST', '/enrollment-tokens', { nodeName: `mtls-${tag}-t1` }, stack.captureToken);
    assert.equal(bound.status, 201, bound.text);
    assert.equal(nodeIdentity((await stack.enroll(`mtls-${tag}-t1`, bound.json.token)).certPem).nodeName, `mtls-${tag}-t1`);
  });

  it('the agent renews its certificate at two thirds of its life and comes back with the renewed one after a restart', async () => {
    const name = `mtls-${tag}-renew`;
    const agent = await stack.startAgent(name, 'role=mtls');
    const log = (): string => stack.logs.filter((l) => l.startsWith(`[agent ${name}]`)).join('');
    const enrolled = /enrolled: certificate ([0-9a-f]+)/.exec(log())?.[1];
    assert.ok(enrolled, log());
    // 45 s certificates: renewed ~30 s after issue.
    await waitFor(async () => /renewed: certificate [0-9a-f]+/.test(log()), 45_000, `renewal:\n${log()}`);
    const renewed = /renewed: certificate ([0-9a-f]+)/.exec(log())![1];
    assert.notEqual(renewed, enrolled);
    const keyMode = statSync(join(stack.agentStateDir(name), 'node.key')).mode & 0o777;
    assert.equal(keyMode, 0o600);
    assert.equal(nodeIdentity(readFileSync(join(stack.agentStateDir(name), 'node.crt'), 'utf8')).serial, renewed);
    agent.kill('SIGTERM');
    await new Promise((r) => agent.once('exit', r));
    await stack.startAgent(name, 'role=mtls');
    assert.match(log(), new RegExp(`using certificate ${renewed} for node ${name}`));
  });
});
