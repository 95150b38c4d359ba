'use strict';
// Instantiates the schema engine wasm shipped in the pinned prisma CLI with our wasm-bindgen
// glue (./wasm-glue.cjs).

const { locateEngineWasm, PinError } = require('./pins.cjs');
const { instantiateSchemaEngine, GlueError } = require('./wasm-glue.cjs');

/** Keeps the message of the last Rust panic; the wasm traps right after reporting it. */
class PanicRegistry {
  message = '';
  get() {
    return this.message;
  }
  set_message(message) {
    this.message = message;
  }
}

let loaded = null;

function loadWasmEngine() {
  if (loaded) return loaded;
  const { bytes, enginesVersion, wasmPath } = locateEngineWasm();
  const panics = new PanicRegistry();
  let glue;
  try {
    // Checks every import and the needed exports of the wasm first, and lists what does not fit.
    glue = instantiateSchemaEngine(bytes, { onPanicMessage: (message) => panics.set_message(message), source: wasmPath });
  } catch (error) {
    if (error instanceof GlueError) {
      throw new PinError(`${error.message}\nExtend lib/wasm-glue.cjs for this engine (README.md, "Upgrading prisma").`);
    }
    throw error;
  }

  const reported = glue.version();
  if (reported !== enginesVersion) {
    throw new PinError(`the schema engine wasm reports version ${reported}, expected ${enginesVersion}.`);
  }
  loaded = { glue, SchemaEngine: glue.SchemaEngine, version: reported, panics };
  return loaded;
}

/** A wasm trap after a Rust panic surfaces as a RuntimeError ("unreachable"). */
function isWasmPanic(error) {
  return error instanceof WebAssembly.RuntimeError || (error && error.name === 'RuntimeError');
}

module.exports = { loadWasmEngine, isWasmPanic };
