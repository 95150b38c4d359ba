// Unit tests of lib/wasm-glue.cjs and lib/wasm-signatures.cjs: the import coverage check against
// the pinned engine wasm, loud failure on imports the glue does not know, and the memory,
// externref-table and closure helpers on stand-in exports. No database needed.
//
//   node --test infra/prisma-offline/wasm-glue.test.mjs

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const pins = require('./lib/pins.cjs');
const { readSignatures } = require('./lib/wasm-signatures.cjs');
const glue = require('./lib/wasm-glue.cjs');

const { bytes: engineBytes } = pins.locateEngineWasm();
const engineSignatures = readSignatures(engineBytes);

// --- a hand-assembled wasm binary, for the failure paths ------------------------------------

const leb = (n) => {
  const out = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
};
const wasmName = (s) => {
  const b = [...Buffer.from(s, 'utf8')];
  return [...leb(b.length), ...b];
};
const section = (id, body) => [id, ...leb(body.length), ...body];
/** A module with one type `(i32 externref) -> f64` and the given function imports of that type. */
function tinyWasm(importNames) {
  const types = section(1, [1, 0x60, 2, 0x7f, 0x6f, 1, 0x7c]);
  const imports = section(2, [...leb(importNames.length), ...importNames.flatMap((n) => [...wasmName('./schema_engine_bg.js'), ...wasmName(n), 0, 0])]);
  return new Uint8Array([0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0, ...types, ...imports]);
}

// --- stand-in exports for the helpers --------------------------------------------------------

function fakeExports() {
  const memory = new WebAssembly.Memory({ initial: 1 });
  let top = 16;
  const freed = [];
  const exports = {
    memory,
    freed,
    __wbindgen_malloc(size, align) {
      top = Math.ceil(top / align) * align;
      const ptr = top;
      top += size;
      while (top > memory.buffer.byteLength) memory.grow(1);
      return ptr;
    },
    __wbindgen_free: (ptr, len, align) => freed.push([ptr, len, align]),
    __wbindgen_externrefs: new WebAssembly.Table({ element: 'externref', initial: 8 }),
    __externref_table_alloc() {
      return exports.__wbindgen_externrefs.grow(1);
    },
    stored: [],
    __wbindgen_exn_store: (index) => exports.stored.push(exports.__wbindgen_externrefs.get(index)),
  };
  return exports;
}

function fakeRuntime() {
  const exports = fakeExports();
  const rt = {
    hooks: {},
    exports,
    memory: new glue.WasmMemory(),
    refs: new glue.ExternrefTable(),
    closures: new glue.Closures(),
    wrapEngine: () => assert.fail('no engine here'),
  };
  rt.memory.attach(exports);
  rt.refs.attach(exports);
  return rt;
}

/** The glue's implementation of one import, bound to a stand-in runtime. */
function importImpl(rt, importName, sig) {
  const [params, results] = sig.split('->').map((s) => s.trim().split(/\s+/).filter(Boolean));
  const { problems, bindings } = glue.resolveImports(
    { imports: [{ module: './schema_engine_bg.js', name: importName, kind: 'function', params, results, sig }], exports: [] },
    rt,
  );
  assert.deepEqual(problems.filter((p) => p.includes(importName)), []);
  return bindings[0].impl;
}

// --- the signature reader --------------------------------------------------------------------

test('readSignatures lists the same imports and exports as WebAssembly.Module', () => {
  const module = new WebAssembly.Module(engineBytes);
  const fromModule = (list) => list.map((e) => `${e.module ?? ''}|${e.name}|${e.kind}`);
  const fromReader = (list) => list.map((e) => `${e.module ?? ''}|${e.name}|${e.kind}`);
  assert.deepEqual(fromReader(engineSignatures.imports), fromModule(WebAssembly.Module.imports(module)));
  assert.deepEqual(fromReader(engineSignatures.exports), fromModule(WebAssembly.Module.exports(module)));
  assert.equal(engineSignatures.imports.length, 90);
  const sig = (name) => engineSignatures.exports.find((e) => e.name === name)?.sig;
  assert.equal(sig('version'), '-> i32 i32');
  assert.equal(sig('schemaengine_new'), 'ref ref ref -> ref');
  assert.equal(sig('__wbindgen_malloc'), 'i32 i32 -> i32');
  const setTimeoutImport = engineSignatures.imports.find((e) => e.name.startsWith('__wbg_setTimeout_'));
  assert.equal(setTimeoutImport.sig, 'ref i32 -> f64');
});

test('readSignatures rejects what is not a wasm binary', () => {
  assert.throws(() => readSignatures(Buffer.from('not wasm at all')), /not a WebAssembly binary/);
});

// --- import coverage -------------------------------------------------------------------------

test('the glue implements every import of the pinned engine wasm', () => {
  const result = glue.resolveImports(engineSignatures);
  assert.deepEqual(result.problems, []);
  assert.equal(result.bindings.length, engineSignatures.imports.length);
  assert.ok(result.bindings.every((b) => typeof b.impl === 'function'));
  assert.ok(result.closureExports.invokeOne && result.closureExports.invokeTwo && result.closureExports.destroy);
  const methods = result.methods.map((m) => m.method).sort();
  for (const m of ['applyMigrations', 'createMigration', 'diagnoseMigrationHistory', 'diff', 'reset', 'schemaPush', 'version', 'debugPanic']) {
    assert.ok(methods.includes(m), `engine method ${m}`);
  }
  assert.deepEqual(glue.checkWasm(engineBytes), []);
});

test('the coverage check lists every import it cannot serve', () => {
  const sig = 'ref i32 -> f64';
  const imports = [
    ['__wbg_frobnicate_0123456789abcdef', sig], // unknown name
    ['__wbg_isArray_0123456789abcdef', 'ref ref -> i32'], // known name, other signature
    ['__wbg_new_0123456789abcdef', '-> ref'], // ambiguous name+signature, hash not pinned
    ['__wbindgen_cast_0123456789abcdef', 'i32 i32 -> ref'], // same for a cast
    ['__wbg_isArray_96e0af9891d0945d', 'ref -> i32'], // fine
  ].map(([name, s]) => {
    const [params, results] = s.split('->').map((x) => x.trim().split(/\s+/).filter(Boolean));
    return { module: './schema_engine_bg.js', name, kind: 'function', params, results, sig: s };
  });
  imports.push({ module: './schema_engine_bg.js', name: 'shared_memory', kind: 'memory' });
  const { problems, bindings } = glue.resolveImports({ imports, exports: engineSignatures.exports });
  assert.equal(bindings.length, 1);
  const expected = [
    /__wbg_frobnicate_0123456789abcdef .*no "frobnicate"/,
    /__wbg_isArray_0123456789abcdef \(ref ref -> i32\).*only as ref -> i32/,
    /__wbg_new_0123456789abcdef \(-> ref\).*several operations.*not pinned/,
    /__wbindgen_cast_0123456789abcdef \(i32 i32 -> ref\).*several operations/,
    /shared_memory: imported memory/,
  ];
  assert.equal(problems.length, expected.length, problems.join('\n'));
  expected.forEach((re, i) => assert.match(problems[i], re));
});

test('instantiating a wasm with unknown imports fails before running anything, naming them all', () => {
  const bytes = tinyWasm(['__wbg_frobnicate_0123456789abcdef', '__wbg_wobble_fedcba9876543210']);
  assert.throws(
    () => glue.instantiateSchemaEngine(bytes, { source: 'tiny.wasm' }),
    (error) => {
      assert.ok(error instanceof glue.GlueError);
      assert.match(error.message, /cannot run tiny\.wasm/);
      assert.match(error.message, /__wbg_frobnicate_0123456789abcdef \(i32 ref -> f64\)/);
      assert.match(error.message, /__wbg_wobble_fedcba9876543210/);
      assert.match(error.message, /export __wbindgen_malloc \(i32 i32 -> i32\) is missing/);
      assert.match(error.message, /export schemaengine_new/);
      return true;
    },
  );
});

test('parseImportName strips the prefix and the hash', () => {
  assert.deepEqual(glue.parseImportName('__wbg_get_with_ref_key_1dc361bd10053bfe'), { name: 'get_with_ref_key', hash: '1dc361bd10053bfe' });
  assert.deepEqual(glue.parseImportName('__wbg___wbindgen_is_object_c818261d21f283a4'), { name: '__wbindgen_is_object', hash: 'c818261d21f283a4' });
  assert.deepEqual(glue.parseImportName('__wbg__wbg_cb_unref_2454a539ea5790d9'), { name: '_wbg_cb_unref', hash: '2454a539ea5790d9' });
  assert.deepEqual(glue.parseImportName('__wbindgen_cast_2241b6af4c4b2941'), { name: '__wbindgen_cast', hash: '2241b6af4c4b2941' });
  assert.deepEqual(glue.parseImportName('__wbg_schemaengine_new'), { name: 'schemaengine_new', hash: null });
  assert.deepEqual(glue.parseImportName('__wbindgen_init_externref_table'), { name: '__wbindgen_init_externref_table', hash: null });
});

// --- the real engine -------------------------------------------------------------------------

test('the pinned engine wasm starts with the glue and reports its commit', () => {
  const engine = glue.instantiateSchemaEngine(engineBytes);
  assert.equal(engine.version(), pins.PINS.enginesVersion);
  assert.equal(typeof engine.SchemaEngine.new, 'function');
  assert.equal(typeof engine.SchemaEngine.prototype.applyMigrations, 'function');
  assert.throws(() => new engine.SchemaEngine(), /use SchemaEngine\.new\(\)/);
});

// --- helpers on stand-in exports -------------------------------------------------------------

test('WasmMemory: strings round-trip through memory as UTF-8, also across memory growth', () => {
  const exports = fakeExports();
  const memory = new glue.WasmMemory();
  memory.attach(exports);
  for (const text of ['', 'ascii only', 'héllo wörld', '✓ 𝄞 日本語', 'x'.repeat(70_000) + 'ä']) {
    const { ptr, len } = memory.allocString(text);
    assert.equal(len, Buffer.byteLength(text, 'utf8'));
    assert.equal(memory.readString(ptr, len), text);
  }
  assert.ok(exports.memory.buffer.byteLength > 65536, 'the long string made the memory grow');
  const { ptr, len } = memory.allocString('given back');
  assert.equal(memory.takeString([ptr, len]), 'given back');
  assert.deepEqual(exports.freed.at(-1), [ptr, len, 1]);
  assert.throws(() => new glue.WasmMemory().bytes(), /not instantiated/);
});

test('WasmMemory: result slots have the wasm-bindgen layout', () => {
  const exports = fakeExports();
  const memory = new glue.WasmMemory();
  memory.attach(exports);
  const slot = exports.__wbindgen_malloc(16, 8);
  const view = () => new DataView(exports.memory.buffer);

  memory.storeString(slot, 'ünï');
  const sptr = view().getInt32(slot, true);
  const slen = view().getInt32(slot + 4, true);
  assert.equal(memory.readString(sptr, slen), 'ünï');
  memory.storeString(slot, undefined);
  assert.equal(view().getInt32(slot, true), 0);

  memory.storeOptionalF64(slot, 2.5);
  assert.equal(view().getInt32(slot, true), 1);
  assert.equal(view().getFloat64(slot + 8, true), 2.5);
  memory.storeOptionalF64(slot, undefined);
  assert.equal(view().getInt32(slot, true), 0);

  memory.storeOptionalI64(slot, -(2n ** 62n));
  assert.equal(view().getInt32(slot, true), 1);
  assert.equal(view().getBigInt64(slot + 8, true), -(2n ** 62n));
});

test('ExternrefTable: reserved constants, slots and Option<JsValue>', () => {
  const exports = fakeExports();
  const refs = new glue.ExternrefTable();
  refs.attach(exports);
  const table = exports.__wbindgen_externrefs;
  const before = table.length;
  refs.initialize();
  assert.deepEqual([before, before + 1, before + 2, before + 3].map((i) => table.get(i)), [undefined, null, true, false]);
  const value = { a: 1 };
  const index = refs.put(value);
  assert.equal(table.get(index), value);
  assert.equal(refs.putOptional(null), 0);
  assert.equal(refs.putOptional(undefined), 0);
  assert.notEqual(refs.putOptional(0), 0);
});

test('Closures: calls reach invoke, destroy waits for the last user, re-entry passes 0', () => {
  const calls = [];
  const destroyed = [];
  let duringCall = () => {};
  const closures = new glue.Closures();
  closures.attach({
    invokeOne: (data, vtable, arg) => {
      calls.push([data, vtable, arg]);
      duringCall();
    },
    destroy: (data, vtable) => destroyed.push([data, vtable]),
  });
  const fn = closures.fromRust(100, 200);
  fn('a');
  assert.deepEqual(calls, [[100, 200, 'a']]);

  // A call from inside a call gets data 0, which the wasm refuses ("invoked recursively").
  duringCall = () => {
    duringCall = () => {};
    fn('inner');
  };
  fn('outer');
  assert.deepEqual(calls.slice(1), [[100, 200, 'outer'], [0, 200, 'inner']]);
  fn('again');
  assert.deepEqual(calls.at(-1), [100, 200, 'again'], 'data is restored after the call');

  // Rust drops its handle while the closure runs: destroyed once that call returns, not before.
  duringCall = () => {
    duringCall = () => {};
    closures.release(fn);
    assert.deepEqual(destroyed, []);
  };
  fn('last');
  assert.deepEqual(destroyed, [[100, 200]]);
  fn('after');
  assert.deepEqual(calls.at(-1), [0, 200, 'after'], 'a destroyed closure hands 0 to the wasm');
  assert.deepEqual(destroyed, [[100, 200]], 'destroyed once');

  const other = closures.fromRust(300, 400);
  closures.release(other);
  assert.deepEqual(destroyed.at(-1), [300, 400]);
  assert.throws(() => closures.release(() => {}), /not a Rust closure/);
});

test('Closures: a Promise executor calls the two-argument invoke with resolve and reject', async () => {
  const closures = new glue.Closures();
  closures.attach({ invokeTwo: (data, vtable, resolve) => resolve(data + vtable) });
  assert.equal(await new Promise(closures.promiseExecutor(40, 2)), 42);
});

test('imports: values, casts and hash-pinned variants behave as their Rust bindings expect', () => {
  const rt = fakeRuntime();
  const h = '0000000000000000';
  assert.equal(importImpl(rt, `__wbg___wbindgen_boolean_get_${h}`, 'ref -> i32')('no'), 0xffffff);
  assert.equal(importImpl(rt, `__wbg___wbindgen_boolean_get_${h}`, 'ref -> i32')(true), 1);
  assert.equal(importImpl(rt, `__wbg___wbindgen_in_${h}`, 'ref ref -> i32')('k', { k: 1 }), true);
  assert.equal(importImpl(rt, '__wbindgen_cast_4625c577ab2ec9ee', 'i64 -> ref')(-1n), 2n ** 64n - 1n);
  assert.equal(importImpl(rt, '__wbindgen_cast_9ae0607507abb057', 'i64 -> ref')(-1n), -1n);
  const { ptr, len } = rt.memory.allocString('cast me');
  assert.equal(importImpl(rt, '__wbindgen_cast_2241b6af4c4b2941', 'i32 i32 -> ref')(ptr, len), 'cast me');
  const bytesView = importImpl(rt, '__wbindgen_cast_cb9088102bce6b30', 'i32 i32 -> ref')(ptr, len);
  bytesView[0] = 'C'.charCodeAt(0);
  assert.equal(rt.memory.readString(ptr, len), 'Cast me', 'a &[u8] cast is a view of wasm memory');

  assert.deepEqual(importImpl(rt, '__wbg_new_e17d9f43105b08be', '-> ref')(), []);
  assert.ok(importImpl(rt, '__wbg_new_68651c719dcda04e', '-> ref')() instanceof Map);
  const iterator = [7][Symbol.iterator]();
  assert.equal(importImpl(rt, '__wbg_next_2c826fe5dfec6b6a', 'ref -> ref')(iterator), iterator.next);
  assert.deepEqual(importImpl(rt, '__wbg_next_020810e0ae8ebcb0', 'ref -> ref')(iterator), { value: 7, done: false });

  // Throwing imports hand the error to __wbindgen_exn_store instead of throwing into the wasm.
  const reflectGet = importImpl(rt, '__wbg_get_efcb449f58ec27c2', 'ref ref -> ref');
  assert.equal(reflectGet({ a: 5 }, 'a'), 5);
  assert.equal(reflectGet(1, 'a'), undefined);
  assert.ok(rt.exports.stored.at(-1) instanceof TypeError);
  const call = importImpl(rt, `__wbg_call_${h}`, 'ref ref ref -> ref');
  assert.equal(call(function (x) { return this.k + x; }, { k: 1 }, 2), 3);
  call(() => {
    throw new RangeError('boom');
  }, null, 0);
  assert.match(String(rt.exports.stored.at(-1)), /RangeError: boom/);

  const slot = rt.exports.__wbindgen_malloc(16, 8);
  importImpl(rt, `__wbg___wbindgen_number_get_${h}`, 'i32 ref ->')(slot, 'not a number');
  assert.equal(new DataView(rt.exports.memory.buffer).getInt32(slot, true), 0);
  importImpl(rt, `__wbg___wbindgen_string_get_${h}`, 'i32 ref ->')(slot, 'ö');
  const dv = new DataView(rt.exports.memory.buffer);
  assert.equal(rt.memory.readString(dv.getInt32(slot, true), dv.getInt32(slot + 4, true)), 'ö');

  const req = importImpl(rt, `__wbg_require_${h}`, '-> ref')();
  assert.equal(typeof req('crypto').randomFillSync, 'function');
  assert.throws(() => req('./lib/pins.cjs'), /only require Node built-ins/);
  assert.match(glue.describeValue(new Error('why')), /^Error: why\n/);
  assert.equal(glue.describeValue('s'), "'s'");
});
