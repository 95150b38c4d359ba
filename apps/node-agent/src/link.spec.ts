import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AgentMessage } from '@tracefleet/proto';
import { backoffMs, ControllerLink, firstAddrIndex, nextAddrIndex, type LinkHandlers } from './link';
import type { AgentConfig } from './config';
import type { NodeCredentials } from './identity';

describe('reconnect backoff', () => {
  it('grows exponentially, is capped, and is jittered', () => {
    assert.equal(backoffMs(0, () => 1), 500);
    assert.equal(backoffMs(3, () => 1), 4000);
    assert.equal(backoffMs(30, () => 1), 30_000);
    assert.equal(backoffMs(30, () => 0), 250, 'never zero: a floor keeps a flapping controller from a reconnect storm');
    const draws = new Set(Array.from({ length: 20 }, () => backoffMs(5)));
    assert.ok(draws.size > 5, 'jitter spreads agents apart');
  });
});

describe('controller replicas', () => {
  it('moves to the next address on each reconnect, round robin', () => {
    assert.deepEqual([0, 1, 2].map((i) => nextAddrIndex(i, 3)), [1, 2, 0]);
    assert.equal(nextAddrIndex(0, 1), 0, 'a single controller is retried');
  });

  it('starts each node on the replica its name picks, spreading a fleet evenly', () => {
    assert.equal(firstAddrIndex('any', 1), 0);
    assert.equal(firstAddrIndex('node-7', 3), firstAddrIndex('node-7', 3), 'the same node always starts on the same replica');
    const counts = [0, 0, 0];
    for (let i = 0; i < 3000; i++) counts[firstAddrIndex(`node-${i}`, 3)]++;
    for (const c of counts) assert.ok(c > 900 && c < 1100, `3000 nodes over 3 replicas: ${counts.join(' / ')}`);
    // Names that differ only in a non-ASCII character still land in range.
    for (const n of ['ñ', '节点', '']) assert.ok(firstAddrIndex(n, 5) >= 0 && firstAddrIndex(n, 5) < 5);
  });
});

describe('sending a backlog', () => {
  it('lets the event loop turn between messages the stream takes at once (sockets, timers, keepalive answers)', async () => {
    // A stream that takes every write at once, as grpc-js does while a call's retry buffer has room.
    const writes: unknown[] = [];
    const call = { write: (m: unknown) => (writes.push(m), true) };
    const cfg = { controllerAddrs: ['127.0.0.1:1'], controllerOrder: 'given', nodeName: 'n1' } as unknown as AgentConfig;
    const link = new ControllerLink(cfg, {} as LinkHandlers, () => undefined, {} as NodeCredentials);
    Object.assign(link as unknown as { call: unknown; registered: boolean }, { call, registered: true });
    let timerRanAfter = -1;
    setImmediate(() => (timerRanAfter = writes.length));
    const msg = { msg: { $case: 'heartbeat', value: { sentAtUnixMs: 0n, runningRunIds: [] } } } as unknown as AgentMessage;
    for (let i = 0; i < 1000; i++) await link.send(msg);
    assert.equal(writes.length, 1000);
    assert.ok(timerRanAfter >= 0 && timerRanAfter < 1000, `the loop turned only after ${timerRanAfter} of 1000 writes`);
  });
});
