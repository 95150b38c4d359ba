import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { AgentMessage } from '@tracefleet/proto';
import { decodeWire, ownBytes, receiveChecked } from './agent-decoder';

/** grpc-js's own frame decoder (not exported by the package: required by path, for the version pinned here). */
const { StreamDecoder } = createRequire(require.resolve('@grpc/grpc-js'))('./stream-decoder') as {
  StreamDecoder: new (max: number) => { write(data: Buffer): Buffer[] };
};

const framed = (msg: Uint8Array): Buffer => {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(msg.length, 1);
  return Buffer.concat([head, msg]);
};

function batch(names: number): Uint8Array {
  const strings = Array.from({ length: names }, (_, i) => `frame_${i}_${'x'.repeat(30)}`);
  return AgentMessage.encode({
    msg: { $case: 'profileBatch', value: { runId: '3f344c80-9e8b-43b5-9a8a-9e7915e44f98', seq: 1n, strings, stacks: [{ frames: [0, 1, 2], count: 3n, origin: 0 }], origins: [] } },
  }).finish();
}

describe('ownBytes', () => {
  it('copies a slice of a much larger buffer, so a held message does not keep the rest alive', () => {
    const big = Buffer.alloc(1 << 20);
    const slice = big.subarray(1000, 9000);
    const own = ownBytes(slice);
    assert.notEqual(own.buffer, big.buffer);
    assert.equal(own.length, 8000);
    assert.ok(own.buffer.byteLength <= Math.max(8000 + 64, Buffer.poolSize));
  });

  it('keeps bytes whose memory is their own (or a pool slice, where a copy would go too)', () => {
    const exact = Buffer.allocUnsafeSlow(7607).subarray(5);
    assert.equal(ownBytes(exact), exact);
    const pooled = Buffer.from('a short message');
    assert.equal(ownBytes(pooled), pooled);
  });

  it('leaves what grpc-js hands over uncopied: each message in a buffer of its own, even from one large chunk', () => {
    const msgs = [batch(200), batch(3), batch(200)];
    const chunk = Buffer.concat(msgs.map(framed)); // several messages in one read
    const out = new StreamDecoder(4 << 20).write(chunk);
    assert.equal(out.length, 3);
    out.forEach((f, i) => {
      const wire = f.subarray(5); // as the server call hands it to the deserializer (identity encoding)
      assert.deepEqual(new Uint8Array(wire), msgs[i]);
      assert.equal(ownBytes(wire), wire, `message ${i} (${wire.length} bytes, memory ${wire.buffer.byteLength}) was not copied`);
      assert.ok(wire.buffer.byteLength <= Math.max(wire.length + 64, Buffer.poolSize));
    });
  });

  it('a received batch decodes to what the library decodes, hostile strings included', () => {
    const value = { runId: 'r', seq: 2n, strings: ['ok', '\u0000\u001b[2J', 'é😀', 'y'.repeat(40)], stacks: [{ frames: [0, 1, 2, 3], count: 1n, origin: 0 }], origins: [] };
    const wire = Buffer.from(AgentMessage.encode({ msg: { $case: 'profileBatch', value } }).finish());
    const got = decodeWire(receiveChecked(wire));
    assert.equal(got.msg?.$case, 'profileBatch');
    const strings = (got.msg as { value: { strings: string[] } }).value.strings;
    assert.equal(strings.length, 4);
    assert.equal(strings[2], 'é😀');
    assert.equal(strings[3], 'y'.repeat(40));
  });
});
