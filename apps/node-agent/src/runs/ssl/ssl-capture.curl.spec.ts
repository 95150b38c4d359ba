// SslCaptureRun on the real kernel and the real addon: curl (system libssl.so.3) and a node
// client (OpenSSL linked into /usr/bin/node) talking to an HTTPS server in this process, which
// is the "agent" here and so must never show up in the capture.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { objectPath } from '@tracefleet/bpf';
import { SslTracer, Symbolizer } from '@tracefleet/native';
import { SslDirection, SslFunction, type AgentMessage, type SslCaptureSpec, type SslEvent, type SslReport, type StartRun } from '@tracefleet/proto';
import { loadConfig } from '../../config';
import { SslCaptureRun, type SslNativeParts } from './ssl-capture.run';
import { REDACTED } from './redact';

const cfg = loadConfig({ TRACEFLEET_CA_CERT: '/fleet/ca.pem', TRACEFLEET_ENROLLMENT_TOKEN: 'x'.repeat(32), TRACEFLEET_NODE_NAME: 'n1' });
const LIBSSL = '/usr/lib/x86_64-linux-gnu/libssl.so.3';

const native: SslNativeParts = {
  createSslTracer: (opts) => new SslTracer({ objectPath: objectPath('ssl'), ...opts }),
  createSymbolizer: () => new Symbolizer(),
};

/** BPF links and perf events this process holds: back to the baseline once a run is over. */
function probeFds(): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const l = readlinkSync(`/proc/self/fd/${fd}`);
      if (l === 'anon_inode:bpf_link' || l === 'anon_inode:bpf-link' || l === 'anon_inode:[perf_event]') n++;
    } catch {
      // closed meanwhile
    }
  }
  return n;
}

/**
 * An HTTPS server speaking just enough HTTP/1.1, on raw TLS so that the test knows every
 * plaintext byte both ways: what arrived (the request) and what it wrote (the response).
 */
class TinyHttps {
  readonly requests: Buffer[] = [];
  readonly responses: Buffer[] = [];
  private server!: tls.Server;
  port = 0;

  async start(dir: string): Promise<void> {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem')], { stdio: 'ignore' });
    this.server = tls.createServer({ key: readFileSync(join(dir, 'k.pem')), cert: readFileSync(join(dir, 'c.pem')) }, (sock) => {
      let got = Buffer.alloc(0);
      sock.on('data', (d: Buffer) => {
        got = Buffer.concat([got, d]);
        const end = got.indexOf('\r\n\r\n');
        if (end < 0) return;
        this.requests.push(got.subarray(0, end + 4));
        const path = /^GET (\S+)/.exec(got.toString('latin1'))?.[1] ?? '/';
        const body = `marker tracefleet-ssl ${path}\n`;
        const resp = Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`, 'latin1');
        this.responses.push(resp);
        sock.end(resp);
      });
      sock.on('error', () => {});
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as { port: number }).port;
  }

  close(): void {
    this.server.close();
  }
}

interface Outcome {
  events: SslEvent[];
  report: SslReport;
  finished: Extract<NonNullable<AgentMessage['msg']>, { $case: 'runFinished' }>['value'];
}

/** Runs a capture; `during` starts once the run reported STARTED and ends it (stop) when it resolves, unless the target ends it. */
async function capture(target: StartRun['target'], s: Partial<SslCaptureSpec>, during: () => Promise<void>): Promise<Outcome> {
  const sent: AgentMessage[] = [];
  let started!: () => void;
  const startedP = new Promise<void>((r) => (started = r));
  const sink = {
    send: async (m: AgentMessage) => {
      sent.push(m);
      if (m.msg?.$case === 'runEvent' && m.msg.value.kind === 1) started();
      if (m.msg?.$case === 'runFinished') started();
    },
  };
  const spec: SslCaptureSpec = {
    filterPrefixes: [],
    filterPorts: [],
    maxDataBytes: 4096,
    binaries: [],
    userStacks: false,
    maxEvents: 10_000,
    maxTotalBytes: 1n << 20n,
    redactHeaders: [],
    redactPatterns: [],
    redactionOff: false,
    handshakes: false,
    ...s,
  };
  const run = new SslCaptureRun({ jobId: 'j', runId: 'r', durationSec: 20, target, startAtUnixMs: 0n, spec: { $case: 'sslCapture', value: spec } }, cfg, sink, native, (m) => process.env.TF_DEBUG && console.log(m));
  const done = run.run();
  await startedP;
  const early = sent.find((m) => m.msg?.$case === 'runFinished');
  if (!early) {
    await during();
    await new Promise((r) => setTimeout(r, 400)); // the last events reach the ring buffer
    run.stop('test done');
  }
  await done;
  const events = sent.flatMap((m) => (m.msg?.$case === 'sslEvents' ? m.msg.value.events : []));
  const report = sent.find((m) => m.msg?.$case === 'sslReport')?.msg?.value as SslReport;
  const fin = sent.at(-1)!.msg!;
  assert.equal(fin.$case, 'runFinished');
  return { events, report, finished: (fin as { value: Outcome['finished'] }).value };
}

const text = (e: SslEvent) => Buffer.from(e.data).toString('latin1');

describe('SslCaptureRun on the real kernel', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tf-ssl-run-'));
  const server = new TinyHttps();
  before(async () => {
    assert.ok(existsSync('/usr/bin/curl'), '/usr/bin/curl is missing: apt-get install curl');
    assert.ok(existsSync(LIBSSL), `${LIBSSL} is missing: apt-get install libssl3`);
    await server.start(dir);
  });
  after(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('captures curl\'s request and the response with exact lengths and directions, Authorization redacted', async () => {
    const baseline = probeFds();
    const token = `tok-${process.pid}-SECRET`;
    const path = `/curl-marker-${Date.now()}`;
    let curlPid = 0;
    const { events, report, finished } = await capture({ kind: { $case: 'comm', value: 'curl' } }, { handshakes: true }, async () => {
      const c = spawn('curl', ['-sk', '--http1.1', '-o', '/dev/null', '-H', `Authorization: Bearer ${token}`, `https://127.0.0.1:${server.port}${path}`], { stdio: 'ignore' });
      curlPid = c.pid!;
      const code = await new Promise<number>((r) => c.on('exit', (x) => r(x ?? -1)));
      assert.equal(code, 0, 'curl failed');
    });
    assert.ok(finished.ok, finished.reason);
    assert.equal(probeFds(), baseline, 'probes left attached after the run');

    const mine = events.filter((e) => e.pid === curlPid);
    assert.ok(mine.length > 0, `no events from curl (pid ${curlPid}); report ${JSON.stringify(report, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`);
    assert.ok(events.every((e) => e.pid !== process.pid), 'the agent traced itself');
    assert.ok(mine.every((e) => e.comm === 'curl' && e.binary === LIBSSL));

    const request = server.requests.find((r) => r.includes(path))!;
    const response = server.responses.find((r) => r.includes(path))!;
    const writes = mine.filter((e) => e.direction === SslDirection.SSL_DIRECTION_WRITE && e.length > 0n);
    const reads = mine.filter((e) => e.direction === SslDirection.SSL_DIRECTION_READ && e.length > 0n);
    // every plaintext byte curl wrote and read, in order, with the call's real length
    assert.equal(writes.reduce((a, e) => a + e.length, 0n), BigInt(request.length));
    assert.equal(reads.reduce((a, e) => a + e.length, 0n), BigInt(response.length));
    assert.ok(writes.every((e) => [SslFunction.SSL_FUNCTION_WRITE, SslFunction.SSL_FUNCTION_WRITE_EX].includes(e.function) && !e.truncated));
    const sentText = writes.map(text).join('');
    assert.ok(sentText.startsWith(`GET ${path} HTTP/1.1\r\n`), sentText);
    assert.equal(sentText, request.toString('latin1').replace(`Bearer ${token}`, REDACTED));
    assert.ok(!events.some((e) => text(e).includes(token)), 'the token left the agent');
    assert.equal(reads.map(text).join(''), response.toString('latin1'));
    assert.ok(reads.some((e) => text(e).includes(`marker tracefleet-ssl ${path}`)));
    const first = writes[0];
    assert.equal(first.redactions, 1);
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    assert.ok(nowNs - first.atUnixNs < 30_000_000_000n && first.atUnixNs < nowNs, 'at_unix_ns on the wall clock');
    assert.ok(first.latencyNs > 0n);
    assert.ok(mine.some((e) => e.direction === SslDirection.SSL_DIRECTION_HANDSHAKE && e.data.length === 0));

    assert.ok(report.redactions >= 1n);
    assert.ok(report.eventsSent >= BigInt(mine.length));
    assert.ok(report.attached.some((a) => a.startsWith(`SSL_read in ${LIBSSL} (OpenSSL): entry +`)), report.attached.join('\n'));
    assert.equal(finished.samplesSent, report.eventsSent);
  });

  it('captures a node client (OpenSSL inside /usr/bin/node) by pid, and ends when it exits', async () => {
    const baseline = probeFds();
    const path = `/node-marker-${Date.now()}`;
    const script = `
      const https = require('node:https');
      setTimeout(() => https.get({ host: '127.0.0.1', port: ${server.port}, path: '${path}', rejectUnauthorized: false,
        headers: { Cookie: 'sid=NODE-SECRET', 'X-Trace': 'keep' } }, (res) => { res.resume(); res.on('end', () => setTimeout(() => process.exit(0), 300)); }), 1500);`;
    const child = spawn('/usr/bin/node', ['-e', script], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 300)); // node mapped
    const { events, report, finished } = await capture({ kind: { $case: 'pid', value: child.pid! } }, {}, () => new Promise((r) => child.on('exit', r)));
    assert.ok(finished.ok, finished.reason);
    assert.equal(probeFds(), baseline, 'probes left attached after the run');
    assert.ok(report.attached.some((a) => a.startsWith('SSL_write in /usr/bin/node (OpenSSL): ')), report.attached.join('\n'));
    assert.ok(events.every((e) => e.pid === child.pid && e.binary === '/usr/bin/node'));
    const request = server.requests.find((r) => r.includes(path))!;
    const writes = events.filter((e) => e.direction === SslDirection.SSL_DIRECTION_WRITE && e.length > 0n);
    assert.equal(writes.reduce((a, e) => a + e.length, 0n), BigInt(request.length));
    const sentText = writes.map(text).join('');
    assert.ok(sentText.startsWith(`GET ${path} HTTP/1.1\r\n`), sentText);
    assert.ok(sentText.includes(`Cookie: ${REDACTED}\r\n`) && sentText.includes('X-Trace: keep\r\n'), sentText);
    assert.ok(!sentText.includes('NODE-SECRET'));
    const reads = events.filter((e) => e.direction === SslDirection.SSL_DIRECTION_READ && e.length > 0n);
    assert.ok(reads.map(text).join('').includes(`marker tracefleet-ssl ${path}`));
  });
});
