import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BinaryReader, BinaryWriter } from '@bufbuild/protobuf/wire';
import { BufferReader } from './buffer-reader';
import { AgentMessage } from './gen/tracefleet/v1/agent.pb';
import { SslEvent } from './gen/tracefleet/v1/ssl.pb';

/** A length-delimited field's payload as string() reads it: the length varint, then the bytes. */
const delimited = (bytes: number[]): Uint8Array => new BinaryWriter().bytes(Uint8Array.from(bytes)).finish();

/** Both readers' string() over the same bytes: results, or the errors' texts. */
function both(wire: Uint8Array): [string, string] {
  const read = (r: BinaryReader): string => {
    try {
      return `ok:${r.string()}|pos ${r.pos}`;
    } catch (err) {
      return `throws:${(err as Error).message}`;
    }
  };
  return [read(new BinaryReader(wire)), read(new BufferReader(Buffer.from(wire)))];
}

describe('BufferReader', () => {
  it('reads strings as the library reader does, hostile UTF-8 included', () => {
    const ascii = [...Buffer.from('main;java.lang.Thread.run;x')];
    const cases: number[][] = [
      [],
      ascii,
      [...Buffer.from('x'.repeat(33))], // past the library's 32-byte ASCII fast path
      [0xef, 0xbb, 0xbf, 0x41], // a leading BOM is text
      [0xc3, 0x28], // a lead byte without its continuation
      [0xc0, 0xaf], // overlong '/'
      [0xed, 0xa0, 0x80], // a UTF-16 surrogate encoded as UTF-8
      [0xf0, 0x9f, 0x98], // a truncated 4-byte sequence
      [0xf8, 0x88, 0x80, 0x80, 0x80], // a 5-byte lead
      [0xf4, 0x90, 0x80, 0x80], // past U+10FFFF
      [0xff, 0xfe, 0x80, 0x80],
      [0x00, 0x41, 0x00, 0x0a, 0x1b, 0x5b, 0x33, 0x31, 0x6d], // NUL, newline, an escape sequence
      [...Buffer.from('😀 ünïcödé 名前')],
      [...ascii, 0xe2, 0x82, ...ascii, 0xc3, 0xa9, ...Buffer.from('x'.repeat(40))], // long, invalid inside
    ];
    for (const c of cases) {
      const [lib, ours] = both(delimited(c));
      assert.equal(ours, lib, `bytes ${Buffer.from(c).toString('hex')}`);
    }
    // Seeded random sequences, biased toward bytes that make UTF-8 go wrong.
    let seed = 0x2f6b1d;
    const next = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) & 0xff;
    const pool = [0x00, 0x41, 0x7f, 0x80, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff];
    for (let k = 0; k < 3000; k++) {
      const len = next() % 48;
      const bytes = Array.from({ length: len }, () => (next() & 1 ? pool[next() % pool.length] : next()));
      const [lib, ours] = both(delimited(bytes));
      assert.equal(ours, lib, `bytes ${Buffer.from(bytes).toString('hex')}`);
    }
  });

  it('refuses a length past the end as the library does', () => {
    const wire = delimited([...Buffer.from('abcdef')]).subarray(0, 4);
    const [lib, ours] = both(wire);
    assert.match(lib, /^throws:premature EOF/);
    assert.equal(ours, lib);
    // A length varint near 2^32 on a short buffer.
    const [lib2, ours2] = both(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x41]));
    assert.match(lib2, /^throws:/);
    assert.equal(ours2, lib2);
  });

  it('decodes a whole message to what the library reader gives, from a slice of a larger buffer too', () => {
    const msg = {
      msg: {
        $case: 'profileBatch' as const,
        value: {
          runId: '3f344c80-9e8b-43b5-9a8a-9e7915e44f98',
          seq: 7n,
          strings: ['main', 'x'.repeat(300), '\u0000\u001b[31m', '😀', ''],
          stacks: [{ frames: [0, 1, 2, 3], count: 5n, origin: 1 }],
          origins: [{ cgroup: '/sys/fs/cgroup/x', containerId: 'abc', podUid: '' }],
        },
      },
    };
    const bytes = AgentMessage.encode(msg).finish();
    const framed = Buffer.concat([Buffer.from('junk-before'), Buffer.from(bytes), Buffer.from('junk-after')]);
    const slice = framed.subarray(11, 11 + bytes.length);
    const ours = AgentMessage.decode(new BufferReader(slice));
    assert.deepEqual(ours, AgentMessage.decode(bytes));
    assert.deepEqual(AgentMessage.decode(new BufferReader(new Uint8Array(bytes))), ours, 'a plain Uint8Array too');
    assert.equal((ours.msg as { value: { strings: string[] } }).value.strings[1].length, 300);
  });

  it('reads bytes fields as the library does (only strings are its own)', () => {
    const data = Uint8Array.from([0xff, 0x00, 0xc3, 0x28, 0x41, 0xef, 0xbb, 0xbf]);
    const bytes = AgentMessage.encode({
      msg: { $case: 'sslEvents', value: { runId: 'r', seq: 1n, strings: ['curl'], events: [SslEvent.fromPartial({ pid: 1, tid: 2, comm: 'curl', data, length: 8n })], origins: [] } },
    }).finish();
    const ours = AgentMessage.decode(new BufferReader(Buffer.from(bytes)));
    // The library reader gives a bytes field as a view of its input: a Buffer's for a Buffer, as the controller passes.
    assert.deepEqual(ours, AgentMessage.decode(Buffer.from(bytes)));
    assert.deepEqual([...(ours.msg as { value: { events: { data: Uint8Array }[] } }).value.events[0].data], [...data]);
  });
});
