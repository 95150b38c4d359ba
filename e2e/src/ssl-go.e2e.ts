// ssl-capture of Go programs (crypto/tls, compiled into the executable): a Go HTTPS server and client
// built by the test with Debian's golang-go, both captured through uprobes on (*Conn).Read/Write's
// entry and on each of their ret instructions (no uretprobe: it would corrupt a Go stack that moves).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES, WORK, startRunningJob, startStack, waitFor, waitJob, type Stack } from './harness';
import { launchCollecting, selfSignedCert, type Launched } from './processes';

const GO = '/usr/bin/go';
const COMM = 'tfgotls';

interface EventView {
  pid: number;
  comm: string;
  function: string;
  library: string;
  direction: string;
  length: number;
  redactions: number;
  dataBase64: string;
}

describe('ssl-capture of Go programs (crypto/tls), end to end on the real kernel', () => {
  let stack: Stack;
  let server: Launched;
  let port = 0;
  let bin = '';
  const children: ChildProcess[] = [];
  const dir = join(WORK, `ssl-go-${process.pid}`);

  before(async () => {
    if (!existsSync(GO)) throw new Error(`${GO} is missing: npm run setup installs golang-go`);
    mkdirSync(dir, { recursive: true });
    bin = join(dir, COMM);
    // The build cache lives in the e2e work tree: the second run on a machine builds in about a second.
    const cache = join(WORK, 'go-cache');
    const built = spawnSync(GO, ['build', '-o', bin, join(FIXTURES, 'gotls', 'main.go')], {
      encoding: 'utf8',
      env: { ...process.env, GOCACHE: cache, GOPATH: join(WORK, 'go-path'), HOME: dir, GO111MODULE: 'off', CGO_ENABLED: '0', GOFLAGS: '' },
      timeout: 300_000,
    });
    assert.equal(built.status, 0, `go build failed: ${built.stderr}${built.error ?? ''}`);
    const cert = selfSignedCert(dir);
    server = launchCollecting(children, bin, ['server', cert.cert, cert.key]);
    await waitFor(async () => /"port":\d+/.test(server.output()), 10_000, 'the Go TLS server');
    port = JSON.parse(server.output().split('\n')[0]).port;
    stack = await startStack();
  });

  after(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const capture = (path: string, method = 'GET', body?: unknown) => stack.api(method, path, body, stack.captureToken);
  const text = (e: EventView): string => Buffer.from(e.dataBase64, 'base64').toString('latin1');

  const request = (path: string, auth: string, n = 1) =>
    spawnSync(bin, ['client', `https://127.0.0.1:${port}${path}`, auth, String(n)], { encoding: 'utf8', timeout: 20_000 });

  it('a Go client and server: both directions of both, Authorization redacted, named as Go; the server keeps serving after the job', async () => {
    const m = randomBytes(6).toString('hex');
    const path = `/g/${m}`;
    const secret = `tf-secret-${randomBytes(12).toString('hex')}`;
    const id = await startRunningJob(stack, { type: 'ssl-capture', maxDataBytes: 4096, durationSec: 5, target: { comm: COMM } }, stack.captureToken);
    const client = request(path, `Bearer ${secret}`, 2);
    assert.equal(client.status, 0, `${client.stderr}${client.error ?? ''}`);
    assert.equal(client.stdout, `response-for-${m}\nok 1\nresponse-for-${m}\nok 2\n`);
    const job = await waitJob(stack, id, 30_000);
    assert.equal(job.status, 'completed', JSON.stringify(job.runs));
    const attached = JSON.stringify(job.runs[0].ssl?.attached ?? []);
    assert.match(attached, /crypto\/tls\.\(\*Conn\)\.Read in [^"]*tfgotls \(Go's crypto\/tls\): entry \+\d+ \([^)]*\), return \+\d+ \(ret\) and \d+ more ret site/, attached);

    const res = await capture(`/jobs/${id}/ssl-events?order=oldest&limit=1000`);
    assert.equal(res.status, 200, res.text);
    const events = (res.json.events as EventView[]).filter((e) => e.comm === COMM);
    const show = JSON.stringify(events.map((e) => [e.pid, e.function, e.direction, e.length, text(e).slice(0, 30)]));
    assert.ok(events.length > 0 && events.every((e) => e.library === 'go'), show);
    const writes = events.filter((e) => text(e).startsWith(`GET ${path} HTTP/1.1\r\n`) && e.direction === 'write' && e.function === 'crypto/tls.(*Conn).Write');
    // Two requests: written by the client, one call each, read by the server. Go's net/http may read the
    // first byte of a keep-alive connection's next request on its own (its background read), so the
    // server's side is checked on the bytes of its Read calls in order, not call by call.
    assert.equal(writes.length, 2, show);
    assert.notEqual(writes[0].pid, server.pid, 'the client wrote the request');
    const serverReads = events.filter((e) => e.pid === server.pid && e.direction === 'read' && e.function === 'crypto/tls.(*Conn).Read');
    const received = serverReads.map(text).join('').split(`GET ${path} HTTP/1.1\r\n`).slice(1);
    assert.equal(received.length, 2, show);
    for (const r of received) assert.match(r, /(^|\r\n)Authorization: \[REDACTED\]\r\n/i, r);
    assert.ok(serverReads.reduce((n, e) => n + e.redactions, 0) >= 2, show);
    assert.ok(!events.some((e) => text(e).includes(secret)), 'the secret left the node');
    for (const e of writes) {
      assert.match(text(e), /\r\nAuthorization: \[REDACTED\]\r\n/i, text(e));
      assert.ok(e.length >= text(e).length - e.redactions * 10 && e.redactions >= 1, `length ${e.length}, redactions ${e.redactions}`);
    }
    // The responses: written by the server, read by the client, the body whole.
    const responses = events.filter((e) => text(e).startsWith('HTTP/1.1 200 OK\r\n') && text(e).endsWith(`\r\n\r\nresponse-for-${m}\n`));
    assert.equal(responses.filter((e) => e.direction === 'write' && e.pid === server.pid).length, 2, show);
    assert.equal(responses.filter((e) => e.direction === 'read' && e.pid === writes[0].pid).length, 2, show);

    // The Go server was probed on every ret of Read and Write and kept running; it still serves.
    assert.equal(server.exitCode, null, `the Go server exited: ${server.output().slice(-2000)}`);
    const again = request(`/g/after-${m}`, 'Bearer x');
    assert.equal(again.status, 0, again.stderr);
    assert.equal(again.stdout, `response-for-after-${m}\nok 1\n`);
  });

  it('a port filter on Go programs: the socket found through *tls.Conn (net.TCPConn) admits the server\'s port; another port captures nothing', async () => {
    const m = randomBytes(6).toString('hex');
    const id = await startRunningJob(stack, { type: 'ssl-capture', durationSec: 4, target: { comm: COMM }, filter: { ports: [port] } }, stack.captureToken);
    assert.equal(request(`/p/${m}`, 'Bearer x').status, 0);
    const job = await waitJob(stack, id, 30_000);
    assert.equal(job.status, 'completed', JSON.stringify(job.runs));
    const res = await capture(`/jobs/${id}/ssl-events?order=oldest&limit=1000`);
    const events = (res.json.events as EventView[]).filter((e) => e.comm === COMM);
    // The client's peer port and the server's local port are both `port`: all four calls pass.
    const show = JSON.stringify(events.map((e) => [e.pid, e.direction, text(e).slice(0, 30)]));
    assert.ok(events.some((e) => e.direction === 'write' && text(e).startsWith(`GET /p/${m} `)), show);
    assert.ok(events.some((e) => e.direction === 'read' && e.pid === server.pid && text(e).startsWith(`GET /p/${m} `)), show);
    assert.equal(job.runs[0].ssl.noSocketCalls, 0, JSON.stringify(job.runs[0].ssl));

    const other = await startRunningJob(stack, { type: 'ssl-capture', durationSec: 4, target: { comm: COMM }, filter: { ports: [port === 1 ? 2 : port - 1] } }, stack.captureToken);
    assert.equal(request(`/q/${m}`, 'Bearer x').status, 0);
    const otherJob = await waitJob(stack, other, 30_000);
    const none = await capture(`/jobs/${other}/ssl-events?order=oldest&limit=1000`);
    assert.equal((none.json.events as EventView[]).filter((e) => e.comm === COMM).length, 0, JSON.stringify(none.json.events));
    assert.ok(otherJob.runs[0].ssl.filteredCalls >= 4, JSON.stringify(otherJob.runs[0].ssl));
  });

  it('a stripped Go program: the run names Go\'s crypto/tls without symbols, and fails for a pid target', async () => {
    const stripped = join(dir, 'tfgostrip');
    const strip = spawnSync('strip', ['-o', stripped, bin], { encoding: 'utf8' });
    assert.equal(strip.status, 0, strip.stderr);
    const cert = selfSignedCert(dir);
    const s = launchCollecting(children, stripped, ['server', cert.cert, cert.key]);
    await waitFor(async () => /"port":\d+/.test(s.output()), 10_000, 'the stripped Go server');
    const res = await capture('/jobs', 'POST', { type: 'ssl-capture', durationSec: 2, target: { pid: s.pid }, nodes: 'all' });
    assert.equal(res.status, 201, res.text);
    const job = await waitJob(stack, res.json.id, 20_000);
    assert.equal(job.status, 'failed');
    assert.match(job.runs[0].reason, new RegExp(`pid ${s.pid} \\(tfgostrip\\): .*it uses Go's crypto/tls without symbols .*which ssl-capture does not cover`));
    s.kill('SIGKILL');
  });
});
