'use strict';
// Where the compiled CO-RE objects live; `npm run build -w @tracefleet/bpf` fills it.
const fs = require('node:fs');
const path = require('node:path');

const buildDir = path.join(__dirname, 'build');

function objectPath(name) {
  if (typeof name !== 'string' || !/^[A-Za-z0-9_-]+$/.test(name)) {
    throw new TypeError(`objectPath(name): name must be a probe name like "profile", got ${JSON.stringify(name)}`);
  }
  const file = path.join(buildDir, `${name}.bpf.o`);
  if (!fs.existsSync(file)) {
    throw new Error(`${file} is missing; build it with: npm run build -w @tracefleet/bpf`);
  }
  return file;
}

module.exports = { buildDir, objectPath };
