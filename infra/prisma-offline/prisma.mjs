#!/usr/bin/env node
// Drop-in wrapper around the project's prisma CLI (pinned to 7.10.1) that never downloads the
// native schema engine: PRISMA_SCHEMA_ENGINE_BINARY points at ./schema-engine, which runs the
// schema engine wasm shipped inside that same CLI through @prisma/adapter-pg.
//
//   node infra/prisma-offline/prisma.mjs <prisma args...>
//
// Without --config and without a prisma.config.* in the current directory, the controller's
// apps/controller/prisma.config.ts is used, so the same command works from the repository root
// and from apps/controller. See README.md.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const pins = require('./lib/pins.cjs');

const CONFIG_NAMES = ['prisma.config.ts', 'prisma.config.mts', 'prisma.config.cts', 'prisma.config.js', 'prisma.config.mjs', 'prisma.config.cjs'];

function hasConfigFlag(args) {
  return args.some((a) => a === '--config' || a.startsWith('--config='));
}

function cwdHasConfig(cwd) {
  return CONFIG_NAMES.some((n) => fs.existsSync(path.join(cwd, n)) || fs.existsSync(path.join(cwd, '.config', n)));
}

function main() {
  let cli;
  try {
    cli = pins.locatePrismaCli();
    pins.locateEngineWasm(); // fail here, clearly, rather than inside the CLI
  } catch (error) {
    process.stderr.write(`${error.message}\n`);
    return Promise.resolve(1);
  }

  const args = process.argv.slice(2);
  // `--config` is a global option of the prisma CLI (it also sets the base directory).
  const command = args.find((a) => !a.startsWith('-'));
  const takesConfig = command !== undefined && !['init', 'telemetry', 'mcp', 'platform', 'postgres', 'dev', 'bootstrap', 'debug'].includes(command);
  if (takesConfig && !hasConfigFlag(args) && !cwdHasConfig(process.cwd())) {
    args.push('--config', pins.DEFAULT_CONFIG);
  }

  const env = {
    ...process.env,
    PRISMA_SCHEMA_ENGINE_BINARY: pins.SHIM_PATH,
    // No network: no update check, no telemetry checkpoint.
    CHECKPOINT_DISABLE: '1',
    PRISMA_HIDE_UPDATE_MESSAGE: '1',
  };

  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli.entry, ...args], { stdio: 'inherit', env });
    const forward = (signal) => () => child.kill(signal);
    const handlers = { SIGINT: forward('SIGINT'), SIGTERM: forward('SIGTERM'), SIGHUP: forward('SIGHUP') };
    for (const [signal, handler] of Object.entries(handlers)) process.on(signal, handler);
    child.on('error', (error) => {
      process.stderr.write(`prisma-offline: cannot start the prisma CLI: ${error.message}\n`);
      resolve(1);
    });
    child.on('exit', (code, signal) => {
      for (const [s, handler] of Object.entries(handlers)) process.off(s, handler);
      resolve(signal ? 128 + ({ SIGINT: 2, SIGTERM: 15, SIGHUP: 1 }[signal] ?? 1) : code ?? 1);
    });
  });
}

process.exitCode = await main();
