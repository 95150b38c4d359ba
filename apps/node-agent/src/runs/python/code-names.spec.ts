import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PythonNames, decodeChars } from './code-names';
import { layoutFor, PY_FRAME_ENTRY, type PyLayout } from './layout';
import type { MemoryReader } from './memory';

const CODE_TYPE = 0x7f00_0000_1000n;
const STR_TYPE = 0x7f00_0000_2000n;
const PID = 4242;

/** A fake address space: objects placed at fixed addresses, reads counted and bounded to what is there. */
class FakeMemory {
  regions = new Map<bigint, Buffer>();
  reads = 0;
  biggestRead = 0;
  failAt = new Set<bigint>();

  readonly read: MemoryReader = (_pid, addr, length) => {
    this.reads++;
    this.biggestRead = Math.max(this.biggestRead, length);
    for (const [start, buf] of this.regions) {
      if (this.failAt.has(start)) continue;
      if (addr >= start && addr + BigInt(length) <= start + BigInt(buf.length)) {
        const o = Number(addr - start);
        return Buffer.from(buf.subarray(o, o + length));
      }
    }
    return undefined;
  };

  put(addr: bigint, buf: Buffer): bigint {
    this.regions.set(addr, buf);
    return addr;
  }

  /** A str object: compact ASCII, or compact with `kind` bytes per character. */
  str(addr: bigint, layout: PyLayout, text: string, opts: { kind?: 1 | 2 | 4; ascii?: boolean; compact?: boolean; length?: bigint; type?: bigint } = {}): bigint {
    const cps = [...text].map((c) => c.codePointAt(0)!);
    const kind = opts.kind ?? (cps.every((c) => c < 0x80) ? 1 : cps.every((c) => c < 0x100) ? 1 : cps.every((c) => c < 0x10000) ? 2 : 4);
    const ascii = opts.ascii ?? cps.every((c) => c < 0x80);
    const dataAt = ascii ? layout.unicode.asciiData : layout.unicode.compactData;
    const b = Buffer.alloc(dataAt + (cps.length + 1) * kind);
    b.writeBigUInt64LE(1n, 0);
    b.writeBigUInt64LE(opts.type ?? STR_TYPE, 8);
    b.writeBigInt64LE(opts.length ?? BigInt(cps.length), 16);
    b.writeUInt32LE((kind << 2) | ((opts.compact ?? true) ? 1 << 5 : 0) | (ascii ? 1 << 6 : 0), 32);
    cps.forEach((c, i) => {
      if (kind === 1) b[dataAt + i] = c;
      else if (kind === 2) b.writeUInt16LE(c, dataAt + 2 * i);
      else b.writeUInt32LE(c, dataAt + 4 * i);
    });
    return this.put(addr, b);
  }

  code(addr: bigint, layout: PyLayout, name: bigint, filename: bigint, line: number, type = CODE_TYPE): bigint {
    const b = Buffer.alloc(200);
    b.writeBigUInt64LE(1n, 0);
    b.writeBigUInt64LE(type, 8);
    b.writeInt32LE(line, layout.code.firstLineno);
    b.writeBigUInt64LE(name, layout.code.name);
    b.writeBigUInt64LE(filename, layout.code.filename);
    return this.put(addr, b);
  }
}

function setup(minor = 12): { mem: FakeMemory; names: PythonNames; layout: PyLayout } {
  const layout = layoutFor(3, minor)!;
  const mem = new FakeMemory();
  const names = new PythonNames({ read: mem.read });
  names.addProcess(PID, { layout, codeType: CODE_TYPE, unicodeType: STR_TYPE });
  return { mem, names, layout };
}

describe('PythonNames', () => {
  it('names a code object qualname (file:line), with or without the entry bit, and caches it', () => {
    for (const minor of [9, 11, 12]) {
      const { mem, names, layout } = setup(minor);
      const n = mem.str(0x10000n, layout, 'Handler.get');
      const f = mem.str(0x11000n, layout, '/srv/app/views.py');
      const c = mem.code(0x20000n, layout, n, f, 42);
      assert.equal(names.name(PID, c), 'Handler.get (views.py:42)', `3.${minor}`);
      assert.equal(names.name(PID, c | PY_FRAME_ENTRY), 'Handler.get (views.py:42)');
      assert.deepEqual(names.stats(), { resolved: 1, failed: 0, cacheHits: 1, cached: 1, processes: 1 });
    }
  });

  it('decodes latin-1, UCS-2 and UCS-4 strings, and escapes control and bidi characters', () => {
    const { mem, names, layout } = setup();
    const c1 = mem.code(0x20000n, layout, mem.str(0x10000n, layout, 'café'), mem.str(0x11000n, layout, '<stdin>'), 1);
    const c2 = mem.code(0x21000n, layout, mem.str(0x12000n, layout, 'λ_fn'), mem.str(0x13000n, layout, '/x/😀/m.py'), 2);
    const c3 = mem.code(0x22000n, layout, mem.str(0x14000n, layout, 'a\nb\x1b[31m\u202ec'), mem.str(0x15000n, layout, 'x.py'), 3);
    assert.equal(names.name(PID, c1), 'café (<stdin>:1)');
    assert.equal(names.name(PID, c2), 'λ_fn (m.py:2)');
    assert.equal(names.name(PID, c3), 'a\\nb\\x1b[31m\\u202ec (x.py:3)');
    assert.equal(decodeChars(Buffer.from([0x00, 0xd8]), 2), '\\ud800'); // a lone surrogate
    assert.equal(decodeChars(Buffer.from([0x00, 0x00, 0x11, 0x00]), 4), undefined); // past U+10FFFF
  });

  it('gives a placeholder, never a throw, for what is not a code object or not a sane string', () => {
    const { mem, names, layout } = setup();
    const fname = mem.str(0x11000n, layout, 'ok.py');
    const good = mem.str(0x10000n, layout, 'ok');
    const cases: [string, bigint, RegExp][] = [
      ['unmapped', 0x9990000n, /^\[python code 0x9990000: unreadable\]$/],
      ['null', 0n, /unreadable/],
      ['wrong ob_type', mem.code(0x20000n, layout, good, fname, 1, 0xdeadn), /not a code object/],
      ['name too long', mem.code(0x21000n, layout, mem.str(0x12000n, layout, 'x'.repeat(257)), fname, 1), /bad name/],
      ['huge length', mem.code(0x22000n, layout, mem.str(0x13000n, layout, 'x', { length: 1n << 40n }), fname, 1), /bad name/],
      ['negative length', mem.code(0x23000n, layout, mem.str(0x14000n, layout, 'x', { length: -1n }), fname, 1), /bad name/],
      ['not compact', mem.code(0x24000n, layout, mem.str(0x15000n, layout, 'legacy', { compact: false }), fname, 1), /bad name/],
      ['bad kind', mem.code(0x25000n, layout, mem.str(0x16000n, layout, 'x', { kind: 3 as 1 }), fname, 1), /bad name/],
      ['ascii claiming wide chars', mem.code(0x26000n, layout, mem.str(0x17000n, layout, 'x', { kind: 2, ascii: true }), fname, 1), /bad name/],
      ['ascii with high bytes', mem.code(0x27000n, layout, mem.str(0x18000n, layout, 'é', { kind: 1, ascii: true }), fname, 1), /bad name/],
      ['name not a str', mem.code(0x28000n, layout, mem.str(0x19000n, layout, 'x', { type: 0xbadn }), fname, 1), /bad name/],
      ['name pointer unaligned', mem.code(0x29000n, layout, good + 3n, fname, 1), /bad name/],
      ['name pointer wild', mem.code(0x2a000n, layout, 0xffff_ffff_ffff_fff0n, fname, 1), /bad name/],
      ['file name too long', mem.code(0x2b000n, layout, good, mem.str(0x1a000n, layout, 'y'.repeat(1025)), 1), /bad file name/],
      ['string data cut short', mem.code(0x2c000n, layout, mem.str(0x1b000n, layout, 'abc', { length: 200n }), fname, 1), /bad name/],
    ];
    for (const [what, addr, expected] of cases) {
      let got = '';
      assert.doesNotThrow(() => (got = names.name(PID, addr)), what);
      assert.match(got, expected, what);
    }
    assert.equal(names.stats().failed, cases.length);
    assert.ok(mem.biggestRead <= 4096, `a read of ${mem.biggestRead} bytes`);
    // A 1024-character file name is fine; a read that fails halfway is not.
    assert.equal(names.name(PID, mem.code(0x2d000n, layout, good, mem.str(0x1c000n, layout, 'z'.repeat(1024)), 7)), 'ok (' + 'z'.repeat(1024) + ':7)');
    const flaky = mem.code(0x2e000n, layout, mem.str(0x1d000n, layout, 'gone'), fname, 1);
    mem.failAt.add(0x1d000n);
    assert.match(names.name(PID, flaky), /bad name/);
    assert.match(names.name(PID + 1, 0x20000n), /not a Python process/);
    const throwing = new PythonNames({ read: () => { throw new Error('EIO'); } });
    throwing.addProcess(PID, { layout, codeType: CODE_TYPE });
    assert.match(throwing.name(PID, 0x20000n), /unreadable/);
  });

  it('bounds its cache, and forgets a process', () => {
    const layout = layoutFor(3, 12)!;
    const mem = new FakeMemory();
    const names = new PythonNames({ read: mem.read, maxEntries: 3 });
    names.addProcess(1, { layout, codeType: CODE_TYPE });
    names.addProcess(2, { layout, codeType: CODE_TYPE });
    const fname = mem.str(0x11000n, layout, 'f.py');
    for (let i = 0; i < 5; i++) mem.code(0x20000n + BigInt(i) * 0x1000n, layout, mem.str(0x30000n + BigInt(i) * 0x1000n, layout, `f${i}`), fname, i);
    for (let i = 0; i < 5; i++) names.name(1, 0x20000n + BigInt(i) * 0x1000n);
    assert.equal(names.stats().cached, 3);
    names.name(2, 0x20000n);
    assert.equal(names.stats().cached, 3);
    const reads = mem.reads;
    assert.equal(names.name(1, 0x24000n), 'f4 (f.py:4)'); // still cached
    assert.equal(mem.reads, reads);
    names.forget(1);
    assert.deepEqual(names.stats(), { resolved: 6, failed: 0, cacheHits: 1, cached: 1, processes: 1 });
    assert.match(names.name(1, 0x24000n), /not a Python process/);
    names.close();
    assert.equal(names.stats().cached, 0);
  });
});
