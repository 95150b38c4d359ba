import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildDir } from '@tracefleet/bpf';
import * as L from './layout';

const HEADER = join(buildDir, '..', 'src', 'python', 'python.h');
const header = readFileSync(HEADER, 'utf8');

/** #define NAME VALUE of the header, for plain integer values (1, 0xffff, 1ULL, -1). */
function defines(text: string): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const m of text.matchAll(/^#define (\w+)\s+(\(?[-~]?(?:0x[0-9a-f]+|\d+)(?:ULL|U|L)?\)?)/gim)) {
    const raw = m[2].replace(/[()]|ULL|U|L/g, '');
    const neg = raw.startsWith('-');
    const not = raw.startsWith('~');
    let v = BigInt(raw.replace(/^[-~]/, ''));
    if (neg) v = -v;
    if (not) v = ~v & 0xffff_ffff_ffff_ffffn;
    out.set(m[1], v);
  }
  return out;
}

/** The fields of `struct name` with their offsets (natural alignment, as the BPF target lays them out). */
function structLayout(text: string, name: string): { offsets: Record<string, number>; size: number } {
  const body = new RegExp(`struct ${name} \\{([^}]*)\\};`).exec(text)?.[1];
  assert.ok(body, `struct ${name} is not in ${HEADER}`);
  const sizes: Record<string, number> = { __u8: 1, __u16: 2, __u32: 4, __u64: 8, __s32: 4, __s64: 8 };
  const offsets: Record<string, number> = {};
  let off = 0;
  let maxAlign = 1;
  for (const m of body.replace(/\/\*[\s\S]*?\*\//g, '').matchAll(/(__[us]\d+)\s+(\w+)(?:\[(\d+)\])?;/g)) {
    const size = sizes[m[1]];
    off = Math.ceil(off / size) * size;
    offsets[m[2]] = off;
    off += size * Number(m[3] ?? 1);
    maxAlign = Math.max(maxAlign, size);
  }
  return { offsets, size: Math.ceil(off / maxAlign) * maxAlign };
}

describe('python layout', () => {
  it('mirrors every constant of python.h', () => {
    const d = defines(header);
    const mirrored = [
      'TRACEFLEET_MAX_PY_FRAMES',
      'PY_MODEL_FRAME_OBJECT',
      'PY_MODEL_IS_ENTRY',
      'PY_MODEL_CSTACK',
      'PY_OFF_NONE',
      'PY_FRAME_OWNED_BY_CSTACK',
      'PY_FRAME_ENTRY',
      'PY_FRAME_ADDR_MASK',
      'PY_ERR_NO_THREAD',
      'PY_ERR_READ',
      'PY_COUNTER_STACKS',
      'PY_COUNTER_FRAMES',
      'PY_COUNTER_NO_THREAD',
      'PY_COUNTER_READ_FAULT',
      'PY_COUNTER_TRUNCATED',
      'PY_COUNTER_MAX',
      'PY_MAX_PROCS',
      'PY_MAX_THREADS',
      'PY_MAX_THREAD_WALK',
    ];
    assert.deepEqual([...d.keys()].sort(), [...mirrored].sort(), 'a constant of python.h is not mirrored here (or gone)');
    for (const name of mirrored) {
      assert.equal(BigInt((L as unknown as Record<string, number | bigint>)[name]), d.get(name), name);
    }
  });

  it('lays struct py_proc out as python.h does', () => {
    const { offsets, size } = structLayout(header, 'py_proc');
    assert.deepEqual(offsets, L.PY_PROC_OFFSETS);
    assert.equal(size, L.PY_PROC_SIZE);
  });

  it('encodes struct py_proc byte for byte', () => {
    const l311 = L.layoutFor(3, 11)!;
    const b = L.encodePyProc(l311, 0x00007f12_3456_7890n);
    assert.equal(
      b.toString('hex'),
      [
        '90785634127f0000', // interp_head
        '1000', // interp_threads 16
        '0800', // tstate_next 8
        '9800', // tstate_thread_id 152
        '3800', // tstate_frame 56 (cframe)
        '0800', // cframe_frame 8
        '2000', // frame_code 32
        '3000', // frame_previous 48
        '4400', // frame_flag 68 (is_entry)
        '02', // PY_MODEL_IS_ENTRY
        '00000000000000', // pad
      ].join(''),
    );
    const l39 = L.encodePyProc(L.layoutFor(3, 9)!, 0x1000n);
    assert.equal(l39.readUInt16LE(L.PY_PROC_OFFSETS.cframe_frame), L.PY_OFF_NONE);
    assert.equal(l39.readUInt16LE(L.PY_PROC_OFFSETS.frame_flag), L.PY_OFF_NONE);
    assert.equal(l39[L.PY_PROC_OFFSETS.model], L.PY_MODEL_FRAME_OBJECT);
    const l313 = L.encodePyProc(L.layoutFor(3, 13)!, 0x1000n);
    assert.equal(l313.readUInt16LE(L.PY_PROC_OFFSETS.interp_threads), 7344);
    assert.equal(l313.readUInt16LE(L.PY_PROC_OFFSETS.cframe_frame), L.PY_OFF_NONE);
    assert.equal(l313[L.PY_PROC_OFFSETS.model], L.PY_MODEL_CSTACK);
    assert.throws(() => L.encodePyProc(l311, 0n), RangeError);
    assert.throws(() => L.encodePyProc(l311, 1n << 64n), RangeError);
  });

  it('has a layout for 3.8 to 3.13 and nothing else', () => {
    for (let minor = 0; minor < 20; minor++) assert.equal(L.layoutFor(3, minor) !== undefined, minor >= 8 && minor <= 13, `3.${minor}`);
    assert.equal(L.layoutFor(2, 7), undefined);
    assert.equal(L.SUPPORTED_VERSIONS, '3.8–3.13');
    for (let minor = 8; minor <= 13; minor++) {
      const l = L.layoutFor(3, minor)!;
      // Every offset fits the u16 fields of struct py_proc, and PY_OFF_NONE goes with the models that lack the field.
      for (const v of [l.interpThreads, l.tstateNext, l.tstateThreadId, l.tstateFrame, l.cframeFrame, l.frameCode, l.framePrevious, l.frameFlag]) {
        assert.ok(Number.isInteger(v) && v >= 0 && v <= 0xffff);
      }
      assert.equal(l.frameFlag === L.PY_OFF_NONE, l.model === L.PY_MODEL_FRAME_OBJECT, `3.${minor} frame_flag`);
      assert.equal(l.cframeFrame === L.PY_OFF_NONE, minor <= 10 || minor >= 13, `3.${minor} cframe_frame`);
    }
  });
});
