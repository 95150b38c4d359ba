import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AgentMessage, type SslEvent, type UsdtEvent } from '@tracefleet/proto';
import { CAPS, checkAgentMessage, MAX_RECEIVE_MESSAGE_BYTES, MAX_STACK_FRAMES, MAX_STRING_BYTES } from './batch-limits';

const RUN = '0b8e2c55-1f55-4c6e-9d0e-3f4a5b6c7d8e';
const enc = (m: AgentMessage): Buffer => Buffer.from(AgentMessage.encode(m).finish());

const usdtEvent = (over: Partial<UsdtEvent> = {}): UsdtEvent => ({ probe: 0, pid: 1, tid: 1, tsNs: 1n, args: [], stack: [], str: '', ...over });
const usdt = (events: UsdtEvent[], strings: string[] = []): Buffer => enc({ msg: { $case: 'usdtEvents', value: { runId: RUN, seq: 1n, strings, events, origins: [] } } });
const sslEvent = (over: Partial<SslEvent> = {}): SslEvent => ({
  pid: 1, tid: 1, comm: 'curl', function: 1, direction: 1, ret: 5n, length: 5n, latencyNs: 1n, sslPtr: 1n, tsNs: 1n, atUnixNs: 1n,
  data: new Uint8Array(0), truncated: false, redactions: 0, stack: [], binary: '/usr/lib/libssl.so.3', ...over,
});
const profile = (stacks: { frames: number[]; count: bigint }[], strings: string[]): Buffer =>
  enc({ msg: { $case: 'profileBatch', value: { runId: RUN, seq: 1n, strings, stacks: stacks.map((s) => ({ ...s, origin: 0 })), origins: [] } } });

/** Hand-written wire bytes: an envelope field `field` (length-delimited) around `body`. */
function envelope(field: number, body: Buffer): Buffer {
  return Buffer.concat([varint(field * 8 + 2), varint(body.length), body]);
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
/** `n` empty UsdtEvents (field 4, length 0): 2 bytes each, one object each once decoded. */
const emptyEvents = (n: number): Buffer => Buffer.alloc(n * 2, Buffer.from([0x22, 0x00]));

describe('batch limits (checked before decoding)', () => {
  it('lets through the largest batches the agent sends, with the run id read', () => {
    const stack = Array.from({ length: 256 }, (_, i) => i);
    const strings = Array.from({ length: 256 }, (_, i) => `frame_${i}_${'x'.repeat(1000)}`);
    const u = checkAgentMessage(usdt(Array.from({ length: 5000 }, () => usdtEvent({ stack: stack.slice(0, 127), args: [1n, -1n, 2n ** 63n - 1n], str: 'G1 Old Gen' })), strings));
    assert.equal(u.violation, undefined);
    assert.equal(u.type, 'usdtEvents');
    assert.equal(u.runId, RUN);
    const s = checkAgentMessage(enc({ msg: { $case: 'sslEvents', value: { runId: RUN, seq: 1n, strings, events: Array.from({ length: 1000 }, () => sslEvent({ data: new Uint8Array(1024), stack: stack.slice(0, 127) })), origins: [] } } }));
    assert.equal(s.violation, undefined);
    const p = checkAgentMessage(profile(Array.from({ length: 10_000 }, () => ({ frames: stack, count: 3n })), strings));
    assert.equal(p.violation, undefined);
    assert.ok(p.bytes < MAX_RECEIVE_MESSAGE_BYTES / 2, `a 10,000-stack profile batch of 256 frames is ${p.bytes} bytes`);
  });

  it('refuses a batch of empty events past the count without decoding it (the 16 MiB case, under the transport cap)', () => {
    const n = 3_000_000; // 6 MB: passes gRPC's 8 MiB cap, and would be 3 M objects once decoded
    const r = checkAgentMessage(envelope(7, emptyEvents(n)));
    assert.equal(r.type, 'usdtEvents');
    // The scan stops at the first event past the cap: the refusal costs 10,001 steps, not 3 M.
    assert.deepEqual(r.violation, { limit: 'events per message', value: CAPS[7].totals.events + 1, max: CAPS[7].totals.events });
    const big = checkAgentMessage(envelope(7, emptyEvents(8 * 1024 * 1024)));
    assert.equal(big.violation?.limit, 'message bytes');
  });

  it('refuses one event, string, stack or frame over each cap, and passes exactly at it', () => {
    assert.equal(checkAgentMessage(usdt(Array.from({ length: 10_000 }, () => usdtEvent()))).violation, undefined);
    assert.equal(checkAgentMessage(usdt(Array.from({ length: 10_001 }, () => usdtEvent()))).violation?.limit, 'events per message');
    const ssl = (n: number): Buffer => enc({ msg: { $case: 'sslEvents', value: { runId: RUN, seq: 1n, strings: [], events: Array.from({ length: n }, () => sslEvent()), origins: [] } } });
    assert.equal(checkAgentMessage(ssl(2000)).violation, undefined);
    assert.equal(checkAgentMessage(ssl(2001)).violation?.limit, 'events per message');
    assert.equal(checkAgentMessage(profile([], Array.from({ length: 100_001 }, () => 'a'))).violation?.limit, 'strings per message');
    assert.equal(checkAgentMessage(profile(Array.from({ length: 20_001 }, () => ({ frames: [], count: 1n })), [])).violation?.limit, 'stacks per message');
    assert.equal(checkAgentMessage(profile([], ['x'.repeat(MAX_STRING_BYTES)])).violation, undefined);
    assert.deepEqual(checkAgentMessage(profile([], ['x'.repeat(MAX_STRING_BYTES + 1)])).violation, { limit: 'strings length', value: MAX_STRING_BYTES + 1, max: MAX_STRING_BYTES });
    // Multi-byte characters count in UTF-8 bytes, as stored.
    assert.equal(checkAgentMessage(profile([], ['€'.repeat(MAX_STRING_BYTES / 3 + 1)])).violation?.limit, 'strings length');
    assert.equal(checkAgentMessage(profile([{ frames: Array(MAX_STACK_FRAMES).fill(0), count: 1n }], ['a'])).violation, undefined);
    assert.deepEqual(checkAgentMessage(profile([{ frames: Array(MAX_STACK_FRAMES + 1).fill(0), count: 1n }], ['a'])).violation, { limit: 'frames per message', value: MAX_STACK_FRAMES + 1, max: MAX_STACK_FRAMES });
    assert.equal(checkAgentMessage(usdt([usdtEvent({ stack: Array(MAX_STACK_FRAMES + 1).fill(1) })])).violation?.limit, 'stack per message');
    assert.equal(checkAgentMessage(usdt([usdtEvent({ str: 'x'.repeat(1025) })])).violation?.limit, 'str length');
    assert.equal(checkAgentMessage(enc({ msg: { $case: 'sslEvents', value: { runId: RUN, seq: 1n, strings: [], events: [sslEvent({ data: new Uint8Array(64 * 1024 + 1) })], origins: [] } } })).violation?.limit, 'data length');
    const snap = (stacks: number): Buffer =>
      enc({
        msg: {
          $case: 'memleakSnapshot',
          value: { runId: RUN, seq: 1n, takenAtUnixMs: 1n, final: false, strings: [], stacks: Array.from({ length: stacks }, () => ({ frames: [], bytes: 1n, count: 1n, oldestAgeMs: 1n })), totalBytes: 0n, totalCount: 0n, allocsSeen: 0n, allocsTraced: 0n, freesMatched: 0n, untracked: 0n, stackErrors: 0n, scale: 1, attached: [] },
        },
      });
    assert.equal(checkAgentMessage(snap(2000)).violation, undefined);
    assert.equal(checkAgentMessage(snap(2001)).violation?.limit, 'stacks per message');
  });

  it("refuses a Register whose instance id is longer than an agent's (a UUID), before it is decoded or stored", () => {
    const reg = (instanceId: string) => enc({ msg: { $case: 'register', value: { nodeName: 'n', labels: {}, kernelRelease: 'k', btf: true, protocolVersion: 1, capabilities: [], agentVersion: 'v', cpus: 1, instanceId, heldRunIds: [] } } });
    assert.equal(checkAgentMessage(reg('0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0')).violation, undefined);
    assert.equal(checkAgentMessage(reg('x'.repeat(64))).violation, undefined);
    assert.match(JSON.stringify(checkAgentMessage(reg('x'.repeat(65))).violation), /instanceId length/);
  });

  it('refuses a Register naming more held runs than an agent could hold, or a held id longer than an id', () => {
    const reg = (heldRunIds: string[]) => enc({ msg: { $case: 'register', value: { nodeName: 'n', labels: {}, kernelRelease: 'k', btf: true, protocolVersion: 1, capabilities: [], agentVersion: 'v', cpus: 1, instanceId: '', heldRunIds } } });
    const id = '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';
    assert.equal(checkAgentMessage(reg(Array(4096).fill(id))).violation, undefined);
    assert.match(JSON.stringify(checkAgentMessage(reg(Array(4097).fill(id))).violation), /heldRunIds/);
    assert.match(JSON.stringify(checkAgentMessage(reg(['x'.repeat(10_000)])).violation), /heldRunIds length/);
  });

  it('counts frames sent unpacked (one varint field each) like packed ones', () => {
    // FoldedStack with 1,025 unpacked frames (field 1, wire type 0): a decoder accepts both forms.
    const frames = Buffer.alloc((MAX_STACK_FRAMES + 1) * 2, Buffer.from([0x08, 0x00]));
    const batch = Buffer.concat([Buffer.from([0x0a, 36]), Buffer.from(RUN), varint(4 * 8 + 2), varint(frames.length), frames]);
    assert.equal(checkAgentMessage(envelope(4, batch)).violation?.limit, 'frames per message');
  });

  it('refuses small messages over their own type cap (reports, finished runs, heartbeats)', () => {
    const reason = checkAgentMessage(enc({ msg: { $case: 'runFinished', value: { runId: RUN, ok: false, reason: 'x'.repeat(200 * 1024), targetExited: false, samplesTaken: 0n, samplesDroppedKernel: 0n, samplesDroppedAgent: 0n, samplesSent: 0n, lastSeq: 0n, batchesSpooled: 0n, batchesOverflowed: 0n } } }));
    assert.equal(reason.violation?.limit, 'message bytes');
    const hb = checkAgentMessage(enc({ msg: { $case: 'heartbeat', value: { sentAtUnixMs: 1n, runningRunIds: Array.from({ length: 4097 }, () => RUN) } } }));
    assert.equal(hb.violation?.limit, 'runningRunIds per message');
    const rep = checkAgentMessage(
      enc({ msg: { $case: 'usdtReport', value: { runId: RUN, probeCounts: Array(4097).fill(1n), eventsCaptured: 0n, eventsOverBudget: 0n, eventsDroppedKernel: 0n, pairs: [], attached: [] } } }),
    );
    assert.equal(rep.violation?.limit, 'probeCounts per message');
  });

  it('accepts hostile numbers (they are values, not sizes): 2^64-1, negative int64, huge seq', () => {
    const r = checkAgentMessage(usdt([usdtEvent({ pid: 0xffffffff, tid: 0xffffffff, tsNs: 2n ** 64n - 1n, args: [-(2n ** 63n), 2n ** 63n - 1n] })]));
    assert.equal(r.violation, undefined);
  });

  it('refuses malformed wire data and a second message in one envelope', () => {
    assert.equal(checkAgentMessage(Buffer.from([0x3a, 0x05, 0x22])).violation?.limit.startsWith('malformed'), true); // length past the end
    assert.equal(checkAgentMessage(Buffer.from([0x3a, 0x01, 0x80])).violation?.limit.startsWith('malformed'), true); // truncated varint
    assert.equal(checkAgentMessage(Buffer.from([0x3a, 0x02, 0x23, 0x00])).violation?.limit.startsWith('malformed'), true); // a group
    // A length of 2^60: past 2^53, refused rather than turned into a float.
    assert.equal(checkAgentMessage(Buffer.concat([Buffer.from([0x3a]), Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10])])).violation?.limit.startsWith('malformed'), true);
    // A huge profile batch followed by a heartbeat: the decoder would decode both and keep the last.
    const two = Buffer.concat([envelope(4, emptyEvents(10)), enc({ msg: { $case: 'heartbeat', value: { sentAtUnixMs: 1n, runningRunIds: [] } } })]);
    assert.deepEqual(checkAgentMessage(two).violation, { limit: 'messages in one envelope', value: 2, max: 1 });
  });

  it("takes a message with its delivery number (acknowledged delivery), and refuses two numbers, a number of the wrong wire type, or any other bare number", () => {
    const numbered = enc({ msg: { $case: 'profileBatch', value: { runId: RUN, seq: 1n, strings: ['a'], stacks: [{ frames: [0], count: 1n, origin: 0 }], origins: [] } }, delivery: 2n ** 64n - 1n });
    assert.deepEqual(checkAgentMessage(numbered), { type: 'profileBatch', runId: RUN, bytes: numbered.length });
    const body = envelope(4, Buffer.alloc(0));
    const delivery = Buffer.concat([varint(20 * 8), varint(7)]);
    assert.equal(checkAgentMessage(Buffer.concat([delivery, body])).type, 'profileBatch', 'the number may come first');
    assert.match(checkAgentMessage(Buffer.concat([delivery, body, delivery])).violation?.limit ?? '', /^malformed \(envelope field with wire type 0\)/);
    assert.match(checkAgentMessage(Buffer.concat([body, varint(21 * 8), varint(7)])).violation?.limit ?? '', /^malformed/);
    assert.match(checkAgentMessage(Buffer.concat([body, varint(20 * 8 + 1), Buffer.alloc(8)])).violation?.limit ?? '', /^malformed/);
    assert.match(checkAgentMessage(Buffer.concat([body, varint(20 * 8), Buffer.from([0x80, 0x80])])).violation?.limit ?? '', /^malformed/, 'a truncated number');
    // As a length-delimited field it is a second message in the envelope.
    assert.deepEqual(checkAgentMessage(Buffer.concat([body, envelope(20, Buffer.from([1]))])).violation, { limit: 'messages in one envelope', value: 2, max: 1 });
  });

  it('reads the run id the decoder keeps (the last one), wherever it is: the per-run byte budget cannot be dodged', () => {
    const other = 'ffffffff-1f55-4c6e-9d0e-3f4a5b6c7d8e';
    const body = Buffer.concat([Buffer.from([0x0a, 36]), Buffer.from(other), emptyEvents(5), Buffer.from([0x0a, 36]), Buffer.from(RUN)]);
    const r = checkAgentMessage(envelope(7, body));
    assert.equal(r.violation, undefined);
    assert.equal(r.runId, RUN);
    const decoded = AgentMessage.decode(envelope(7, body));
    assert.equal(decoded.msg?.$case === 'usdtEvents' && decoded.msg.value.runId, RUN);
  });

  it('skips unknown fields and unknown message types without refusing them', () => {
    const withUnknown = Buffer.concat([Buffer.from([0x0a, 36]), Buffer.from(RUN), Buffer.from([0xfa, 0x01, 0x03, 1, 2, 3])]); // field 31, 3 bytes
    assert.equal(checkAgentMessage(envelope(7, withUnknown)).violation, undefined);
    assert.equal(checkAgentMessage(envelope(99, Buffer.from([1, 2]))).type, 'field 99');
    assert.equal(checkAgentMessage(Buffer.alloc(0)).type, 'empty');
  });
});
