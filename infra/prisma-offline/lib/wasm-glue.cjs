'use strict';
// The JavaScript side of the schema engine wasm (node_modules/prisma/build/schema_engine_bg.wasm).
//
// That wasm was built with wasm-bindgen, which normally generates a JS file to go with it. The
// prisma CLI does not ship that file, so this module implements the part of the wasm-bindgen ABI
// the engine uses, written from the wasm's own import and export lists:
//
//   - JS values cross the boundary as `externref`. Where the ABI needs an index instead (an
//     Option<JsValue>, or a value handed to `__wbindgen_exn_store`), the value is put into the
//     exported externref table, in a slot from `__externref_table_alloc`. Slot 0 and the four
//     constants undefined/null/true/false are set up by `__wbindgen_init_externref_table`.
//   - Strings and byte slices live in the wasm memory as (pointer, length). Strings are UTF-8;
//     JS allocates room for them with `__wbindgen_malloc`, and frees strings the wasm hands over
//     (`version()`) with `__wbindgen_free`. Imports that return a String or an Option<number>
//     write it into a slot in wasm memory whose address is their first argument.
//   - An import that may throw catches the error and reports it with `__wbindgen_exn_store`;
//     the wasm side turns it into a Rust `Err`.
//   - Rust closures arrive as (data, vtable). JS calls them through the exported `...invoke...`
//     function and drops them through `...destroy...`, once neither side uses them any more.
//   - The engine object is a pointer into wasm memory, wrapped by the SchemaEngine class below.
//
// wasm-bindgen names every import `__wbg_<what>_<16 hex hash>`. The table in importTable() is
// keyed by <what> plus the import's signature (read from the binary by wasm-signatures.cjs). Where
// name and signature still fit several operations (three different `new` with no arguments), the
// hash picks one; those hashes are pinned in the table. resolveImports() checks every import of
// the wasm against the table before anything runs: an import it cannot resolve, or a required
// export that is missing, stops the load with a list of all of them, so a prisma upgrade whose
// wasm needs something else fails loudly instead of misbehaving.

const util = require('node:util');
const { isBuiltin } = require('node:module');
const { readSignatures } = require('./wasm-signatures.cjs');
const { GlueError, WasmMemory, ExternrefTable, Closures } = require('./wasm-runtime.cjs');

// ---------------------------------------------------------------------------------------------
// Imports.

/** Text for Rust's `Debug` of a JsValue. */
function describeValue(value) {
  if (value instanceof Error) return value.stack || `${value.name}: ${value.message}`;
  return util.inspect(value, { depth: 4, breakLength: Infinity, maxArrayLength: 50, maxStringLength: 10_000 });
}

/** The imports, grouped by what they touch. See the header for how entries are matched. */
function importTable(rt) {
  const { memory, refs, closures } = rt;
  const str = (ptr, len) => memory.readString(ptr, len);
  // For imports that may throw: the error goes to the wasm as a Rust Err.
  const catching =
    (fn) =>
    (...args) => {
      try {
        return fn(...args);
      } catch (error) {
        rt.exports.__wbindgen_exn_store(refs.put(error));
        return undefined;
      }
    };
  const isA = (ctor) => (value) => {
    try {
      return value instanceof ctor;
    } catch {
      return false;
    }
  };
  const optionalGlobal = (name) => () => refs.putOptional(typeof globalThis[name] === 'undefined' ? undefined : globalThis[name]);
  const entry = (name, sig, impl) => ({ name, sigs: Array.isArray(sig) ? sig : [sig], impl });
  // Same name and signature, different operations: the import's hash decides.
  const byHash = (variants) => ({ variants });

  return [
    // Set-up, errors, panics.
    entry('__wbindgen_init_externref_table', '->', () => refs.initialize()),
    entry('__wbindgen_throw', 'i32 i32 ->', (ptr, len) => {
      throw new Error(str(ptr, len));
    }),
    entry('set_message', 'i32 i32 ->', (ptr, len) => rt.hooks.onPanicMessage?.(str(ptr, len))),
    entry('Error', 'i32 i32 -> ref', (ptr, len) => new Error(str(ptr, len))),
    entry('set_name', 'ref i32 i32 ->', (target, ptr, len) => {
      target.name = str(ptr, len);
    }),
    entry('__wbindgen_debug_string', 'i32 ref ->', (slot, value) => memory.storeString(slot, describeValue(value))),
    entry('schemaengine_new', 'i32 -> ref', (ptr) => rt.wrapEngine(ptr)),

    // Value conversions (wasm-bindgen's cast intrinsics).
    entry('__wbindgen_cast', 'f64 -> ref', (n) => n),
    entry(
      '__wbindgen_cast',
      'i64 -> ref',
      byHash({
        '9ae0607507abb057': (n) => n, // i64
        '4625c577ab2ec9ee': (n) => BigInt.asUintN(64, n), // u64: the wasm passes the bits as a signed i64
      }),
    ),
    entry(
      '__wbindgen_cast',
      'i32 i32 -> ref',
      byHash({
        '2241b6af4c4b2941': (ptr, len) => str(ptr, len), // &str
        cb9088102bce6b30: (ptr, len) => memory.view(ptr, len), // &[u8] as a Uint8Array view of wasm memory
        a9993887db3ced61: (data, vtable) => closures.fromRust(data, vtable), // Closure<dyn FnMut(JsValue)>
      }),
    ),

    // Type tests and reading JS values.
    entry('__wbindgen_is_undefined', 'ref -> i32', (v) => v === undefined),
    entry('__wbindgen_is_object', 'ref -> i32', (v) => typeof v === 'object' && v !== null),
    entry('__wbindgen_is_string', 'ref -> i32', (v) => typeof v === 'string'),
    entry('__wbindgen_is_function', 'ref -> i32', (v) => typeof v === 'function'),
    entry('__wbindgen_is_bigint', 'ref -> i32', (v) => typeof v === 'bigint'),
    entry('__wbindgen_jsval_eq', 'ref ref -> i32', (a, b) => a === b),
    entry('__wbindgen_jsval_loose_eq', 'ref ref -> i32', (a, b) => a == b), // eslint-disable-line eqeqeq
    entry('__wbindgen_in', 'ref ref -> i32', (key, target) => key in target),
    // Option<bool> as i32: 0, 1, or 0xFFFFFF for "not a boolean".
    entry('__wbindgen_boolean_get', 'ref -> i32', (v) => (typeof v === 'boolean' ? Number(v) : 0xffffff)),
    entry('__wbindgen_number_get', 'i32 ref ->', (slot, v) => memory.storeOptionalF64(slot, typeof v === 'number' ? v : undefined)),
    entry('__wbindgen_bigint_get_as_i64', 'i32 ref ->', (slot, v) => memory.storeOptionalI64(slot, typeof v === 'bigint' ? v : undefined)),
    entry('__wbindgen_string_get', 'i32 ref ->', (slot, v) => memory.storeString(slot, typeof v === 'string' ? v : undefined)),
    entry('String', 'i32 ref ->', (slot, v) => memory.storeString(slot, String(v))),
    entry('Number', 'ref -> f64', (v) => Number(v)),
    entry('isSafeInteger', 'ref -> i32', (v) => Number.isSafeInteger(v)),
    entry('isArray', 'ref -> i32', (v) => Array.isArray(v)),
    entry('valueOf', 'ref -> i32', (v) => v.valueOf()),
    entry('instanceof_Map', 'ref -> i32', isA(Map)),
    entry('instanceof_Promise', 'ref -> i32', isA(Promise)),
    entry('instanceof_Uint8Array', 'ref -> i32', isA(Uint8Array)),
    entry('instanceof_ArrayBuffer', 'ref -> i32', isA(ArrayBuffer)),

    // Objects, arrays, maps, iteration.
    entry(
      'new',
      '-> ref',
      byHash({
        e17d9f43105b08be: () => [],
        '1acc0b6eea89d040': () => ({}),
        '68651c719dcda04e': () => new Map(),
      }),
    ),
    entry('length', 'ref -> i32', (v) => v.length),
    entry('get', 'ref i32 -> ref', (array, i) => array[i >>> 0]),
    entry('set', 'ref i32 ref ->', (array, i, v) => {
      array[i >>> 0] = v;
    }),
    entry('push', 'ref ref -> i32', (array, v) => array.push(v)),
    entry('get_with_ref_key', 'ref ref -> ref', (target, key) => target[key]),
    entry(
      'get',
      'ref ref -> ref',
      byHash({
        ece95cf6585650d9: catching((target, key) => target[key]),
        efcb449f58ec27c2: catching((target, key) => Reflect.get(target, key)),
      }),
    ),
    entry('set', 'ref ref ref ->', (target, key, v) => {
      target[key] = v;
    }),
    entry('set', 'ref ref ref -> ref', (map, key, v) => map.set(key, v)),
    entry('set', 'ref ref ref -> i32', catching((target, key, v) => Reflect.set(target, key, v))),
    entry('has', 'ref ref -> i32', catching((target, key) => Reflect.has(target, key))),
    entry('entries', 'ref -> ref', (v) => Object.entries(v)),
    entry('iterator', '-> ref', () => Symbol.iterator),
    entry(
      'next',
      'ref -> ref',
      byHash({
        '2c826fe5dfec6b6a': (iterator) => iterator.next, // the method itself
        '020810e0ae8ebcb0': catching((iterator) => iterator.next()),
      }),
    ),
    entry('done', 'ref -> i32', (result) => result.done),
    entry('value', 'ref -> ref', (result) => result.value),

    // Functions, promises, scheduling.
    entry('call', ['ref ref -> ref', 'ref ref ref -> ref'], catching((fn, self, ...args) => Reflect.apply(fn, self, args))),
    entry('new_no_args', 'i32 i32 -> ref', (ptr, len) => new Function(str(ptr, len))), // eslint-disable-line no-new-func
    entry(
      'new',
      'i32 i32 -> ref',
      byHash({
        '3c3d849046688a66': (data, vtable) => new Promise(closures.promiseExecutor(data, vtable)),
        a7442b4b19c1a356: (ptr, len) => new Error(str(ptr, len)),
      }),
    ),
    entry('resolve', 'ref -> ref', (v) => Promise.resolve(v)),
    entry('then', ['ref ref -> ref', 'ref ref ref -> ref'], (promise, ...handlers) => promise.then(...handlers)),
    entry('queueMicrotask', 'ref ->', (fn) => queueMicrotask(fn)),
    entry('queueMicrotask', 'ref -> ref', (scope) => scope.queueMicrotask),
    entry('_wbg_cb_unref', 'ref ->', (fn) => closures.release(fn)),
    entry('setTimeout', 'ref i32 -> f64', (fn, ms) => setTimeout(fn, ms >>> 0)),

    // Time.
    entry('new_0', '-> ref', () => new Date()),
    entry('getTime', 'ref -> f64', (date) => date.getTime()),
    entry('now', '-> f64', () => Date.now()),
    entry('now', 'ref -> f64', (clock) => clock.now()),

    // Regular expressions.
    entry('new', 'i32 i32 i32 i32 -> ref', (p, pl, f, fl) => new RegExp(str(p, pl), str(f, fl))),
    entry('exec', 'ref i32 i32 -> i32', (re, ptr, len) => refs.putOptional(re.exec(str(ptr, len)))),

    // Byte arrays.
    entry('new', 'ref -> ref', (source) => new Uint8Array(source)),
    entry('new_with_length', 'i32 -> ref', (len) => new Uint8Array(len >>> 0)),
    entry('new_from_slice', 'i32 i32 -> ref', (ptr, len) => memory.view(ptr, len).slice()),
    entry('subarray', 'ref i32 i32 -> ref', (array, begin, end) => array.subarray(begin >>> 0, end >>> 0)),
    // Uint8Array::copy_to: from a JS array into wasm memory.
    entry('prototypesetcall', 'i32 i32 ref ->', (ptr, len, source) => memory.view(ptr, len).set(source)),

    // Globals and the environment probes of the random number source.
    entry('static_accessor_GLOBAL', '-> i32', optionalGlobal('global')),
    entry('static_accessor_GLOBAL_THIS', '-> i32', () => refs.putOptional(globalThis)),
    entry('static_accessor_SELF', '-> i32', optionalGlobal('self')),
    entry('static_accessor_WINDOW', '-> i32', optionalGlobal('window')),
    entry('process', 'ref -> ref', (scope) => scope.process),
    entry('versions', 'ref -> ref', (proc) => proc.versions),
    entry('node', 'ref -> ref', (versions) => versions.node),
    entry('crypto', 'ref -> ref', (scope) => scope.crypto),
    entry('msCrypto', 'ref -> ref', (scope) => scope.msCrypto),
    // `module.require` of CommonJS; here limited to Node's built-in modules (the wasm wants "crypto").
    entry(
      'require',
      '-> ref',
      catching(() => (id) => {
        if (!isBuiltin(String(id))) throw new Error(`wasm-glue: the engine may only require Node built-ins, not ${id}`);
        return require(id);
      }),
    ),
    entry('getRandomValues', 'ref ref ->', catching((crypto, array) => void crypto.getRandomValues(array))),
    entry('randomFillSync', 'ref ref ->', catching((crypto, array) => void crypto.randomFillSync(array))),
  ];
}

// ---------------------------------------------------------------------------------------------
// Matching the wasm's imports and exports against what this module provides.

/** "__wbg_get_with_ref_key_1dc361bd10053bfe" → { name: "get_with_ref_key", hash: "1dc361bd10053bfe" } */
function parseImportName(importName) {
  const m = /^(?:__wbg_)?(.+?)(?:_([0-9a-f]{16}))?$/.exec(importName);
  return { name: m[1], hash: m[2] ?? null };
}

const REQUIRED_EXPORTS = {
  memory: 'memory',
  __wbindgen_externrefs: 'table',
  __wbindgen_malloc: 'i32 i32 -> i32',
  __wbindgen_free: 'i32 i32 i32 ->',
  __wbindgen_exn_store: 'i32 ->',
  __externref_table_alloc: '-> i32',
  __wbindgen_start: '->',
  version: '-> i32 i32',
  schemaengine_new: 'ref ref ref -> ref',
  __wbg_schemaengine_free: 'i32 i32 ->',
};

// The engine methods: every other `schemaengine_<method>` export, by signature.
const METHOD_KINDS = {
  'i32 ref -> ref': 'value', // method(params) -> Promise
  'i32 i32 -> ref': 'optional', // method(params?) -> Promise, params as Option<JsValue>
  'i32 ->': 'none', // method(), sync
};

function exportKindText(entry) {
  return entry.kind === 'function' ? entry.sig : entry.kind;
}

/**
 * Checks the imports and exports (as read by readSignatures) against this glue.
 * @returns {{ problems: string[], bindings: Array<{module: string, name: string, impl: Function}>,
 *             closureExports: {invokeOne?: string, invokeTwo?: string, destroy?: string}, methods: Array<{method: string, exportName: string, kind: string}> }}
 */
function resolveImports({ imports, exports }, rt = createRuntime()) {
  const problems = [];
  const table = importTable(rt);
  const bindings = [];
  const usedVariants = new Set();
  for (const imp of imports) {
    const where = `${imp.module}:${imp.name}`;
    if (imp.kind !== 'function') {
      problems.push(`${where}: imported ${imp.kind}, but the glue provides functions only`);
      continue;
    }
    const { name, hash } = parseImportName(imp.name);
    const sameName = table.filter((e) => e.name === name);
    const matches = sameName.filter((e) => e.sigs.includes(imp.sig));
    if (sameName.length === 0) {
      problems.push(`${where} (${imp.sig}): the glue has no "${name}"`);
      continue;
    }
    if (matches.length !== 1) {
      const known = sameName.flatMap((e) => e.sigs).join(' | ');
      problems.push(`${where} (${imp.sig}): the glue has "${name}" only as ${known}`);
      continue;
    }
    let impl = matches[0].impl;
    if (typeof impl !== 'function') {
      const variants = impl.variants;
      if (!hash || !Object.hasOwn(variants, hash)) {
        problems.push(
          `${where} (${imp.sig}): "${name}" with this signature is one of several operations, told apart by ` +
            `the hashes ${Object.keys(variants).join(', ')}; hash ${hash ?? '(none)'} is not pinned`,
        );
        continue;
      }
      usedVariants.add(`${name}/${hash}`);
      impl = variants[hash];
    }
    bindings.push({ module: imp.module, name: imp.name, impl });
  }

  const byName = new Map(exports.map((e) => [e.name, e]));
  for (const [name, expected] of Object.entries(REQUIRED_EXPORTS)) {
    const found = byName.get(name);
    if (!found) problems.push(`export ${name} (${expected}) is missing`);
    else if (exportKindText(found) !== expected) problems.push(`export ${name} is ${exportKindText(found)}, expected ${expected}`);
  }

  // Closure entry points: the only exported invoke/destroy functions of each signature.
  const closureExports = {};
  const pick = (key, pattern, sig, neededBy) => {
    const found = exports.filter((e) => e.kind === 'function' && pattern.test(e.name) && e.sig === sig);
    if (found.length === 1) closureExports[key] = found[0].name;
    else if (neededBy) problems.push(`${neededBy} needs exactly one exported closure ${pattern} with signature ${sig}, found ${found.length}`);
  };
  const wantsClosures = usedVariants.has('__wbindgen_cast/a9993887db3ced61');
  const wantsPromises = usedVariants.has('new/3c3d849046688a66');
  pick('invokeOne', /closures.*invoke/, 'i32 i32 ref ->', wantsClosures && 'the closure cast');
  pick('destroy', /closure.*destroy/, 'i32 i32 ->', wantsClosures && 'the closure cast');
  pick('invokeTwo', /closures.*invoke/, 'i32 i32 ref ref ->', wantsPromises && 'new Promise');

  const methods = [];
  for (const e of exports) {
    const m = /^schemaengine_(\w+)$/.exec(e.name);
    if (!m || m[1] === 'new') continue;
    const kind = e.kind === 'function' ? METHOD_KINDS[e.sig] : undefined;
    if (kind) methods.push({ method: m[1], exportName: e.name, kind });
    else problems.push(`export ${e.name} (${exportKindText(e)}): no engine method shape has this signature`);
  }
  return { problems, bindings, closureExports, methods };
}

// ---------------------------------------------------------------------------------------------
// The SchemaEngine class.

function engineClass(rt, methods) {
  const pointers = new WeakMap();
  const freeOnCollect = new FinalizationRegistry((ptr) => rt.exports.__wbg_schemaengine_free(ptr, 1));
  const pointerOf = (engine) => {
    const ptr = pointers.get(engine);
    if (!ptr) throw new GlueError('SchemaEngine: this engine was freed');
    return ptr;
  };
  const created = Symbol('created by the wasm');

  /** Prisma's schema engine. Create it with `await SchemaEngine.new(options, logCallback, adapterFactory)`. */
  class SchemaEngine {
    constructor(token, ptr) {
      if (token !== created) throw new TypeError('SchemaEngine: use SchemaEngine.new()');
      pointers.set(this, ptr);
      freeOnCollect.register(this, ptr, this);
    }

    static new(options, logCallback, adapterFactory) {
      return rt.exports.schemaengine_new(options, logCallback, adapterFactory);
    }

    free() {
      const ptr = pointerOf(this);
      pointers.delete(this);
      freeOnCollect.unregister(this);
      rt.exports.__wbg_schemaengine_free(ptr, 0);
    }
  }
  if (Symbol.dispose) SchemaEngine.prototype[Symbol.dispose] = SchemaEngine.prototype.free;

  for (const { method, exportName, kind } of methods) {
    const call = {
      value: (engine, params) => rt.exports[exportName](pointerOf(engine), params),
      optional: (engine, params) => rt.exports[exportName](pointerOf(engine), rt.refs.putOptional(params)),
      none: (engine) => {
        rt.exports[exportName](pointerOf(engine));
      },
    }[kind];
    Object.defineProperty(SchemaEngine.prototype, method, {
      value: {
        [method](params) {
          return call(this, params);
        },
      }[method],
      writable: true,
      configurable: true,
    });
  }
  return { SchemaEngine, wrap: (ptr) => new SchemaEngine(created, ptr >>> 0) };
}

// ---------------------------------------------------------------------------------------------

function createRuntime(hooks = {}) {
  return {
    hooks,
    exports: null,
    memory: new WasmMemory(),
    refs: new ExternrefTable(),
    closures: new Closures(),
    wrapEngine() {
      throw new GlueError('wasm-glue: an engine was created before the glue was attached');
    },
  };
}

/** For tests and diagnostics: what the glue would not be able to serve in this wasm binary. */
function checkWasm(bytes) {
  return resolveImports(readSignatures(bytes)).problems;
}

/**
 * Instantiates the schema engine wasm with this glue and starts it.
 * @param {Uint8Array} bytes the .wasm file
 * @param {{ onPanicMessage?: (message: string) => void, source?: string }} [options]
 * @returns {{ SchemaEngine: Function, version: () => string, exports: object }}
 */
function instantiateSchemaEngine(bytes, { onPanicMessage, source = 'the schema engine wasm' } = {}) {
  const rt = createRuntime({ onPanicMessage });
  const resolved = resolveImports(readSignatures(bytes), rt);
  if (resolved.problems.length > 0) {
    throw new GlueError(
      `wasm-glue (infra/prisma-offline/lib/wasm-glue.cjs) cannot run ${source}:\n` +
        resolved.problems.map((p) => `  - ${p}`).join('\n'),
    );
  }
  const importObject = {};
  for (const { module, name, impl } of resolved.bindings) (importObject[module] ??= {})[name] = impl;

  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), importObject);
  const exports = instance.exports;
  rt.exports = exports;
  rt.memory.attach(exports);
  rt.refs.attach(exports);
  const fn = (name) => (name ? exports[name] : undefined);
  rt.closures.attach({
    invokeOne: fn(resolved.closureExports.invokeOne),
    invokeTwo: fn(resolved.closureExports.invokeTwo),
    destroy: fn(resolved.closureExports.destroy),
  });
  const { SchemaEngine, wrap } = engineClass(rt, resolved.methods);
  rt.wrapEngine = wrap;
  exports.__wbindgen_start();

  return {
    SchemaEngine,
    version: () => rt.memory.takeString(exports.version()),
    exports,
  };
}

module.exports = {
  GlueError,
  WasmMemory,
  ExternrefTable,
  Closures,
  describeValue,
  parseImportName,
  resolveImports,
  checkWasm,
  instantiateSchemaEngine,
};
