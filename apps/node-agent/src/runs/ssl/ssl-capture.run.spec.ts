import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { SslProbeSpec, SslRawEvent, SslStats, SslTracer, SslTracerOptions, Symbolizer, UnwindCounters } from '@tracefleet/native';
import { RunEventKind, SslDirection, SslFunction, type AgentMessage, type SslCaptureSpec, type SslEvent, type SslReport, type StartRun } from '@tracefleet/proto';
import { loadConfig } from '../../config';
import { SslCaptureRun, type SslNativeParts } from './ssl-capture.run';
import { REDACTED } from './redact';

const NO_UNWIND = Object.fromEntries(
  ['stacks', 'stacksComplete', 'framesTable', 'framesFp', 'cutNoMapping', 'cutNoRow', 'cutExpression', 'cutDepth', 'cutReadFault', 'unwindPending', 'cutInvalid'].map((k) => [k, 0n]),
) as unknown as UnwindCounters;

const cfg = loadConfig({ TRACEFLEET_CA_CERT: '/fleet/ca.pem', TRACEFLEET_ENROLLMENT_TOKEN: 'x'.repeat(32), TRACEFLEET_NODE_NAME: 'n1' });
const LIBSSL = '/usr/lib/x86_64-linux-gnu/libssl.so.3';

const children: ChildProcess[] = [];
after(() => {
  for (const c of children) c.kill('SIGKILL');
});

async function startProcess(cmd: string, args: string[], maps: RegExp): Promise<ChildProcess> {
  const c = spawn(cmd, args, { stdio: 'ignore' });
  children.push(c);
  const t0 = Date.now();
  for (;;) {
    try {
      if (maps.test(readFileSync(`/proc/${c.pid}/maps`, 'utf8'))) return c;
    } catch {
      // not yet
    }
    if (Date.now() - t0 > 10_000) throw new Error(`${cmd} never mapped ${maps}`);
    await new Promise((r) => setTimeout(r, 30));
  }
}

interface FakeState {
  opts?: Omit<SslTracerOptions, 'objectPath'>;
  attached: SslProbeSpec[][];
  detached: number[][];
  closed: number;
  stopped: number;
  symbolizerClosed: number;
  pythonPids?: number[];
  tracer?: FakeTracer;
}

const NO_PYTHON = { stacks: 0n, frames: 0n, noThread: 0n, readFaults: 0n, truncated: 0n };

type FakeTracer = SslTracer & { emit(events: SslRawEvent[]): void; kernelDrops: bigint };

/** A stand-in for the addon: attach() hands out ids, `script` emits events once started. */
function fakeNative(script: (t: FakeTracer, ids: () => number[]) => void = () => {}, o: { failAttach?: boolean } = {}) {
  const state: FakeState = { attached: [], detached: [], closed: 0, stopped: 0, symbolizerClosed: 0 };
  const parts: SslNativeParts = {
    createSslTracer(opts) {
      state.opts = opts;
      let next = 1;
      const issued: number[] = [];
      let seen = 0n;
      const t = {
        kernelDrops: 0n,
        start() {
          setTimeout(() => script(t, () => issued), 20);
        },
        attach(p: SslProbeSpec[]) {
          if (o.failAttach) throw new Error(`attach uprobe ${p[0].fn} entry in ${p[0].path} @0x${p[0].entryOffset.toString(16)}: Invalid argument`);
          state.attached.push(p);
          const ids = p.map(() => next++);
          issued.push(...ids);
          return ids;
        },
        detach(ids: number[]) {
          state.detached.push(ids);
        },
        setPids() {},
        setPythonProcess(pid: number) {
          (state.pythonPids ??= []).push(pid);
        },
        forgetPythonProcess() {},
        emit(events: SslRawEvent[]) {
          seen += BigInt(events.length);
          opts.onEvents(events);
        },
        stats(): SslStats {
          return { eventsSeen: seen + t.kernelDrops, kernelDrops: t.kernelDrops, queueDrops: 1n, delivered: seen, orphanReturns: 2n, nested: 0n, readErrors: 0n, filtered: 0n, skipped: 0n, noSocket: 0n, unwind: NO_UNWIND, python: NO_PYTHON, ring: { sizeBytes: 0, availBytes: 0, peakBytes: 0 } };
        },
        async stop() {
          state.stopped++;
          return t.stats();
        },
        close() {
          state.closed++;
        },
      } as unknown as FakeTracer;
      state.tracer = t;
      return t;
    },
    createSymbolizer() {
      return {
        symbolizeUser: (_pid: number, a: BigUint64Array) => [...a].map((x) => `f${x}`),
        close() {
          state.symbolizerClosed++;
        },
      } as unknown as Symbolizer;
    },
  };
  return { parts, state };
}

function raw(over: Partial<SslRawEvent> & { data?: Buffer }): SslRawEvent {
  const data = over.data ?? Buffer.alloc(0);
  return {
    pid: 42,
    tid: 43,
    comm: 'app',
    fn: 'SSL_write',
    attachId: 2,
    ret: data.length,
    length: data.length,
    latencyNs: 1500,
    ssl: 0xabcn,
    tsNs: process.hrtime.bigint(),
    truncated: false,
    readError: false,
    userStack: new BigUint64Array(),
    userStackError: 0,
    pyFrames: new BigUint64Array(),
    pyStatus: 0,
    pyTruncated: false,
    skippedCalls: 0,
    skippedBytes: 0,
    ...over,
    data,
  };
}

function spec(over: Partial<SslCaptureSpec> = {}): SslCaptureSpec {
  return {
    filterPrefixes: [],
    filterPorts: [],
    maxDataBytes: 4096,
    binaries: [],
    userStacks: false,
    maxEvents: 100_000,
    maxTotalBytes: 64n << 20n,
    redactHeaders: [],
    redactPatterns: [],
    redactionOff: false,
    handshakes: false,
    ...over,
  };
}

function startRun(target: StartRun['target'], s: Partial<SslCaptureSpec> = {}, durationSec = 1): StartRun {
  return { jobId: 'j', runId: 'r', durationSec, target, startAtUnixMs: 0n, spec: { $case: 'sslCapture', value: spec(s) } };
}

function sink() {
  const sent: AgentMessage[] = [];
  return { sent, send: async (m: AgentMessage) => void sent.push(m) };
}

function results(sent: AgentMessage[]) {
  const batches = sent.flatMap((m) => (m.msg?.$case === 'sslEvents' ? [m.msg.value] : []));
  const events: SslEvent[] = batches.flatMap((b) => b.events);
  const report = sent.flatMap((m) => (m.msg?.$case === 'sslReport' ? [m.msg.value] : []))[0] as SslReport | undefined;
  const fin = sent.at(-1)?.msg;
  const finished = fin?.$case === 'runFinished' ? fin.value : undefined;
  const runEvents = sent.flatMap((m) => (m.msg?.$case === 'runEvent' ? [m.msg.value] : []));
  return { batches, events, report, finished, runEvents };
}

const show = (x: unknown) => JSON.stringify(x, (_k, v) => (typeof v === 'bigint' ? String(v) : v));

describe('SslCaptureRun (fake tracer, real discovery and placement)', () => {
  let python: ChildProcess;
  before(async () => {
    python = await startProcess('/usr/bin/python3.11', ['-c', 'import ssl,time; time.sleep(60)'], /libssl\.so/);
  });

  it('probes the target\'s libssl, streams redacted events in numbered batches, and reports counts', async () => {
    const pid = python.pid!;
    const req = Buffer.from('GET /x HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer s3cret\r\n\r\n', 'latin1');
    const { parts, state } = fakeNative((t, ids) => {
      const [readId, writeId] = ids();
      t.emit([raw({ pid, fn: 'SSL_write', attachId: writeId, data: req })]);
      t.emit(Array.from({ length: 1500 }, (_, i) => raw({ pid, fn: 'SSL_read', attachId: readId, data: Buffer.from(`chunk ${i}`) })));
      t.emit([raw({ pid, fn: 'SSL_read', attachId: readId, ret: -1, length: 0 })]);
    });
    const out = sink();
    await new SslCaptureRun(startRun({ kind: { $case: 'pid', value: pid } }), cfg, out, parts, () => {}).run();
    const { batches, events, report, finished, runEvents } = results(out.sent);

    assert.equal(runEvents[0].kind, RunEventKind.RUN_EVENT_KIND_STARTED);
    assert.match(runEvents[0].message, new RegExp(`pid ${pid} .* through ${LIBSSL}`));
    // one file, four functions, the uprobes in this process only (other users of the file never
    // trap), and this process filtered in the kernel as well
    assert.equal(state.attached.length, 1);
    assert.deepEqual(state.attached[0].map((p) => p.fn), ['SSL_read', 'SSL_write', 'SSL_read_ex', 'SSL_write_ex']);
    assert.ok(state.attached[0].every((p) => p.path === `/proc/${pid}/root${LIBSSL}` && p.pid === pid));
    assert.deepEqual(state.opts!.pids, [pid]);
    assert.deepEqual(state.opts!.excludePids, [process.pid]);
    assert.equal(state.opts!.comm, undefined);

    assert.deepEqual(batches.map((b) => b.seq), batches.map((_, i) => BigInt(i + 1)));
    assert.ok(batches.every((b) => b.events.length <= 1000));
    assert.equal(events.length, 1502);
    const w = events[0];
    assert.equal(w.function, SslFunction.SSL_FUNCTION_WRITE);
    assert.equal(w.direction, SslDirection.SSL_DIRECTION_WRITE);
    assert.equal(w.length, BigInt(req.length));
    assert.equal(Buffer.from(w.data).toString('latin1'), `GET /x HTTP/1.1\r\nHost: h\r\nAuthorization: ${REDACTED}\r\n\r\n`);
    assert.equal(w.redactions, 1);
    assert.equal(w.binary, LIBSSL);
    assert.equal(w.sslPtr, 0xabcn);
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    assert.ok(w.atUnixNs < nowNs && nowNs - w.atUnixNs < 10_000_000_000n, `atUnixNs ${w.atUnixNs} vs now ${nowNs}`);
    assert.equal(events[1].direction, SslDirection.SSL_DIRECTION_READ);
    assert.equal(Buffer.from(events[1].data).toString(), 'chunk 0');
    const failed = events.at(-1)!;
    assert.equal(failed.ret, -1n);
    assert.equal(failed.length, 0n);

    assert.ok(report, 'a report');
    assert.equal(report.eventsSent, 1502n);
    assert.equal(report.redactions, 1n);
    assert.equal(report.orphanReturns, 2n);
    assert.equal(report.droppedAgent, 1n);
    assert.equal(report.attached.length, 4);
    assert.match(report.attached[0], new RegExp(`^SSL_read in ${LIBSSL.replace(/\./g, '\\.')} \\(OpenSSL\\): entry \\+\\d+ \\(.+\\), return `));
    assert.ok(finished?.ok, show(finished));
    assert.equal(finished.samplesSent, 1502n);
    assert.equal(finished.samplesTaken, 1502n);
    assert.equal(finished.lastSeq, BigInt(batches.length));
    assert.equal(state.stopped, 1);
    assert.equal(state.closed, 1);
    assert.deepEqual(state.detached, [state.attached.flatMap((_, i) => [1, 2, 3, 4].map((x) => x + i * 4))]);
  });

  it('keeps batches under 1 MiB of data', async () => {
    const pid = python.pid!;
    const { parts } = fakeNative((t) => t.emit(Array.from({ length: 600 }, () => raw({ pid, data: Buffer.alloc(4096, 0x61) }))));
    const out = sink();
    await new SslCaptureRun(startRun({ kind: { $case: 'pid', value: pid } }), cfg, out, parts, () => {}).run();
    const { batches, events } = results(out.sent);
    assert.equal(events.length, 600);
    for (const b of batches) assert.ok(b.events.reduce((a, e) => a + e.data.length, 0) <= 1 << 20);
    assert.ok(batches.length >= 3);
  });

  it('enforces maxEvents and maxTotalBytes, and sends raw bytes with redaction off', async () => {
    const pid = python.pid!;
    const body = Buffer.from('Cookie: a=1\r\n');
    const { parts } = fakeNative((t) => t.emit(Array.from({ length: 10 }, () => raw({ pid, data: body }))));
    const out = sink();
    const s = { maxEvents: 6, maxTotalBytes: BigInt(body.length * 2 + 5), redactionOff: true };
    await new SslCaptureRun(startRun({ kind: { $case: 'pid', value: pid } }, s), cfg, out, parts, () => {}).run();
    const { events, report, finished } = results(out.sent);
    assert.equal(events.length, 6);
    assert.deepEqual(events.map((e) => e.data.length), [body.length, body.length, 5, 0, 0, 0]);
    assert.deepEqual(events.map((e) => e.truncated), [false, false, true, true, true, true]);
    assert.ok(events.every((e) => e.length === BigInt(body.length)));
    assert.equal(Buffer.from(events[0].data).toString(), 'Cookie: a=1\r\n');
    assert.equal(report!.overBudget, 4n);
    assert.equal(report!.bytesOverBudget, BigInt(body.length - 5 + 3 * body.length));
    assert.equal(report!.truncatedEvents, 4n);
    assert.equal(report!.redactions, 0n);
    assert.equal(finished!.samplesTaken, 6n);
    assert.equal(finished!.samplesSent, 6n);
  });

  it('symbolizes stacks root first into the batch string table', async () => {
    const pid = python.pid!;
    const { parts, state } = fakeNative((t) => t.emit([raw({ pid, userStack: BigUint64Array.of(1n, 2n, 3n) })]));
    const out = sink();
    await new SslCaptureRun(startRun({ kind: { $case: 'pid', value: pid } }, { userStacks: true }), cfg, out, parts, () => {}).run();
    const { batches } = results(out.sent);
    const b = batches[0];
    assert.deepEqual(b.events[0].stack.map((i) => b.strings[i]), ['f3', 'f2', 'f1']);
    assert.equal(state.opts!.captureStacks, true);
    assert.equal(state.symbolizerClosed, 1);
  });

  it('with userStacks reads Python frames of a Python target (its layout given before start), unless the agent turns them off', async () => {
    const pid = python.pid!;
    const { parts, state } = fakeNative((t) => t.emit([raw({ pid, userStack: BigUint64Array.of(1n) })]));
    await new SslCaptureRun(startRun({ kind: { $case: 'pid', value: pid } }, { userStacks: true }), cfg, sink(), parts, () => {}).run();
    assert.equal(state.opts!.python, true);
    assert.deepEqual(state.pythonPids, [pid]);
    const off = fakeNative((t) => t.emit([raw({ pid })]));
    await new SslCaptureRun(startRun({ kind: { $case: 'pid', value: pid } }, { userStacks: true }), { ...cfg, pythonFrames: false }, sink(), off.parts, () => {}).run();
    assert.equal(off.state.opts!.python, false);
    assert.equal(off.state.pythonPids, undefined);
    const noStacks = fakeNative((t) => t.emit([raw({ pid })]));
    await new SslCaptureRun(startRun({ kind: { $case: 'pid', value: pid } }), cfg, sink(), noStacks.parts, () => {}).run();
    assert.equal(noStacks.state.opts!.python, false);
  });

  it('names a stack as its event arrives, not at the next flush (a short-lived client is gone by then)', async () => {
    const pid = python.pid!;
    let alive = true;
    const { parts } = fakeNative((t) => {
      t.emit([raw({ pid, userStack: BigUint64Array.of(7n, 8n) })]);
      alive = false; // the process exits before the 200 ms flush
    });
    parts.createSymbolizer = () =>
      ({ symbolizeUser: (_pid: number, a: BigUint64Array) => [...a].map((x) => (alive ? `f${x}` : '[unknown mapping]')), close() {} }) as unknown as Symbolizer;
    const out = sink();
    await new SslCaptureRun(startRun({ kind: { $case: 'pid', value: pid } }, { userStacks: true }), cfg, out, parts, () => {}).run();
    const b = results(out.sent).batches[0];
    assert.deepEqual(b.events[0].stack.map((i) => b.strings[i]), ['f8', 'f7']);
  });

  it('refuses what it cannot run, with the reason', async () => {
    const sleeper = await startProcess('sleep', ['30'], /sleep/);
    const cases: [StartRun, RegExp][] = [
      [startRun({ kind: { $case: 'pid', value: python.pid! } }, { maxDataBytes: 20000 }), /maxDataBytes 20000 is outside this agent's limit \[1, 16384\]/],
      [startRun({ kind: { $case: 'pid', value: sleeper.pid! } }), new RegExp(`^pid ${sleeper.pid} \\(sleep\\): no TLS library mapped \\(libssl.so.\\*, libgnutls.so.\\*, NSS\\) and /usr/bin/sleep exports no SSL_read$`)],
      [startRun({ kind: { $case: 'pid', value: python.pid! } }, { binaries: ['/nope/libssl.so.3'] }), /^binary \/nope\/libssl.so.3: does not exist$/],
      [startRun({ kind: { $case: 'all', value: true } }, { binaries: ['/usr/bin/sleep'] }), /binary \/usr\/bin\/sleep: exports no SSL_read/],
      [startRun({ kind: { $case: 'pid', value: python.pid! } }, { redactPatterns: ['(x'] }), /^redactPatterns\[0\] "\(x": missing closing \)/],
      // What a controller of an older version (JavaScript regular expressions) may still send.
      [startRun({ kind: { $case: 'pid', value: python.pid! } }, { redactPatterns: ['ok', '(a)\\1'] }), /^redactPatterns\[1\] "\(a\)\\1": backreferences are not supported \(RE2 syntax\)$/],
      [startRun({ kind: { $case: 'pid', value: 4_000_000 } }), /target pid 4000000 does not exist on node n1/],
      [startRun({ kind: { $case: 'pid', value: process.pid } }), /is this agent/],
      [startRun({ kind: { $case: 'comm', value: 'a-name-longer-than-15' } }), /must be 1 to 15 bytes/],
      [startRun(undefined), /names no target/],
    ];
    for (const [s, re] of cases) {
      const { parts, state } = fakeNative();
      const out = sink();
      await new SslCaptureRun(s, cfg, out, parts, () => {}).run();
      const { finished } = results(out.sent);
      assert.ok(finished && !finished.ok && re.test(finished.reason), `${re}: ${show(finished)}`);
      assert.equal(state.attached.length, 0);
    }
  });

  it('fails with the attach error and frees the tracer', async () => {
    const { parts, state } = fakeNative(() => {}, { failAttach: true });
    const out = sink();
    await new SslCaptureRun(startRun({ kind: { $case: 'pid', value: python.pid! } }), cfg, out, parts, () => {}).run();
    const { finished } = results(out.sent);
    assert.ok(finished && !finished.ok, show(finished));
    assert.match(finished.reason, /no TLS library file could be probed .*attach uprobe SSL_read entry in \/proc\/\d+\/root\/usr\/lib\/x86_64-linux-gnu\/libssl\.so\.3 @0x[0-9a-f]+: Invalid argument/);
    assert.equal(state.closed, 1);
  });

  it('ends early when the target exits', async () => {
    const victim = await startProcess('/usr/bin/python3.11', ['-c', 'import ssl,time; time.sleep(60)'], /libssl\.so/);
    const { parts, state } = fakeNative();
    const out = sink();
    setTimeout(() => victim.kill('SIGKILL'), 300);
    const t0 = Date.now();
    await new SslCaptureRun(startRun({ kind: { $case: 'pid', value: victim.pid! } }, {}, 30), cfg, out, parts, () => {}).run();
    assert.ok(Date.now() - t0 < 5000);
    const { finished, report } = results(out.sent);
    assert.ok(finished?.ok && finished.targetExited, show(finished));
    assert.ok(report);
    assert.equal(state.closed, 1);
  });

  it('probes a library the target loads after the start', async () => {
    const late = await startProcess('/usr/bin/python3.11', ['-c', 'import time; time.sleep(0.8); import ssl; time.sleep(30)'], /python3/);
    const { parts, state } = fakeNative();
    const out = sink();
    // the job names node's OpenSSL so that the run can start before Python loads libssl
    await new SslCaptureRun(startRun({ kind: { $case: 'pid', value: late.pid! } }, { binaries: ['/usr/bin/node'] }, 3), cfg, out, parts, () => {}).run();
    const { report, finished } = results(out.sent);
    assert.ok(finished?.ok, show(finished));
    assert.deepEqual(state.attached.map((a) => a[0].path), ['/usr/bin/node', `/proc/${late.pid}/root${LIBSSL}`]);
    assert.equal(report!.noOpenssl.length, 1);
    assert.match(report!.noOpenssl[0], new RegExp(`^pid ${late.pid} \\(python3.11\\): no TLS library mapped`));
  });

  it('comm target: a process that takes the name after the start gets its own OpenSSL probed', async () => {
    const comm = `tf-late-${process.pid % 100000}`;
    const { parts, state } = fakeNative();
    const out = sink();
    setTimeout(() => {
      const c = spawn('/usr/bin/node', ['-e', `setTimeout(() => { process.title = '${comm}'; }, 200); setTimeout(() => {}, 10000)`], { stdio: 'ignore' });
      children.push(c);
    }, 200);
    await new SslCaptureRun(startRun({ kind: { $case: 'comm', value: comm } }, {}, 2), cfg, out, parts, () => {}).run();
    const { report, finished } = results(out.sent);
    assert.ok(finished?.ok, show(finished));
    const late = children.at(-1)!;
    // The system's libssl and libgnutls are probed from the start; then the late process's own copy.
    assert.deepEqual(
      state.attached.map((a) => a[0].path).filter((p) => !/\/libgnutls\.so\./.test(p)),
      [LIBSSL, `/proc/${late.pid}/root/usr/bin/node`],
    );
    assert.ok(state.attached.some((a) => a[0].fn === 'gnutls_record_recv'), JSON.stringify(state.attached.map((a) => a[0].fn)));
    assert.ok(report!.attached.some((a) => a.startsWith('SSL_read in /usr/bin/node (OpenSSL): entry +0')), report!.attached.join('\n'));
  });

  it('headers only with the HTTP filter: the kernel gets the prefixes and message starts; a head is cut after its blank line; skipped counts pass through', async () => {
    const pid = python.pid!;
    const head = 'HTTP/1.1 200 OK\r\nContent-Length: 5000\r\nSet-Cookie: id=s3cret\r\n\r\n';
    const { parts, state } = fakeNative((t, ids) => {
      const [readId] = ids();
      t.emit([raw({ pid, fn: 'SSL_read', attachId: readId, data: Buffer.from(head + 'x'.repeat(200), 'latin1'), length: head.length + 4000, truncated: true, skippedCalls: 3, skippedBytes: 70_000 })]);
    });
    const out = sink();
    const prefix = Buffer.from('GET /api/');
    await new SslCaptureRun(startRun({ kind: { $case: 'pid', value: pid } }, { filterPrefixes: [prefix], filterHttp: true, headersOnly: true }), cfg, out, parts, () => {}).run();
    const { events, report, finished, runEvents } = results(out.sent);
    assert.ok(finished?.ok, show(finished));
    assert.equal(state.opts!.prefixes!.length, 12);
    assert.deepEqual(state.opts!.prefixes![0], prefix);
    assert.ok(state.opts!.prefixes!.some((p) => p.toString() === 'PRI * HTTP/2.0'));
    assert.deepEqual(state.opts!.messageStarts!.map((p) => p.toString()), ['GET ', 'POST ', 'PUT ', 'DELETE ', 'HEAD ', 'OPTIONS ', 'PATCH ', 'CONNECT ', 'TRACE ', 'HTTP/1.']);
    assert.match(runEvents[0].message, /HTTP connections only, connections starting with "GET \/api\/", HTTP\/1 message heads only/);
    assert.equal(events.length, 1);
    const [e] = events;
    assert.equal(Buffer.from(e.data).toString('latin1'), head.replace('id=s3cret', REDACTED));
    assert.equal(e.truncated, true);
    assert.equal(e.skippedCalls, 3);
    assert.equal(e.skippedBytes, 70_000n);
    assert.equal(report!.filteredCalls, 0n);
    assert.equal(report!.skippedCalls, 0n);
  });

  it('refuses a content filter the kernel cannot hold, naming it', async () => {
    const pid = python.pid!;
    for (const [over, why] of [
      [{ filterPrefixes: [Buffer.alloc(17, 0x41)] }, /filterPrefixes\[0\] is 17 bytes/],
      [{ filterPrefixes: [Buffer.from('a\0b')] }, /filterPrefixes\[0\] holds a NUL byte/],
      [{ filterPrefixes: [Buffer.alloc(0)] }, /filterPrefixes\[0\] is 0 bytes/],
      [{ filterPrefixes: Array.from({ length: 6 }, (_, i) => Buffer.from(`p${i}`)), filterHttp: true }, /17 byte strings \(6 given \+ 11 for filterHttp\); the kernel compares at most 16/],
    ] as Array<[Partial<SslCaptureSpec>, RegExp]>) {
      const { parts, state } = fakeNative();
      const out = sink();
      await new SslCaptureRun(startRun({ kind: { $case: 'pid', value: pid } }, over), cfg, out, parts, () => {}).run();
      const { finished } = results(out.sent);
      assert.equal(finished?.ok, false);
      assert.match(finished!.reason, why);
      assert.equal(state.opts, undefined, 'no tracer was made');
    }
  });

  it('comm target: the comm filter in the kernel, the system libssl, and who has no OpenSSL', async () => {
    const s1 = await startProcess('sleep', ['30'], /sleep/);
    const { parts, state } = fakeNative();
    const out = sink();
    await new SslCaptureRun(startRun({ kind: { $case: 'comm', value: 'sleep' } }, { handshakes: true }), cfg, out, parts, () => {}).run();
    const { report, finished } = results(out.sent);
    assert.ok(finished?.ok, show(finished));
    assert.equal(state.opts!.comm, 'sleep');
    assert.equal(state.opts!.pids, undefined);
    assert.ok(state.attached.some((a) => a[0].path === LIBSSL && a.length === 5 && a[4].fn === 'SSL_do_handshake'));
    assert.ok(report!.noOpenssl.some((r) => r.startsWith(`pid ${s1.pid} (sleep): no TLS library mapped`)), show(report!.noOpenssl));
  });
});
