// `npm test` (after set-up): every compiled unit spec, then the end-to-end tests.
// `--unit` runs only the unit specs.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const unitOnly = process.argv.includes('--unit');

function find(dir, pattern, out = []) {
  for (const entry of readdirSync(dir)) {
    if (entry === 'node_modules' || entry.startsWith('.')) continue;
    const p = join(dir, entry);
    if (statSync(p).isDirectory()) find(p, pattern, out);
    else if (pattern.test(entry)) out.push(relative(root, p));
  }
  return out;
}

const distDirs = ['packages/proto', 'packages/redact', 'packages/pki', 'native', 'apps/console', 'apps/controller', 'apps/node-agent', 'apps/cli']
  .map((d) => join(root, d, 'dist'))
  .filter((d) => {
    try {
      return statSync(d).isDirectory();
    } catch {
      return false;
    }
  });
const unit = distDirs.flatMap((d) => find(d, /\.spec\.js$/));
const extra = find(join(root, 'infra'), /\.test\.mjs$/);
const e2e = unitOnly ? [] : find(join(root, 'e2e', 'dist'), /\.e2e\.js$/);
const files = [...unit, ...extra, ...e2e];
if (files.length === 0) {
  console.error('no test files found: run `npm run setup` (it builds them) first');
  process.exit(1);
}
if (!unitOnly && e2e.length === 0) {
  console.error('no end-to-end tests found in e2e/dist: the build did not produce them');
  process.exit(1);
}
if (!unitOnly) {
  // Every run starts from an empty end-to-end database (the harness creates it owned by the tracefleet
  // role and migrates it): results and schedules of earlier runs must not leak into assertions, nor grow
  // it without end. The one the harness will use: TRACEFLEET_E2E_DB when set, so a run under another name
  // never drops a database someone else's run is using.
  const db = process.env.TRACEFLEET_E2E_DB ?? 'tracefleet_e2e';
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(db)) {
    console.error(`TRACEFLEET_E2E_DB="${db}" must be a plain identifier`);
    process.exit(1);
  }
  const drop = spawnSync('psql', ['-h', '127.0.0.1', '-U', 'postgres', '-d', 'postgres', '-v', 'ON_ERROR_STOP=1', '-c', `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`], { encoding: 'utf8' });
  if (drop.status !== 0) {
    console.error(`could not reset the e2e database ${db} (is PostgreSQL up? npm run setup starts it): ${drop.stderr || drop.error}`);
    process.exit(1);
  }
}
// Two passes. The plain unit specs (no kernel, no sampling: each uses its own scratch database and queue
// prefix) run two files at a time, one per CPU of this kind of machine. The native specs (real BPF
// sampling, counts compared with what a workload did) and the end-to-end files (each starts its own
// controller and agent) run one file at a time: their results are cleaner on an otherwise quiet machine.
const nativeDist = join(root, 'native', 'dist');
const serialUnit = unit.filter((f) => join(root, f).startsWith(nativeDist));
const parallelUnit = [...unit.filter((f) => !serialUnit.includes(f)), ...extra];
const passes = [
  { name: 'unit specs, two files at a time', concurrency: 2, files: parallelUnit },
  { name: 'native specs and end-to-end tests, one file at a time', concurrency: 1, files: [...serialUnit, ...e2e] },
].filter((p) => p.files.length > 0);
console.log(`running ${unit.length + extra.length} unit and ${e2e.length} end-to-end test files`);
const results = [];
for (const pass of passes) {
  const started = Date.now();
  console.log(`\n== ${pass.name}: ${pass.files.length} files`);
  const res = spawnSync(process.execPath, ['--test', `--test-concurrency=${pass.concurrency}`, '--test-reporter=spec', ...pass.files], {
    cwd: root,
    stdio: 'inherit',
  });
  results.push({ name: pass.name, ok: res.status === 0, sec: Math.round((Date.now() - started) / 1000), status: res.status ?? res.signal });
}
console.log('\n== summary');
for (const r of results) console.log(`${r.ok ? 'passed' : 'FAILED'}: ${r.name} (${r.sec} s${r.ok ? '' : `, exit ${r.status}`})`);
// Every pass runs even when an earlier one failed: one run shows every failure.
process.exit(results.every((r) => r.ok) ? 0 : 1);
