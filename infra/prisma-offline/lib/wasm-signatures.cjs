'use strict';
// Reads the function signatures of a WebAssembly module's imports and exports.
//
// WebAssembly.Module.imports()/exports() give names and kinds only (Node 20 has no type
// reflection), but wasm-glue.cjs needs the value types: several wasm-bindgen imports share a
// name (`__wbg_set_*` is a plain property store in one place and Map#set in another) and only
// the signature tells them apart. So this walks the binary's type (1), import (2), function (3)
// and export (7) sections and skips everything else (code and data are most of the file).
//
// A signature is written as space-separated value types, params before "->", results after:
//   "ref i32 -> f64"   (externref and i32 in, f64 out)
//   "-> i32 i32"       (no params, two results)
//   "ref ->"           (no result)

const VALUE_TYPES = new Map([
  [0x7f, 'i32'],
  [0x7e, 'i64'],
  [0x7d, 'f32'],
  [0x7c, 'f64'],
  [0x7b, 'v128'],
  [0x70, 'funcref'],
  [0x6f, 'ref'], // externref
]);
const EXTERNAL_KINDS = ['function', 'table', 'memory', 'global', 'tag'];

class ByteReader {
  constructor(bytes, start = 0, end = bytes.length) {
    this.bytes = bytes;
    this.pos = start;
    this.end = end;
  }

  byte() {
    if (this.pos >= this.end) throw new Error(`wasm: unexpected end of data at byte ${this.pos}`);
    return this.bytes[this.pos++];
  }

  /** Unsigned LEB128 (all lengths, counts and indices in the sections read here fit 32 bits). */
  u32() {
    let value = 0;
    let factor = 1;
    for (let i = 0; i < 5; i++) {
      const b = this.byte();
      value += (b & 0x7f) * factor;
      if ((b & 0x80) === 0) return value;
      factor *= 128;
    }
    throw new Error(`wasm: LEB128 number too long at byte ${this.pos}`);
  }

  name() {
    const len = this.u32();
    if (this.pos + len > this.end) throw new Error('wasm: name runs past its section');
    const text = Buffer.from(this.bytes.buffer, this.bytes.byteOffset + this.pos, len).toString('utf8');
    this.pos += len;
    return text;
  }

  valueType() {
    const code = this.byte();
    const type = VALUE_TYPES.get(code);
    if (!type) throw new Error(`wasm: unknown value type 0x${code.toString(16)}`);
    return type;
  }

  vector(readOne) {
    const out = [];
    for (let n = this.u32(); n > 0; n--) out.push(readOne());
    return out;
  }

  limits() {
    const flags = this.byte();
    const min = this.u32();
    const max = flags & 1 ? this.u32() : undefined;
    return { min, max };
  }
}

function signatureText(params, results) {
  return [...params, '->', ...results].join(' ');
}

/**
 * @param {Uint8Array} bytes the .wasm file
 * @returns {{ imports: Array<{module: string, name: string, kind: string, params?: string[], results?: string[], sig?: string}>,
 *             exports: Array<{name: string, kind: string, params?: string[], results?: string[], sig?: string}> }}
 */
function readSignatures(bytes) {
  const data = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const head = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (data.length < 8 || head.getUint32(0, true) !== 0x6d736100) throw new Error('wasm: not a WebAssembly binary');
  if (head.getUint32(4, true) !== 1) throw new Error(`wasm: unsupported binary version ${head.getUint32(4, true)}`);

  const types = [];
  const imports = [];
  const functionTypes = []; // type index of every function: imported ones first, then defined ones
  const rawExports = [];

  const reader = new ByteReader(data, 8);
  while (reader.pos < reader.end) {
    const id = reader.byte();
    const size = reader.u32();
    const section = new ByteReader(data, reader.pos, reader.pos + size);
    reader.pos += size;
    if (id === 1) {
      for (let n = section.u32(); n > 0; n--) {
        const form = section.byte();
        if (form !== 0x60) throw new Error(`wasm: type form 0x${form.toString(16)} is not a function type`);
        const params = section.vector(() => section.valueType());
        const results = section.vector(() => section.valueType());
        types.push({ params, results });
      }
    } else if (id === 2) {
      for (let n = section.u32(); n > 0; n--) {
        const module = section.name();
        const name = section.name();
        const kindCode = section.byte();
        const entry = { module, name, kind: EXTERNAL_KINDS[kindCode] ?? `kind${kindCode}` };
        if (kindCode === 0) {
          const typeIndex = section.u32();
          functionTypes.push(typeIndex);
          entry.typeIndex = typeIndex;
        } else if (kindCode === 1) {
          section.valueType();
          section.limits();
        } else if (kindCode === 2) {
          section.limits();
        } else if (kindCode === 3) {
          section.valueType();
          section.byte();
        } else if (kindCode === 4) {
          section.byte();
          section.u32();
        } else {
          throw new Error(`wasm: unknown import kind ${kindCode}`);
        }
        imports.push(entry);
      }
    } else if (id === 3) {
      for (let n = section.u32(); n > 0; n--) functionTypes.push(section.u32());
    } else if (id === 7) {
      for (let n = section.u32(); n > 0; n--) {
        const name = section.name();
        const kindCode = section.byte();
        rawExports.push({ name, kind: EXTERNAL_KINDS[kindCode] ?? `kind${kindCode}`, index: section.u32() });
      }
    }
  }

  const withSignature = (entry, typeIndex) => {
    const type = types[typeIndex];
    if (!type) throw new Error(`wasm: ${entry.name} refers to missing type ${typeIndex}`);
    return { ...entry, params: type.params, results: type.results, sig: signatureText(type.params, type.results) };
  };
  return {
    imports: imports.map(({ typeIndex, ...entry }) => (entry.kind === 'function' ? withSignature(entry, typeIndex) : entry)),
    exports: rawExports.map(({ index, ...entry }) =>
      entry.kind === 'function' ? withSignature(entry, functionTypes[index]) : entry,
    ),
  };
}

module.exports = { readSignatures, signatureText };
