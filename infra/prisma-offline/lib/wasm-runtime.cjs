'use strict';
// The state wasm-glue.cjs keeps for one schema engine instance: its error type, the wasm memory
// (UTF-8 strings, byte views, result slots), the externref table and the Rust closures handed to JS.
// How the wasm-bindgen ABI uses each is described at the top of wasm-glue.cjs.

class GlueError extends Error {
  constructor(message) {
    super(message);
    this.name = 'GlueError';
  }
}

// ---------------------------------------------------------------------------------------------
// Wasm memory: strings, byte views and result slots.

const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

class WasmMemory {
  #exports = null;
  #bytes = null;
  #data = null;

  /** @param {{memory: WebAssembly.Memory, __wbindgen_malloc: Function, __wbindgen_free: Function}} exports */
  attach(exports) {
    this.#exports = exports;
    this.#bytes = this.#data = null;
  }

  get #wasm() {
    if (!this.#exports) throw new GlueError('wasm-glue: the wasm module is not instantiated yet');
    return this.#exports;
  }

  /** A byte view of the whole memory; renewed when memory.grow() replaced the buffer. */
  bytes() {
    const buffer = this.#wasm.memory.buffer;
    if (this.#bytes === null || this.#bytes.buffer !== buffer) {
      this.#bytes = new Uint8Array(buffer);
      this.#data = new DataView(buffer);
    }
    return this.#bytes;
  }

  dataView() {
    this.bytes();
    return this.#data;
  }

  /** A live view (not a copy) of `len` bytes at `ptr`. */
  view(ptr, len) {
    const start = ptr >>> 0;
    return this.bytes().subarray(start, start + (len >>> 0));
  }

  readString(ptr, len) {
    return utf8Decoder.decode(this.view(ptr, len));
  }

  /** Copies `text` into freshly allocated wasm memory; the wasm side takes ownership. */
  allocString(text) {
    const encoded = utf8Encoder.encode(text);
    const ptr = this.#wasm.__wbindgen_malloc(encoded.length, 1) >>> 0;
    this.bytes().set(encoded, ptr);
    return { ptr, len: encoded.length };
  }

  /** Reads a string the wasm returned as [ptr, len] and gives its memory back. */
  takeString([ptr, len]) {
    try {
      return this.readString(ptr, len);
    } finally {
      this.#wasm.__wbindgen_free(ptr, len, 1);
    }
  }

  /** Result slot of a String / Option<String>: pointer at +0, length at +4 (pointer 0 = None). */
  storeString(slot, text) {
    const { ptr, len } = typeof text === 'string' ? this.allocString(text) : { ptr: 0, len: 0 };
    const data = this.dataView();
    data.setInt32(slot >>> 0, ptr, true);
    data.setInt32((slot >>> 0) + 4, len, true);
  }

  /** Result slot of an Option<f64>: i32 "is some" flag at +0, the value at +8. */
  storeOptionalF64(slot, value) {
    const data = this.dataView();
    const some = typeof value === 'number';
    data.setInt32(slot >>> 0, some ? 1 : 0, true);
    data.setFloat64((slot >>> 0) + 8, some ? value : 0, true);
  }

  /** Result slot of an Option<i64>: i32 "is some" flag at +0, the value at +8. */
  storeOptionalI64(slot, value) {
    const data = this.dataView();
    const some = typeof value === 'bigint';
    data.setInt32(slot >>> 0, some ? 1 : 0, true);
    data.setBigInt64((slot >>> 0) + 8, some ? BigInt.asIntN(64, value) : 0n, true);
  }
}

// ---------------------------------------------------------------------------------------------
// The exported externref table, for values the ABI passes by index.

const RESERVED_CONSTANTS = [undefined, null, true, false];

class ExternrefTable {
  #exports = null;

  /** @param {{__wbindgen_externrefs: WebAssembly.Table, __externref_table_alloc: Function}} exports */
  attach(exports) {
    this.#exports = exports;
  }

  /** Import `__wbindgen_init_externref_table`, called once from `__wbindgen_start`. */
  initialize() {
    const table = this.#exports.__wbindgen_externrefs;
    const first = table.grow(RESERVED_CONSTANTS.length);
    table.set(0, undefined);
    RESERVED_CONSTANTS.forEach((value, i) => table.set(first + i, value));
  }

  /** Stores `value` in a new slot and returns its index; the wasm side owns the slot. */
  put(value) {
    const index = this.#exports.__externref_table_alloc();
    this.#exports.__wbindgen_externrefs.set(index, value);
    return index;
  }

  /** Option<JsValue> by index: 0 is None. */
  putOptional(value) {
    return value === undefined || value === null ? 0 : this.put(value);
  }
}

// ---------------------------------------------------------------------------------------------
// Rust closures.

class Closures {
  #invokeOne = null; // (data, vtable, arg)
  #invokeTwo = null; // (data, vtable, arg1, arg2)
  #destroy = null; // (data, vtable)
  #releasers = new WeakMap();
  // A closure that Rust gave up (Closure::into_js_value) is dropped when JS collects its function.
  #collected = new FinalizationRegistry((state) => this.#destroyState(state));

  /** @param {{invokeOne?: Function, invokeTwo?: Function, destroy?: Function}} fns */
  attach(fns) {
    this.#invokeOne = fns.invokeOne ?? null;
    this.#invokeTwo = fns.invokeTwo ?? null;
    this.#destroy = fns.destroy ?? null;
  }

  #destroyState(state) {
    const data = state.data;
    state.data = 0;
    if (data !== 0) this.#destroy(data, state.vtable);
  }

  /**
   * A JS function for a boxed Rust `FnMut(JsValue)`. Rust holds one reference and gives it back
   * through the `_wbg_cb_unref` import; each running call holds another, so the closure is
   * destroyed only after the last call has returned. While a call runs, `data` is 0: a
   * re-entrant call, or one after destruction, hands 0 to the wasm, which then throws.
   */
  fromRust(data, vtable) {
    const state = { data, vtable, users: 1 };
    const invoke = this.#invokeOne;
    const release = () => {
      state.users -= 1;
      if (state.users === 0) {
        this.#collected.unregister(state);
        this.#destroyState(state);
      }
    };
    const fn = (arg) => {
      const own = state.data;
      state.users += 1;
      state.data = 0;
      try {
        return invoke(own, state.vtable, arg);
      } finally {
        state.data = own;
        release();
      }
    };
    this.#releasers.set(fn, release);
    this.#collected.register(fn, state, state);
    return fn;
  }

  /** Import `_wbg_cb_unref`: the Rust owner of a closure dropped it. */
  release(fn) {
    const release = this.#releasers.get(fn);
    if (!release) throw new GlueError('wasm-glue: _wbg_cb_unref called on a value that is not a Rust closure');
    release();
  }

  /**
   * The executor for `new Promise(...)` from a Rust `&mut dyn FnMut(JsValue, JsValue)` that lives
   * on the Rust stack: valid only while the import runs, which is when the executor runs.
   */
  promiseExecutor(data, vtable) {
    return (resolve, reject) => this.#invokeTwo(data, vtable, resolve, reject);
  }
}

module.exports = { GlueError, WasmMemory, ExternrefTable, Closures };
