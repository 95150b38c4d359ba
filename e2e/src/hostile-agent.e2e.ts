import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { makeGenericClientConstructor, Metadata, type ClientDuplexStream, type ServiceError } from '@grpc/grpc-js';
import { AgentLinkService, AgentMessage, PROTOCOL_VERSION, type ControllerMessage, type SslEvent, type UsdtEvent } from '@tracefleet/proto';
import { buildC, sleep, startStack, waitFor, waitJob, type Enrolled, type Stack, raceTimeout } from './harness';

/**
 * The RSS bound while the controller is abused: its RSS before the abuse plus 200 MiB. Justification:
 * a refused message is never decoded, so what it costs is its own bytes held by grpc-js (at most the
 * 8 MiB receive cap, plus HTTP/2 buffers) and one pass of the wire scan; a few of those at once and
 * V8's and glibc's lazy return of freed memory stay well under 200 MiB. Before the caps, one 16 MiB
 * message of empty events decoded to about 1.2 GiB of heap, six times the bound.
 */
const RSS_BOUND_BYTES = 200 * 1024 * 1024;

/** The generated AgentLink service with a serializer that also passes hand-made wire bytes through untouched. */
const RawAgentLinkClient = makeGenericClientConstructor(
  { session: { ...AgentLinkService.session, requestSerialize: (v: AgentMessage | Buffer) => (Buffer.isBuffer(v) ? v : AgentLinkService.session.requestSerialize(v)) } },
  'tracefleet.v1.AgentLink',
);
type Session = ClientDuplexStream<AgentMessage | Buffer, ControllerMessage>;

function vmRss(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/** `n` empty UsdtEvents (field 4, length 0) in a UsdtEventBatch in an AgentMessage, made without n objects. */
function emptyEventsWire(n: number): Buffer {
  const body = Buffer.alloc(n * 2, Buffer.from([0x22, 0x00]));
  return Buffer.concat([Buffer.from([0x3a]), varint(body.length), body]);
}
function varint(n: number): Buffer {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 128) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

const usdtEvent = (over: Partial<UsdtEvent> = {}): UsdtEvent => ({ probe: 0, pid: 7, tid: 7, tsNs: 1n, args: [], stack: [], str: '', ...over });
const sslEvent = (): SslEvent => ({
  pid: 1, tid: 1, comm: 'x', function: 1, direction: 1, ret: 1n, length: 1n, latencyNs: 1n, sslPtr: 1n, tsNs: 1n, atUnixNs: 1n,
  data: new Uint8Array(0), truncated: false, redactions: 0, stack: [], binary: '',
});

describe('a hostile agent cannot exhaust the controller or lose other data', { timeout: 300_000 }, () => {
  let stack: Stack;
  const hostileName = `e2e-hostile-${randomBytes(3).toString('hex')}`;
  const children: ChildProcess[] = [];
  const clients: InstanceType<typeof RawAgentLinkClient>[] = [];
  let rssTimer: NodeJS.Timeout | undefined;
  let identity: Enrolled | undefined;

  before(async () => {
    stack = await startStack();
  });

  after(async () => {
    clearInterval(rssTimer);
    for (const c of clients) c.close();
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await stack?.stop();
  });

  /** Registers as the hostile node; answers StartRun through `onStart`. Resolves once registered. */
  async function connect(onStart?: (s: Session, runId: string) => void): Promise<{ call: Session; ended: Promise<ServiceError | undefined> }> {
    // A node certificate through the real enrollment path: the hostile agent is a legitimate node gone bad.
    identity ??= await stack.enroll(hostileName);
    const client = new RawAgentLinkClient(stack.grpcAddr, identity.credentials());
    clients.push(client);
    const call = (client as unknown as { session(md: Metadata): Session }).session(new Metadata());
    const ended = new Promise<ServiceError | undefined>((resolve) => {
      call.on('error', (e: ServiceError) => resolve(e));
      call.on('end', () => resolve(undefined));
    });
    const registered = new Promise<void>((resolve) =>
      call.on('data', (m: ControllerMessage) => {
        if (m.msg?.$case === 'registered') resolve();
        if (m.msg?.$case === 'startRun') onStart?.(call, m.msg.value.runId);
      }),
    );
    call.write({
      msg: {
        $case: 'register',
        value: { nodeName: hostileName, labels: { role: 'hostile' }, kernelRelease: '6.18', btf: true, protocolVersion: PROTOCOL_VERSION, capabilities: ['usdt'], agentVersion: 'hostile', cpus: 1, instanceId: '', heldRunIds: [] },
      },
    });
    await Promise.race([registered, ended.then((e) => Promise.reject(new Error(`hostile session ended before registering: ${e?.message}`)))]);
    return { call, ended };
  }

  it('refuses oversized batches, ends the abusive session, stays under its RSS bound, and a real cpu-profile job completes meanwhile', async () => {
    const pid = stack.controller.pid!;
    await sleep(2000); // the controller settles after the first agent registered
    const baseline = vmRss(pid);
    let peak = baseline;
    rssTimer = setInterval(() => (peak = Math.max(peak, vmRss(pid))), 20);

    // The real agent's job, on its own node, started as the abuse begins.
    const hot = spawn(buildC('hot'), ['0'], { stdio: 'ignore' });
    children.push(hot);
    await sleep(300);
    const created = await stack.api('POST', '/jobs', { type: 'cpu-profile', durationSec: 6, frequencyHz: 99, target: { pid: hot.pid }, nodes: { names: [stack.nodeName] } });
    assert.equal(created.status, 201, created.text);

    // Session 1: one batch just over each cap; the fifth refusal within a minute ends the session.
    const first = await connect();
    const runId = randomUUID();
    const overCaps: [string, AgentMessage][] = [
      ['usdt events', { msg: { $case: 'usdtEvents', value: { runId, seq: 1n, strings: [], events: Array.from({ length: 10_001 }, () => usdtEvent()), origins: [] } } }],
      ['ssl events', { msg: { $case: 'sslEvents', value: { runId, seq: 2n, strings: [], events: Array.from({ length: 2001 }, sslEvent), origins: [] } } }],
      ['profile stacks', { msg: { $case: 'profileBatch', value: { runId, seq: 3n, strings: [], stacks: Array.from({ length: 20_001 }, () => ({ frames: [], count: 1n, origin: 0 })), origins: [] } } }],
      ['string length', { msg: { $case: 'profileBatch', value: { runId, seq: 4n, strings: ['x'.repeat(8193)], stacks: [], origins: [] } } }],
      ['stack depth', { msg: { $case: 'profileBatch', value: { runId, seq: 5n, strings: ['a'], stacks: [{ frames: Array(1025).fill(0), count: 1n, origin: 0 }], origins: [] } } }],
    ];
    for (const [, m] of overCaps) first.call.write(m);
    const why1 = await Promise.race([first.ended, raceTimeout(20_000).then(() => 'still open' as const)]);
    assert.notEqual(why1, 'still open', 'the controller did not end the abusive session');
    assert.equal((why1 as ServiceError | undefined)?.code, 8 /* RESOURCE_EXHAUSTED */, `session 1 ended with ${JSON.stringify(why1)}`);
    assert.match((why1 as ServiceError).details, /session ended after 5 refused messages; last: profileBatch of run .* refused: frames per message 1025 > 1024/);
    // The node registry says why the node lost its session.
    await waitFor(async () => /session ended after 5 refused messages/.test((await stack.api('GET', `/nodes/${hostileName}`)).json?.statusReason ?? ''), 10_000, 'the node to show why its session ended');

    // Session 2: 6 MB of empty events (3 M of them: under gRPC's 8 MiB cap, refused by count before decoding),
    // then the 16 MiB message of empty events (refused by the transport at its header).
    const second = await connect();
    second.call.write(emptyEventsWire(3_000_000));
    await waitFor(async () => (await stack.api('GET', `/nodes/${hostileName}`)).json?.batchesRefused >= 6, 20_000, 'the 3 M-event batch to be counted');
    second.call.write(emptyEventsWire(8 * 1024 * 1024));
    const why2 = await Promise.race([second.ended, raceTimeout(20_000).then(() => 'still open' as const)]);
    assert.equal((why2 as ServiceError | undefined)?.code, 8, `session 2 ended with ${JSON.stringify(why2)}`);

    const node = (await stack.api('GET', `/nodes/${hostileName}`)).json;
    assert.equal(node.batchesRefused, 6, JSON.stringify(node));
    assert.match(node.lastRefusal, /^usdtEvents refused: events per message 10001 > 10000 \(6000005 bytes\)/);
    assert.ok(stack.logs.join('').includes(`agent ${hostileName}: usdtEvents of run ${runId} refused: events per message 10001 > 10000`), 'the refusal is logged with the node and the limit');

    const job = await waitJob(stack, created.json.id, 60_000);
    hot.kill('SIGKILL');
    clearInterval(rssTimer);
    const grew = peak - baseline;
    const run = job.runs[0];
    process.stderr.write(
      `controller VmRSS: baseline ${(baseline / 2 ** 20).toFixed(1)} MiB, peak during abuse ${(peak / 2 ** 20).toFixed(1)} MiB (+${(grew / 2 ** 20).toFixed(1)} MiB); ` +
        `real agent's run: ${run.samplesTaken} samples taken, ${run.samplesStored} stored\n`,
    );
    assert.equal(job.status, 'completed', JSON.stringify(job));
    // The count depends on how much CPU the target got on a shared machine; what matters is that none was lost.
    assert.ok(run.samplesStored > 0, JSON.stringify(run));
    assert.equal(run.samplesLostTransit, 0);
    assert.ok(grew < RSS_BOUND_BYTES, `controller RSS grew by ${(grew / 2 ** 20).toFixed(1)} MiB (bound ${RSS_BOUND_BYTES / 2 ** 20} MiB)`);
  });

  it('stores a USDT batch with NUL bytes in its strings, sanitised, with nothing lost', async () => {
    const { call } = await connect((s, runId) => {
      s.write({ msg: { $case: 'runEvent', value: { runId, kind: 1, message: '', atUnixMs: BigInt(Date.now()) } } });
      s.write({
        msg: {
          $case: 'usdtEvents',
          value: {
            runId,
            seq: 1n,
            strings: ['main', 'pause\u0000loop'],
            events: [usdtEvent({ str: 'G1\u0000Old Gen', stack: [0, 1], args: [-1n] }), usdtEvent({ str: 'Eden', tsNs: 2n }), usdtEvent({ str: '\u0000', tsNs: 3n })],
            origins: [],
          },
        },
      });
      s.write({ msg: { $case: 'usdtReport', value: { runId, probeCounts: [3n], eventsCaptured: 3n, eventsOverBudget: 0n, eventsDroppedKernel: 0n, pairs: [], attached: ['hostile:probe\u0000 in /bin/x'] } } });
      s.write({ msg: { $case: 'runFinished', value: { runId, ok: true, reason: '', targetExited: false, samplesTaken: 3n, samplesDroppedKernel: 0n, samplesDroppedAgent: 0n, samplesSent: 3n, lastSeq: 1n, batchesSpooled: 0n, batchesOverflowed: 0n } } });
    });
    try {
      const res = await stack.api('POST', '/jobs', { type: 'usdt', durationSec: 2, target: { all: true }, binary: '/bin/true', probes: ['hostile:probe'], userStacks: true, nodes: { names: [hostileName] } });
      assert.equal(res.status, 201, res.text);
      const job = await waitJob(stack, res.json.id, 30_000);
      assert.equal(job.status, 'completed', JSON.stringify(job));
      const run = job.runs[0];
      assert.equal(run.samplesStored, 3, JSON.stringify(run));
      assert.equal(run.samplesLostTransit, 0);
      const events = (await stack.api('GET', `/jobs/${job.id}/usdt/events?limit=10`)).json.events;
      assert.deepEqual(events.map((e: { str: string | null }) => e.str), ['G1\uFFFDOld Gen', 'Eden', '\uFFFD']);
      const folded = await stack.api('GET', `/jobs/${job.id}/flamegraph.folded`);
      assert.match(folded.text, /pause\uFFFDloop/);
    } finally {
      call.end();
    }
  });
});
