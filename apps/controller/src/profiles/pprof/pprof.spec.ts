import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { mergeStacks, toFolded, type StackCount } from '../flamegraph/flamegraph';
import { encodePprof, encodePprofGzip } from './pprof';
import { decodePprof, pprofStacks, pprofTotalsByPath } from './pprof-decode';
import { ProtoWriter } from './proto-writer';

// Two nodes, kernel and JIT frames, a shared leaf under different callers, a frame with the
// folded separator in it, a non-ASCII name and samples on a root frame alone.
const NODE_A: StackCount[] = [
  { frames: ['hot', 'main', 'work', 'hot_spin'], count: 400 },
  { frames: ['hot', 'main', 'work', 'hot_spin', 'asm_exc_page_fault_[k]', 'do_user_addr_fault_[k]'], count: 12 },
  { frames: ['hot', 'main', 'idle', 'hot_spin'], count: 7 },
  { frames: ['hot', 'main', 'std::map<int;int>::find'], count: 3n },
  { frames: ['hot'], count: 2 },
];
const NODE_B: StackCount[] = [
  { frames: ['node', 'LazyCompile:~tracefleetBurnCpuInJs burn.js:3_[j]', 'Builtins_Add_[j]'], count: 90 },
  { frames: ['hot', 'main', 'work', 'hot_spin'], count: 100 },
  { frames: ['node', 'uv_run', 'épure_ünïcode'], count: 5 },
  { frames: ['node', 'zero'], count: 0 },
];
const FIXTURE = { nodes: [{ node: 'node-a', stacks: NODE_A }, { node: 'node-b', stacks: NODE_B }], frequencyHz: 99 };

function foldedTotals(stacks: StackCount[]): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const s of mergeStacks(stacks)) {
    if (BigInt(s.count) === 0n) continue;
    const k = s.frames.join(';');
    out.set(k, (out.get(k) ?? 0n) + BigInt(s.count));
  }
  return out;
}

describe('pprof encoder', () => {
  it('has the same total per stack as the folded output, read back by an independent decoder', () => {
    const gz = encodePprofGzip(FIXTURE);
    assert.equal(gz[0], 0x1f);
    assert.equal(gz[1], 0x8b, 'served gzipped');
    const p = decodePprof(gz);
    assert.deepEqual(pprofTotalsByPath(p, 0), foldedTotals([...NODE_A, ...NODE_B]));
    // Through the folded writer on both sides: byte-identical folded text.
    const back = pprofStacks(p, 0).map((s) => ({ frames: s.frames, count: s.count }));
    assert.equal(toFolded(back), toFolded([...NODE_A, ...NODE_B]));
  });

  it('starts the string table with "" and declares samples/count and cpu/nanoseconds', () => {
    const p = decodePprof(encodePprofGzip(FIXTURE));
    assert.equal(p.stringTable[0], '');
    assert.equal(new Set(p.stringTable).size, p.stringTable.length, 'strings are interned once');
    assert.deepEqual(p.sampleType, [
      { type: 'samples', unit: 'count' },
      { type: 'cpu', unit: 'nanoseconds' },
    ]);
    assert.deepEqual(p.periodType, { type: 'cpu', unit: 'nanoseconds' });
    assert.equal(p.period, 10_101_010n); // 1e9 / 99, rounded
    for (const s of p.samples) assert.equal(s.values[1], s.values[0] * 10_101_010n);
  });

  it('has one Location and Function per distinct frame, with stacks leaf first', () => {
    const p = decodePprof(encodePprof(FIXTURE));
    const names = new Set([...NODE_A, ...NODE_B].filter((s) => BigInt(s.count) > 0n).flatMap((s) => s.frames));
    assert.equal(p.locations.size, names.size);
    assert.equal(p.functions.size, names.size);
    assert.deepEqual(new Set([...p.functions.values()].map((f) => f.name)), names);
    for (const loc of p.locations.values()) {
      assert.equal(loc.functionIds.length, 1);
      assert.ok(p.mappings.get(loc.mappingId)?.hasFunctions, 'locations point at a mapping whose functions are known');
    }
    const fn = (id: number): string => p.functions.get(p.locations.get(id)!.functionIds[0])!.name;
    const fault = p.samples.find((s) => s.values[0] === 12n)!;
    assert.deepEqual(fault.locationIds.map(fn), ['do_user_addr_fault_[k]', 'asm_exc_page_fault_[k]', 'hot_spin', 'work', 'main', 'hot']);
    assert.ok([...p.functions.values()].some((f) => f.name === 'Builtins_Add_[j]'));
    assert.ok([...p.functions.values()].some((f) => f.name === 'épure_ünïcode'));
  });

  it('labels each sample with its node, so per-node totals stay visible when merged', () => {
    const p = decodePprof(encodePprof(FIXTURE));
    const byNode = new Map<string, bigint>();
    for (const s of pprofStacks(p)) byNode.set(s.labels.node, (byNode.get(s.labels.node) ?? 0n) + s.count);
    assert.deepEqual(byNode, new Map([['node-a', 424n], ['node-b', 195n]]));
    assert.equal(p.samples.length, 5 + 3, 'zero counts are left out');
  });

  it('keeps 64-bit times and counts exact, and omits cpu time without a frequency', () => {
    const big = 2n ** 60n + 7n;
    const p = decodePprof(
      encodePprof({
        nodes: [{ node: 'n', stacks: [{ frames: ['a', 'b'], count: big }] }],
        timeNanos: 1_767_225_600_123_456_789n,
        durationNanos: 5_000_000_000n,
        comments: ['job x'],
      }),
    );
    assert.deepEqual(p.sampleType, [{ type: 'samples', unit: 'count' }]);
    assert.equal(p.samples[0].values.length, 1);
    assert.equal(p.samples[0].values[0], big);
    assert.equal(p.timeNanos, 1_767_225_600_123_456_789n);
    assert.equal(p.durationNanos, 5_000_000_000n);
    assert.deepEqual(p.comments, ['job x']);
  });

  it('encodes an empty profile as a valid message', () => {
    const p = decodePprof(gunzipSync(encodePprofGzip({ nodes: [] })));
    assert.equal(p.samples.length, 0);
    assert.equal(p.stringTable[0], '');
  });
});

describe('ProtoWriter', () => {
  const hex = (w: ProtoWriter): string => Buffer.from(w.finish()).toString('hex');

  it('writes varints as the protobuf documentation shows', () => {
    assert.equal(hex(new ProtoWriter().varint(0)), '00');
    assert.equal(hex(new ProtoWriter().varint(1)), '01');
    assert.equal(hex(new ProtoWriter().varint(150)), '9601');
    assert.equal(hex(new ProtoWriter().varint(300)), 'ac02');
    assert.equal(hex(new ProtoWriter().varint(2 ** 32)), '8080808010');
    assert.equal(hex(new ProtoWriter().varint(2n ** 64n - 1n)), 'ffffffffffffffffff01');
    assert.throws(() => new ProtoWriter().varint(-1), RangeError);
    assert.throws(() => new ProtoWriter().varint(2n ** 64n), RangeError);
    assert.throws(() => new ProtoWriter().varint(1.5), RangeError);
  });

  it('writes fields, packed repeats and nested messages', () => {
    // field 1 = 150: 08 96 01 (the protobuf encoding guide's example)
    assert.equal(hex(new ProtoWriter().uint64(1, 150)), '089601');
    assert.equal(hex(new ProtoWriter().uint64(1, 0)), '', 'defaults are skipped');
    // field 2 = "testing": 12 07 74 65 73 74 69 6e 67
    assert.equal(hex(new ProtoWriter().string(2, 'testing')), '120774657374696e67');
    // packed field 4 = [3, 270, 86942]: 22 06 03 8e 02 9e a7 05
    assert.equal(hex(new ProtoWriter().packed(4, [3, 270, 86942])), '2206038e029ea705');
    // field 3 = { field 1 = 150 }: 1a 03 08 96 01
    assert.equal(hex(new ProtoWriter().message(3, (m) => m.uint64(1, 150))), '1a03089601');
    const w = new ProtoWriter();
    for (let i = 0; i < 1000; i++) w.message(2, (m) => m.packed(1, [i, i + 1]).message(3, (l) => l.uint64(1, i + 2)));
    assert.ok(w.length > 1000, 'grows its buffer');
  });
});
