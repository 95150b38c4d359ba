'use strict';
// What prisma-offline is pinned to, and where the pinned pieces are found.
//
// The schema engine that runs is the WebAssembly build shipped inside the prisma CLI package
// (node_modules/prisma/build/schema_engine_bg.wasm). It is the engine of exactly this CLI
// release, so migrations are planned by the same engine commit as the native binary
// prisma 7.10.1 would download. Every pin below is checked before anything runs; a mismatch
// stops with a message instead of running a different engine. The JavaScript side of that wasm
// (the wasm-bindgen ABI) is ./wasm-glue.cjs, which checks the wasm's imports and exports itself
// before instantiating it.
//
// Upgrading prisma: bump `prisma` (and @prisma/client, @prisma/adapter-pg) in
// apps/controller/package.json, then update the three values below from the new install
// (see README.md, "Upgrading"), and re-run infra/prisma-offline/prisma-offline.test.mjs.

const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const { createRequire } = require('node:module');

const PINS = Object.freeze({
  prismaVersion: '7.10.1',
  // @prisma/engines-version "prisma.enginesVersion" of that CLI = prisma-engines commit.
  enginesVersion: 'd1b3f377ca835d73fd50954a5e22128b9ebdd6b8',
  // sha256 of node_modules/prisma/build/schema_engine_bg.wasm in prisma 7.10.1.
  wasmSha256: 'c4bd68afe4f4bebd08b0c96a75f398aec624e6376043c2aad966fa78e3b69b52',
});

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
// The workspace that declares prisma, @prisma/client and @prisma/adapter-pg.
const CONTROLLER_DIR = path.join(REPO_ROOT, 'apps', 'controller');
const DEFAULT_CONFIG = path.join(CONTROLLER_DIR, 'prisma.config.ts');
const SHIM_PATH = path.resolve(__dirname, '..', 'schema-engine');

class PinError extends Error {
  constructor(message) {
    super(`prisma-offline: ${message}`);
    this.name = 'PinError';
  }
}

function controllerRequire() {
  return createRequire(path.join(CONTROLLER_DIR, 'package.json'));
}

function resolveFrom(req, spec, why) {
  try {
    return req.resolve(spec);
  } catch (err) {
    throw new PinError(`cannot resolve ${spec} (${why}). Run \`npm ci\` at the repository root. (${err.message})`);
  }
}

/** Locate the prisma CLI and check it is the pinned release. */
function locatePrismaCli() {
  const req = controllerRequire();
  const pkgJson = resolveFrom(req, 'prisma/package.json', 'devDependency of apps/controller');
  const pkg = JSON.parse(fs.readFileSync(pkgJson, 'utf8'));
  if (pkg.version !== PINS.prismaVersion) {
    throw new PinError(
      `prisma ${pkg.version} is installed at ${path.dirname(pkgJson)} but prisma-offline is pinned to ` +
        `${PINS.prismaVersion}; update infra/prisma-offline/lib/pins.cjs deliberately (see README.md, "Upgrading").`,
    );
  }
  const dir = path.dirname(pkgJson);
  return { dir, version: pkg.version, entry: path.join(dir, 'build', 'index.js') };
}

let checkedEngine = null;

/** Locate the schema engine wasm of the pinned CLI and verify engine commit and file hash. */
function locateEngineWasm() {
  if (checkedEngine) return checkedEngine;
  const cli = locatePrismaCli();
  const cliReq = createRequire(path.join(cli.dir, 'package.json'));
  const enginesPkg = resolveFrom(cliReq, '@prisma/engines/package.json', 'dependency of prisma');
  const enginesReq = createRequire(enginesPkg);
  const evPkgPath = resolveFrom(enginesReq, '@prisma/engines-version/package.json', 'dependency of @prisma/engines');
  const enginesVersion = JSON.parse(fs.readFileSync(evPkgPath, 'utf8')).prisma.enginesVersion;
  if (enginesVersion !== PINS.enginesVersion) {
    throw new PinError(
      `@prisma/engines-version says engine commit ${enginesVersion}, pinned is ${PINS.enginesVersion}.`,
    );
  }
  const wasmPath = path.join(cli.dir, 'build', 'schema_engine_bg.wasm');
  if (!fs.existsSync(wasmPath)) {
    throw new PinError(`${wasmPath} is missing: the prisma ${cli.version} package no longer carries the schema engine wasm.`);
  }
  const bytes = fs.readFileSync(wasmPath);
  const sha = crypto.createHash('sha256').update(bytes).digest('hex');
  if (sha !== PINS.wasmSha256) {
    throw new PinError(`${wasmPath} has sha256 ${sha}, pinned is ${PINS.wasmSha256}.`);
  }
  checkedEngine = { wasmPath, bytes, enginesVersion, cli };
  return checkedEngine;
}

/** @prisma/adapter-pg as the controller resolves it, and pg / driver-adapter-utils as the adapter resolves them. */
function loadPgDriver() {
  const req = controllerRequire();
  const adapterEntry = resolveFrom(req, '@prisma/adapter-pg', 'dependency of apps/controller');
  const adapterReq = createRequire(adapterEntry);
  return {
    adapterPg: adapterReq(adapterEntry),
    pg: adapterReq(resolveFrom(adapterReq, 'pg', 'dependency of @prisma/adapter-pg')),
    utils: adapterReq(resolveFrom(adapterReq, '@prisma/driver-adapter-utils', 'dependency of @prisma/adapter-pg')),
  };
}

module.exports = {
  PINS,
  PinError,
  REPO_ROOT,
  CONTROLLER_DIR,
  DEFAULT_CONFIG,
  SHIM_PATH,
  locatePrismaCli,
  locateEngineWasm,
  loadPgDriver,
};
