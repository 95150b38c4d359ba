import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { E2E_DB, FIXTURES, WORK, sleep, startRunningJob, startStack, waitFor, waitJob, type Stack } from './harness';
import { launchCollecting, selfSignedCert, type Launched } from './processes';

const LIBSSL = '/usr/lib/x86_64-linux-gnu/libssl.so.3';
const NODE = '/usr/bin/node';
const PYTHON = '/usr/bin/python3.11';
const CURL = '/usr/bin/curl';
const WGET = '/usr/bin/wget';

interface ServerLine {
  method: string;
  path: string;
  requestLength: number;
  responseLength: number;
  body: string;
}

interface SslEventView {
  id: string;
  node: string;
  pid: number;
  comm: string;
  function: string;
  library: string;
  direction: string;
  ret: number;
  length: number;
  latencyNs: string;
  at: string;
  truncated: boolean;
  redactions: number;
  binary: string;
  dataBase64: string;
}


describe('ssl-capture jobs, end to end on the real kernel', () => {
  let stack: Stack;
  let server: Launched;
  let port = 0;
  const children: ChildProcess[] = [];
  const dir = join(WORK, `ssl-${process.pid}`);

  const launch = (cmd: string, args: string[]): Launched => launchCollecting(children, cmd, args);

  before(async () => {
    for (const f of [LIBSSL, NODE, PYTHON, CURL, WGET]) {
      if (!existsSync(f)) throw new Error(`${f} is missing: npm run setup installs curl, wget, nodejs, python3.11 and OpenSSL 3`);
    }
    mkdirSync(dir, { recursive: true });
    const cert = selfSignedCert(dir);
    server = launch(NODE, [join(FIXTURES, 'tls_echo_server.js'), cert.cert, cert.key]);
    await waitFor(async () => /"port":\d+/.test(server.output()), 10_000, 'the TLS test server');
    port = JSON.parse(server.output().split('\n')[0]).port;
    // A killed agent's run fails once it has been silent past the run grace period (below: SIGKILL mid-job).
    stack = await startStack({ env: { TRACEFLEET_RUN_GRACE_MS: '3000' } });
  });

  after(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const marker = (): string => randomBytes(6).toString('hex');
  const capture = (path: string, method = 'GET', body?: unknown) => stack.api(method, path, body, stack.captureToken);
  const startJob = (body: Record<string, unknown>): Promise<string> =>
    startRunningJob(stack, { type: 'ssl-capture', maxDataBytes: 4096, ...body }, stack.captureToken);

  /** The test server's line for one request: the exact plaintext lengths it received and sent. */
  async function served(path: string): Promise<ServerLine> {
    let line: ServerLine | undefined;
    await waitFor(async () => {
      line = server
        .output()
        .split('\n')
        .filter((l) => l.startsWith('{"method"'))
        .map((l) => JSON.parse(l) as ServerLine)
        .find((l) => l.path === path);
      return line !== undefined;
    }, 10_000, `the server to answer ${path}`);
    return line!;
  }

  async function allEvents(id: string, query = ''): Promise<SslEventView[]> {
    const out: SslEventView[] = [];
    let after: string | null = null;
    do {
      const res = await capture(`/jobs/${id}/ssl-events?order=oldest&limit=1000${query}${after ? `&after=${after}` : ''}`);
      assert.equal(res.status, 200, res.text);
      out.push(...res.json.events);
      after = res.json.nextCursor;
    } while (after);
    return out;
  }

  const text = (e: SslEventView): string => Buffer.from(e.dataBase64, 'base64').toString('latin1');

  /** The request the client wrote and the response it read, checked against what the server saw. */
  function checkExchange(events: SslEventView[], pid: number, path: string, line: ServerLine, fns: { write: string; read: string }): { write: SslEventView; read: SslEventView } {
    const mine = events.filter((e) => e.pid === pid);
    const writes = mine.filter((e) => e.direction === 'write' && text(e).startsWith(`GET ${path} HTTP/1.1\r\n`));
    assert.equal(writes.length, 1, `writes of the request line by pid ${pid}: ${JSON.stringify(mine.map((e) => [e.function, e.direction, e.length, text(e).slice(0, 40)]))}`);
    const write = writes[0];
    assert.equal(write.function, fns.write);
    assert.equal(write.length, line.requestLength, 'SSL_write moved exactly the bytes the server received');
    assert.equal(write.truncated, false);
    const reads = mine.filter((e) => e.direction === 'read' && text(e).includes(line.body.trim()));
    assert.equal(reads.length, 1, `reads with ${line.body.trim()}: ${JSON.stringify(mine.map((e) => [e.function, e.direction, e.length]))}`);
    const read = reads[0];
    assert.equal(read.function, fns.read);
    assert.equal(read.length, line.responseLength, 'SSL_read moved exactly the bytes the server sent in its one record');
    assert.equal(Buffer.from(read.dataBase64, 'base64').length, line.responseLength);
    assert.match(text(read), /^HTTP\/1\.1 200 OK\r\n/);
    assert.ok(BigInt(write.latencyNs) > 0n && BigInt(read.latencyNs) > 0n);
    return { write, read };
  }

  /**
   * Bytes of libssl's executable mapping in a live process that differ from the file: a uprobe
   * is an int3 written into the process's copy of the page, so 0 means none is installed there.
   */
  function patchedBytes(pid: number): number {
    const maps = readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n');
    const text = maps.map((l) => l.split(/\s+/)).find((f) => f[1]?.includes('x') && f[5] === LIBSSL);
    assert.ok(text, `pid ${pid} does not map ${LIBSSL} executable`);
    const [start, end] = text[0].split('-').map((h) => parseInt(h, 16));
    const offset = parseInt(text[2], 16);
    const length = end - start;
    const live = Buffer.alloc(length);
    const file = Buffer.alloc(length);
    const mem = openSync(`/proc/${pid}/mem`, 'r');
    try {
      readSync(mem, live, 0, length, start);
    } finally {
      closeSync(mem);
    }
    const fd = openSync(LIBSSL, 'r');
    try {
      readSync(fd, file, 0, length, offset);
    } finally {
      closeSync(fd);
    }
    let differ = 0;
    for (let i = 0; i < length; i++) if (live[i] !== file[i]) differ++;
    return differ;
  }

  /** Streams a pg_dump of the whole test database and says which needles occur in it. */
  async function dumpContains(needles: string[]): Promise<boolean[]> {
    const found = needles.map(() => false);
    const keep = Math.max(...needles.map((n) => n.length));
    const dump = spawn('pg_dump', ['-h', '127.0.0.1', '-U', 'postgres', '--data-only', E2E_DB], { stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    let err = '';
    dump.stderr!.on('data', (d) => (err += d));
    for await (const chunk of dump.stdout!) {
      const text = tail + chunk.toString('latin1');
      needles.forEach((n, i) => (found[i] ||= text.includes(n)));
      tail = text.slice(-keep);
    }
    const code = await new Promise<number | null>((resolve) => (dump.exitCode !== null ? resolve(dump.exitCode) : dump.once('exit', resolve)));
    assert.equal(code, 0, `pg_dump failed: ${err}`);
    return found;
  }

  function uprobeEvents(): string {
    if (!existsSync('/sys/kernel/tracing/uprobe_events')) execFileSync('mount', ['-t', 'tracefs', 'nodev', '/sys/kernel/tracing']);
    return readFileSync('/sys/kernel/tracing/uprobe_events', 'utf8');
  }

  it('curl started after the job began: request and response with exact lengths, live on the stream, Authorization redacted and nowhere in the database', async () => {
    const m = marker();
    const path = `/c/${m}`;
    const secret = `tf-secret-${randomBytes(12).toString('hex')}`;
    const id = await startJob({ durationSec: 6, target: { comm: 'curl' } });

    // The live view: open the stream before curl runs; the request must show up on it while the job runs.
    const ac = new AbortController();
    const live = await fetch(`${stack.base}/jobs/${id}/ssl-events/stream`, { headers: { authorization: `Bearer ${stack.captureToken}` }, signal: ac.signal });
    assert.equal(live.status, 200);
    assert.match(live.headers.get('content-type') ?? '', /text\/event-stream/);
    let streamed = '';
    const reading = (async () => {
      const decoder = new TextDecoder();
      try {
        for await (const chunk of live.body as unknown as AsyncIterable<Uint8Array>) streamed += decoder.decode(chunk, { stream: true });
      } catch {
        // aborted below
      }
    })();

    const curl = spawnSync(CURL, ['-sk', '--http1.1', '-H', `Authorization: Bearer ${secret}`, `https://127.0.0.1:${port}${path}`], { encoding: 'utf8' });
    assert.equal(curl.status, 0, curl.stderr);
    assert.equal(curl.stdout, `response-for-${m}\n`);
    const line = await served(path);
    await waitFor(async () => streamed.includes('event: ssl') && streamed.includes(m), 10_000, 'the request on the live stream');
    const jobWhileLive = (await capture(`/jobs/${id}`)).json;
    assert.ok(!['completed', 'failed', 'partial'].includes(jobWhileLive.status), `the stream showed the event only after the job ended (${jobWhileLive.status})`);

    const job = await waitJob(stack, id, 30_000);
    assert.equal(job.status, 'completed', JSON.stringify(job.runs));
    await waitFor(async () => streamed.includes('event: status'), 10_000, 'the stream to report the end of the job');
    ac.abort();
    await reading;

    const events = await allEvents(id);
    const curlPid = events.find((e) => e.comm === 'curl' && text(e).startsWith(`GET ${path} `))?.pid;
    assert.ok(curlPid, `no curl request in ${events.length} events`);
    assert.ok(events.every((e) => e.comm === 'curl'), `the comm filter let in ${[...new Set(events.map((e) => e.comm))]}`);
    const { write } = checkExchange(events, curlPid, path, line, { write: 'SSL_write', read: 'SSL_read' });
    assert.equal(write.binary.endsWith('libssl.so.3'), true, write.binary);

    // Redaction happened on the agent: the stored request has the header with its value replaced.
    assert.match(text(write), /\r\nAuthorization: \[REDACTED\]\r\n/i);
    assert.ok(write.redactions >= 1);
    assert.ok(!text(write).includes(secret));
    // bytea columns dump as hex: the request's path must be found that way, or the checks below would prove nothing.
    const found = await dumpContains([Buffer.from(`GET ${path}`).toString('hex'), secret, Buffer.from(secret).toString('hex')]);
    assert.ok(found[0], 'pg_dump does not hold the captured request at all');
    assert.ok(!found[1], 'the raw Authorization value is in the database');
    assert.ok(!found[2], 'the raw Authorization value is in the database (bytea hex)');

    // HTTP/1.x summaries parsed from the capture.
    const http = await capture(`/jobs/${id}/http`);
    assert.equal(http.status, 200, http.text);
    const exchanges = JSON.stringify(http.json);
    assert.ok(exchanges.includes(path) && exchanges.includes('200'), exchanges.slice(0, 2000));

    // The plaintext needs the capture scope.
    assert.equal((await stack.api('GET', `/jobs/${id}/ssl-events`)).status, 403);
    assert.equal((await stack.api('GET', `/jobs/${id}/ssl-events`, undefined, null)).status, 401);
  });

  it('wget (GnuTLS) started after the job began: request line and response body through gnutls_record_send/recv, Authorization redacted, the library named per event and per connection', async () => {
    const m = marker();
    const path = `/w/${m}`;
    const secret = `tf-secret-${randomBytes(12).toString('hex')}`;
    const id = await startJob({ durationSec: 5, target: { comm: 'wget' } });
    const wget = spawnSync(WGET, ['-q', '-O', '-', '--no-check-certificate', '--tries=1', '--timeout=10', `--header=Authorization: Bearer ${secret}`, `https://127.0.0.1:${port}${path}`], {
      encoding: 'utf8',
    });
    assert.equal(wget.status, 0, wget.stderr);
    assert.equal(wget.stdout, `response-for-${m}\n`);
    const line = await served(path);
    const job = await waitJob(stack, id, 30_000);
    assert.equal(job.status, 'completed', JSON.stringify(job.runs));
    assert.ok(JSON.stringify(job.runs[0].ssl?.attached ?? []).includes('gnutls_record_recv in '), `attached: ${JSON.stringify(job.runs[0].ssl)}`);

    const events = await allEvents(id);
    const mine = events.filter((e) => e.comm === 'wget' && e.direction !== 'handshake');
    const writes = mine.filter((e) => e.direction === 'write' && text(e).startsWith(`GET ${path} HTTP/1.1\r\n`));
    assert.equal(writes.length, 1, JSON.stringify(mine.map((e) => [e.function, e.direction, e.length, text(e).slice(0, 40)])));
    const write = writes[0];
    assert.equal(write.function, 'gnutls_record_send');
    assert.equal(write.library, 'gnutls');
    assert.match(write.binary, /\/libgnutls\.so\.30/);
    assert.equal(write.length, line.requestLength, 'gnutls_record_send moved exactly the bytes the server received');
    assert.match(text(write), /\r\nAuthorization: \[REDACTED\]\r\n/i);
    assert.ok(!text(write).includes(secret));
    // What wget read on that connection is the server's response, byte for byte, whatever sizes it asked for.
    const reads = mine.filter((e) => e.direction === 'read' && e.pid === write.pid && e.ret > 0);
    assert.ok(reads.length >= 1 && reads.every((e) => e.function === 'gnutls_record_recv' && e.library === 'gnutls'), JSON.stringify(reads.map((e) => [e.function, e.length])));
    const response = reads.map(text).join('');
    assert.equal(reads.reduce((a, e) => a + e.length, 0), line.responseLength, 'gnutls_record_recv moved exactly the bytes the server sent');
    assert.match(response, /^HTTP\/1\.1 200 OK\r\n/);
    assert.ok(response.endsWith(`\r\n\r\nresponse-for-${m}\n`), response);
    const [found] = await dumpContains([secret]);
    assert.ok(!found, 'the raw Authorization value is in the database');

    const http = await capture(`/jobs/${id}/http`);
    assert.equal(http.status, 200, http.text);
    const conn = http.json.connections.find((c: { pid: number }) => c.pid === write.pid);
    assert.ok(conn, JSON.stringify(http.json).slice(0, 2000));
    assert.equal(conn.library, 'gnutls');
    assert.equal(conn.exchanges?.[0]?.path, path);
    assert.equal(conn.exchanges?.[0]?.status, 200);
  });

  it('an NSS client (PR_Write/PR_Recv through libnspr4.so on its SSL layer), by pid: request and response with exact lengths, its plain-file PR_Write not captured', async () => {
    const flags = (pkg: string) => execFileSync('pkg-config', [pkg, 'nss'], { encoding: 'utf8' }).trim().split(/\s+/);
    const bin = join(dir, 'tfnssclient');
    execFileSync('gcc', ['-O1', '-g', ...flags('--cflags'), '-o', bin, join(FIXTURES, 'nss_client.c'), ...flags('--libs')], { stdio: 'inherit' });
    const m = marker();
    const path = `/nss/${m}`;
    const client = spawn(bin, [String(port), path, join(dir, `scratch-${m}`)], { stdio: ['pipe', 'pipe', 'inherit'] });
    children.push(client);
    let out = '';
    client.stdout!.on('data', (d) => (out += d));
    await waitFor(async () => out.includes('ready'), 10_000, 'the NSS client');
    const id = await startJob({ durationSec: 4, target: { pid: client.pid } });
    client.stdin!.end('go\n');
    await waitFor(async () => out.includes('\ndone '), 10_000, 'the NSS client to finish');
    const line = await served(path);
    const job = await waitJob(stack, id, 30_000);
    assert.ok(['completed', 'partial'].includes(job.status), JSON.stringify(job.runs));
    assert.ok(job.runs[0].ssl.attached.some((a: string) => /^PR_Write in \S+\/libnspr4\.so \(NSS\)/.test(a)), job.runs[0].ssl.attached.join('\n'));
    const events = await allEvents(id);
    assert.ok(events.every((e) => e.library === 'nss' && e.pid === client.pid), JSON.stringify(events.map((e) => [e.function, e.library, e.pid])));
    assert.ok(!events.some((e) => text(e).includes('/plain-file-not-tls')), 'a PR_Write to a plain file was captured');
    const writes = events.filter((e) => e.direction === 'write');
    assert.deepEqual(writes.map((e) => [e.function, text(e).split('\r\n')[0], e.length]), [['PR_Write', `GET ${path} HTTP/1.1`, line.requestLength]]);
    const reads = events.filter((e) => e.direction === 'read' && e.length > 0);
    assert.deepEqual(reads.map((e) => [e.function, e.length]), [['PR_Recv', line.responseLength]]);
    assert.ok(text(reads[0]).endsWith(line.body));
  });

  it('OpenSSL linked in statically and not exported (as BoringSSL is in Envoy), by pid: found through .symtab, request and response captured', async () => {
    const bin = join(dir, 'tfstatictls');
    const lib = '/usr/lib/x86_64-linux-gnu';
    execFileSync('gcc', ['-O1', '-o', bin, join(FIXTURES, 'static_tls_client.c'), `${lib}/libssl.a`, `${lib}/libcrypto.a`, '-ldl', '-pthread'], { stdio: 'inherit' });
    const m = marker();
    const path = `/static/${m}`;
    const client = spawn(bin, [String(port), path], { stdio: ['pipe', 'pipe', 'inherit'] });
    children.push(client);
    let out = '';
    client.stdout!.on('data', (d) => (out += d));
    await waitFor(async () => out.includes('ready'), 10_000, 'the static TLS client');
    const id = await startJob({ durationSec: 3, target: { pid: client.pid } });
    client.stdin!.end('go\n');
    await waitFor(async () => out.includes('\ndone'), 10_000, 'the static TLS client to finish');
    const line = await served(path);
    const job = await waitJob(stack, id, 30_000);
    assert.ok(['completed', 'partial'].includes(job.status), JSON.stringify(job.runs));
    const events = await allEvents(id);
    assert.ok(events.every((e) => e.binary === bin && e.library === 'openssl'), JSON.stringify(events.map((e) => [e.binary, e.library])));
    checkExchange(events, client.pid!, path, line, { write: 'SSL_write', read: 'SSL_read' });
  });

  it('a process whose TLS library is not covered (a JVM: JSSE): the run says which, by pid', async () => {
    writeFileSync(join(dir, 'Sleep.java'), 'public class Sleep { public static void main(String[] a) throws Exception { System.out.println("ready"); Thread.sleep(30000); } }');
    const jvm = launch('/usr/lib/jvm/java-17-openjdk-amd64/bin/java', [join(dir, 'Sleep.java')]);
    await waitFor(async () => jvm.output().includes('ready'), 30_000, 'the JVM');
    const res = await capture('/jobs', 'POST', { type: 'ssl-capture', durationSec: 2, target: { pid: jvm.pid }, nodes: 'all' });
    assert.equal(res.status, 201, res.text);
    const job = await waitJob(stack, res.json.id, 20_000);
    assert.equal(job.status, 'failed');
    assert.match(job.runs[0].reason, new RegExp(`pid ${jvm.pid} \\(java\\): .*it uses a JVM's TLS \\(JSSE, implemented in Java\\) \\(\\S*libjvm\\.so\\), which ssl-capture does not cover`));
    jvm.kill('SIGKILL');
  });

  it('a Node.js HTTPS client (OpenSSL linked statically into /usr/bin/node), by pid', async () => {
    const m = marker();
    const path = `/n/${m}`;
    const go = join(dir, `node-${m}.go`);
    const client = launch(NODE, [join(FIXTURES, 'https_client.js'), `https://127.0.0.1:${port}${path}`, go, '1', '0']);
    await waitFor(async () => client.output().includes('ready'), 10_000, 'the node client');
    const id = await startJob({ durationSec: 4, target: { pid: client.pid } });
    writeFileSync(go, '');
    await waitFor(async () => client.output().includes('ok 1'), 10_000, `the node client's request: ${client.output()}`);
    const line = await served(path);
    const job = await waitJob(stack, id, 30_000);
    assert.equal(job.status, 'completed', JSON.stringify(job.runs));
    const events = await allEvents(id, `&pid=${client.pid}`);
    const { write } = checkExchange(events, client.pid!, path, line, { write: 'SSL_write', read: 'SSL_read' });
    assert.match(write.binary, /\/usr\/bin\/node$/);
    assert.ok(events.every((e) => e.pid === client.pid));
    assert.ok(JSON.stringify(job.runs[0].ssl).includes('/usr/bin/node'), `attached: ${JSON.stringify(job.runs[0].ssl)}`);
  });

  it('a duty cycle (500 ms in every 3000 ms): calls are captured only inside the windows, and the run gives the fraction attached', async () => {
    const m = marker();
    const go = join(dir, `duty-${m}.go`);
    const client = launch(NODE, [join(FIXTURES, 'https_client.js'), `https://127.0.0.1:${port}/d/${m}`, go, '70', '100']);
    await waitFor(async () => client.output().includes('ready'), 10_000, 'the node client');
    const id = await startJob({ durationSec: 7, target: { pid: client.pid }, dutyOnMs: 500, dutyPeriodMs: 3000 });
    writeFileSync(go, '');
    const job = await waitJob(stack, id, 30_000);
    assert.equal(job.status, 'completed', JSON.stringify(job.runs));
    const made = (client.output().match(/^ok \d+ /gm) ?? []).length;
    const writes = (await allEvents(id, `&pid=${client.pid}`)).filter((e) => e.direction === 'write' && text(e).startsWith(`GET /d/${m} `));
    const note = /duty cycle: probes attached 500 ms in every 3000 ms, ([\d.]+)% of the ([\d.]+) s run in (\d+) window\(s\).*taking them out took (\d+) ms a window/.exec(job.runs[0].reason ?? '');
    assert.ok(note, JSON.stringify(job.runs[0]));
    assert.match(job.runs[0].reason ?? '', /\(uprobe_multi links: the kernel waits/, 'this kernel (6.6+) links the probes through uprobe_multi');
    // Attached: the window, plus the time the kernel takes to remove the probes (counted as attached).
    const [fraction, runSec, windows, outMs] = [Number(note[1]) / 100, Number(note[2]), Number(note[3]), Number(note[4])];
    console.log(`# duty cycle: ${note[0]}; ${writes.length} of ${made} requests captured`);
    assert.ok(fraction >= 0.5 / 3 && fraction <= (windows * (500 + outMs + 150)) / (runSec * 1000), `attached ${note[1]}%: ${job.runs[0].reason}`);
    assert.ok(windows >= 3, `${windows} windows in 7 s`);
    assert.ok(writes.length >= 3 && writes.length < 0.75 * made, `${writes.length} requests captured of ${made} made`);
    const times = writes.map((e) => Date.parse(e.at)).sort((a, b) => a - b);
    const shown = times.map((t) => t - times[0]).join(', ');
    const bursts: number[][] = [];
    for (const t of times) (bursts.length && t - bursts.at(-1)!.at(-1)! < 1200 ? bursts.at(-1)! : (bursts.push([]), bursts.at(-1)!)).push(t);
    assert.ok(bursts.length >= 2, `captures in ${bursts.length} burst(s): ${shown}`);
    for (const b of bursts) assert.ok(b.at(-1)! - b[0] <= 500 + outMs + 300, `a burst ${b.at(-1)! - b[0]} ms long (window 500 ms, removal ${outMs} ms): ${shown}`);
    for (let i = 1; i < bursts.length; i++) assert.ok(Math.abs(bursts[i][0] - bursts[i - 1][0] - 3000) <= 400, `bursts ${bursts[i][0] - bursts[i - 1][0]} ms apart, the period is 3000 ms: ${shown}`);
    client.kill('SIGKILL');

    // Both duty cycle fields, or neither; the window shorter than the period, the period within the job.
    for (const [extra, re] of [
      [{ dutyOnMs: 500 }, /dutyPeriodMs is needed/],
      [{ dutyOnMs: 2000, dutyPeriodMs: 2000 }, /dutyOnMs must be less than dutyPeriodMs/],
      [{ dutyOnMs: 500, dutyPeriodMs: 9000 }, /dutyPeriodMs must be at most durationSec/],
      [{ dutyOnMs: 50, dutyPeriodMs: 1000 }, /dutyOnMs must not be less than 100/],
    ] as [Record<string, unknown>, RegExp][]) {
      const res = await capture('/jobs', 'POST', { type: 'ssl-capture', durationSec: 5, target: { all: true }, nodes: 'all', ...extra });
      assert.equal(res.status, 400, `${JSON.stringify(extra)} → ${res.status} ${res.text}`);
      assert.match(JSON.stringify(res.json.message), re);
    }
  });

  it('headers only with a prefix filter: heads kept, bodies skipped in the kernel and carried as skippedBytes, another connection filtered out; /http still frames both exchanges', async () => {
    const m = marker();
    const first = `/keep/${m}-1?size=40000`;
    const second = `/keep/${m}-2`;
    const dropped = `/drop/${m}-3`;
    const id = await startJob({ durationSec: 6, target: { comm: 'curl' }, mode: 'headers', filter: { prefixes: ['GET /keep/'] } });
    // One curl, two requests on one keep-alive connection; then another curl whose connection never matches.
    const keep = spawnSync(CURL, ['-sk', '--http1.1', '-o', '/dev/null', '-o', '/dev/null', `https://127.0.0.1:${port}${first}`, `https://127.0.0.1:${port}${second}`], { encoding: 'utf8' });
    assert.equal(keep.status, 0, keep.stderr);
    const drop = spawnSync(CURL, ['-sk', '--http1.1', `https://127.0.0.1:${port}${dropped}`], { encoding: 'utf8' });
    assert.equal(drop.status, 0, drop.stderr);
    const [line1, line2] = [await served(first), await served(second)];
    await served(dropped);
    const job = await waitJob(stack, id, 30_000);
    assert.equal(job.status, 'completed', JSON.stringify(job.runs));

    const events = await allEvents(id);
    assert.ok(!events.some((e) => text(e).includes('/drop/') || text(e).includes(`response-for-${m}-3`)), 'the filtered connection was captured');
    const reqs = events.filter((e) => e.direction === 'write');
    assert.deepEqual(reqs.map((e) => text(e).split('\r\n')[0]), [`GET ${first} HTTP/1.1`, `GET ${second} HTTP/1.1`]);
    assert.deepEqual(reqs.map((e) => e.length), [line1.requestLength, line2.requestLength]);
    const reads = events.filter((e) => e.direction === 'read');
    assert.equal(reads.length, 2, `read events: ${JSON.stringify(reads.map((e) => [e.length, text(e).slice(0, 30)]))}`);
    for (const r of reads) {
      assert.match(text(r), /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\n$/, 'a kept read holds the head and nothing after it');
    }
    assert.equal(reads[0].truncated, true, 'the first response head was cut from its body');
    // The bytes of the first response past its first SSL_read were skipped in the kernel, and are carried by the next head.
    const carried = reads[1] as SslEventView & { skippedBytes?: number | string; skippedCalls?: number };
    assert.equal(reads[0].length + Number(carried.skippedBytes), line1.responseLength, `first read ${reads[0].length} + skipped ${carried.skippedBytes} vs ${line1.responseLength} sent`);
    assert.ok(Number(carried.skippedCalls) >= 2, `skipped calls ${carried.skippedCalls}`);
    assert.equal(reads[1].length, line2.responseLength);

    const run = job.runs[0];
    assert.ok(Number(run.ssl.filteredCalls) >= 2, `filteredCalls ${JSON.stringify(run.ssl)}`);
    assert.ok(Number(run.ssl.skippedCalls) >= 2, `skippedCalls ${JSON.stringify(run.ssl)}`);

    // The HTTP view frames both exchanges through the skipped body.
    const http = await capture(`/jobs/${id}/http`);
    assert.equal(http.status, 200, http.text);
    const summary = JSON.stringify(http.json);
    assert.ok(summary.includes(first) && summary.includes(second), summary.slice(0, 3000));
  });

  it('a Python 3 ssl client (libssl.so.3 through SSL_read_ex/SSL_write_ex), by pid', async () => {
    const m = marker();
    const path = `/p/${m}`;
    const go = join(dir, `py-${m}.go`);
    const client = launch(PYTHON, [join(FIXTURES, 'https_client.py'), '127.0.0.1', String(port), path, go, '1', '0']);
    await waitFor(async () => client.output().includes('ready'), 10_000, 'the python client');
    const id = await startJob({ durationSec: 4, target: { pid: client.pid } });
    writeFileSync(go, '');
    await waitFor(async () => client.output().includes('ok 1'), 10_000, `the python client's request: ${client.output()}`);
    const line = await served(path);
    const job = await waitJob(stack, id, 30_000);
    assert.equal(job.status, 'completed', JSON.stringify(job.runs));
    const events = await allEvents(id, `&pid=${client.pid}`);
    checkExchange(events, client.pid!, path, line, { write: 'SSL_write_ex', read: 'SSL_read_ex' });
  });

  it('userStacks: the stack of every captured call reaches Debian python3.11\'s main (no frame pointers there), then the Python function that made it, by name', async () => {
    const m = marker();
    const go = join(dir, `pystacks-${m}.go`);
    const client = launch(PYTHON, [join(FIXTURES, 'https_client.py'), '127.0.0.1', String(port), `/s/${m}`, go, '3', '50']);
    await waitFor(async () => client.output().includes('ready'), 10_000, 'the python client');
    const id = await startJob({ durationSec: 4, target: { pid: client.pid }, userStacks: true });
    writeFileSync(go, '');
    await waitFor(async () => client.output().includes('ok 3'), 10_000, `the python client's requests: ${client.output()}`);
    const job = await waitJob(stack, id, 30_000);
    assert.equal(job.status, 'completed', JSON.stringify(job.runs));
    const folded = await capture(`/jobs/${id}/flamegraph.folded`);
    assert.equal(folded.status, 200, folded.text);
    const lines = folded.text.split('\n').filter(Boolean).map((l) => ({ frames: l.slice(0, l.lastIndexOf(' ')).split(';'), count: Number(l.slice(l.lastIndexOf(' ') + 1)) }));
    const total = lines.reduce((a, l) => a + l.count, 0);
    // The eval loop's frames give their place to Python's (read at the return probe): main → <module> → fetch_page.
    const fetchPage = /^fetch_page \(https_client\.py:\d+\)$/;
    const whole = lines
      .filter(({ frames }) => {
        const main = frames.findIndex((f) => f === 'main' || f === 'Py_BytesMain');
        const module = frames.findIndex((f) => /^<module> \(https_client\.py:\d+\)$/.test(f));
        return main >= 0 && module > main && frames.findIndex((f) => fetchPage.test(f)) > module;
      })
      .reduce((a, l) => a + l.count, 0);
    assert.ok(total >= 6, `only ${total} call stacks:\n${folded.text.slice(0, 2000)}`);
    assert.ok(whole / total >= 0.9, `${whole} of ${total} call stacks reach main, then <module> → fetch_page:\n${folded.text.slice(0, 3000)}`);
    assert.match(job.runs[0].reason ?? '', /python: 1 process\(es\) \(3\.11\.\d+\) with Python frames/, JSON.stringify(job.runs[0]));
    assert.ok(job.runs[0].unwind?.framesTable > 0, JSON.stringify(job.runs[0].unwind));
  });

  it('rejects bad input: data size over 16 KiB, no capture scope, a missing binary, a pid without OpenSSL', async () => {
    const big = await capture('/jobs', 'POST', { type: 'ssl-capture', durationSec: 2, target: { all: true }, maxDataBytes: 20_000, nodes: 'all' });
    assert.equal(big.status, 400, big.text);
    assert.match(JSON.stringify(big.json.message), /maxDataBytes/);

    const noScope = await stack.api('POST', '/jobs', { type: 'ssl-capture', durationSec: 2, target: { all: true }, nodes: 'all' });
    assert.equal(noScope.status, 403, noScope.text);

    const missing = await capture('/jobs', 'POST', { type: 'ssl-capture', durationSec: 2, target: { all: true }, binaries: ['/no/such/libssl.so.3'], nodes: 'all' });
    assert.equal(missing.status, 201, missing.text);
    const mj = await waitJob(stack, missing.json.id, 20_000);
    assert.equal(mj.status, 'failed');
    assert.match(mj.runs[0].reason, /\/no\/such\/libssl\.so\.3/);

    const sleeper = launch('sleep', ['30']);
    await sleep(200);
    const noSsl = await capture('/jobs', 'POST', { type: 'ssl-capture', durationSec: 2, target: { pid: sleeper.pid }, nodes: 'all' });
    assert.equal(noSsl.status, 201, noSsl.text);
    const nj = await waitJob(stack, noSsl.json.id, 20_000);
    assert.equal(nj.status, 'failed');
    assert.match(nj.runs[0].reason, new RegExp(`pid ${sleeper.pid}.*(no TLS library|OpenSSL)`, 'i'));
    sleeper.kill('SIGKILL');
  });

  it('after the job ends, and after the agent is killed with SIGKILL mid-job, the target keeps working and no uprobe remains', async () => {
    const go = join(dir, `loop-${process.pid}.go`);
    const client = launch(PYTHON, [join(FIXTURES, 'https_client.py'), '127.0.0.1', String(port), `/k/${marker()}`, go, '400', '25']);
    await waitFor(async () => client.output().includes('ready'), 10_000, 'the python client');
    writeFileSync(go, '');
    await waitFor(async () => client.output().includes('ok 2'), 10_000, 'the client to run');
    assert.equal(patchedBytes(client.pid!), 0, 'libssl already patched before any job');
    const okCount = (): number => (client.output().match(/^ok \d+/gm) ?? []).length;

    // A job that ends by itself.
    const first = await startJob({ durationSec: 2, target: { pid: client.pid } });
    assert.ok(patchedBytes(client.pid!) > 0, 'no uprobe visible in the target while the job runs: this check would prove nothing');
    const fj = await waitJob(stack, first, 20_000);
    assert.equal(fj.status, 'completed', JSON.stringify(fj.runs));
    assert.ok(Number(fj.runs[0].ssl?.eventsSeen ?? fj.sslTotals?.eventsSeen ?? 0) > 0, JSON.stringify(fj.runs[0]));
    await waitFor(async () => patchedBytes(client.pid!) === 0, 5_000, 'the uprobes to leave the target after the job');
    const afterFirst = okCount();
    await waitFor(async () => okCount() >= afterFirst + 5, 10_000, 'the client to keep working after the job');

    // A job whose agent dies.
    const second = await startJob({ durationSec: 60, target: { pid: client.pid } });
    assert.ok(patchedBytes(client.pid!) > 0);
    stack.agent!.kill('SIGKILL');
    await waitFor(async () => stack.agent!.exitCode !== null || stack.agent!.signalCode !== null, 10_000, 'the agent to die');
    await waitFor(async () => patchedBytes(client.pid!) === 0, 5_000, 'the uprobes to leave the target after SIGKILL');
    assert.equal(uprobeEvents().trim(), '', 'uprobe_events lists probes after the agent died');
    const afterKill = okCount();
    await waitFor(async () => okCount() >= afterKill + 5, 10_000, 'the client to keep working after the agent died');
    assert.ok(!client.output().includes('Traceback'), client.output().slice(-2000));
    const sj = await waitJob(stack, second, 60_000);
    assert.equal(sj.status, 'failed');
    assert.match(sj.runs[0].reason, /silent for \d+ s .*past the run grace period of 3 s/);
  });
});
