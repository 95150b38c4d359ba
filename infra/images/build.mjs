#!/usr/bin/env node
// Builds the Tracefleet container images from the built tree, offline:
//
//   node infra/images/build.mjs [controller] [agent] [--json] [--keep N]
//
// 1. The base image: Debian 12 minbase made with mmdebstrap and `docker import`ed (no registry is reachable
//    here), named by a hash of its recipe (tracefleet-base:<hash>) and reused once made (~1 min, once per machine).
// 2. Each component: infra/bundle.mjs packs it into a fresh temporary build context (node/ + <component>/;
//    the controller's also gets infra/images/controller-entrypoint.sh as entrypoint.sh), and a hash of that
//    context's content (files, modes, symlinks; not BUNDLE.json's build time), the Dockerfile and the base
//    image id names the image: tracefleet/<component>:bundle-<hash>. When that image exists the build is
//    skipped (a re-run on the same machine costs the bundling and the hashing, a few seconds); either way
//    tracefleet/<component>:<version> (package.json's) is pointed at it.
// 3. Older bundle-* images of a component beyond the newest N (--keep, default 3) are removed.
//
// --json prints one last line {"controller": {"image", "versionTag", "contentTag", "built", "seconds"}, ...}.
// Without docker it exits 2 saying so. Needs the tree built first (npm run setup / npx turbo run build).
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, chmodSync, openSync, readSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const root = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
const here = join(root, 'infra/images');

/** What goes into the base image; its hash names it, so a changed recipe makes a new one. */
const BASE_RECIPE = { suite: 'bookworm', variant: 'minbase', include: [] };
const BASE_IMAGE = `tracefleet-base:${createHash('sha256').update(JSON.stringify(BASE_RECIPE)).digest('hex').slice(0, 12)}`;

const log = (msg) => console.error(`images: ${msg}`);
/** Temporary directories still to remove when the script exits early (die → process.exit skips finally blocks). */
const temps = new Set();
process.on('exit', () => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});
function die(msg, code = 1) {
  console.error(`images: ${msg}`);
  process.exit(code);
}

function run(cmd, args, { timeoutMs = 600_000, env, quiet = false } = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs, env: env ?? process.env, maxBuffer: 256 * 1024 * 1024, stdio: quiet ? ['ignore', 'pipe', 'pipe'] : ['ignore', 'pipe', 'pipe'] });
  return { status: r.status, signal: r.signal, error: r.error, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

function docker(args, opts = {}) {
  const r = run('docker', args, opts);
  if (r.status !== 0) die(`docker ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.error?.message ?? ''}${r.stderr.slice(-4000)}${r.stdout.slice(-4000)}`);
  return r.stdout.trim();
}

const imageExists = (ref) => run('docker', ['image', 'inspect', '--format', '{{.Id}}', ref], { timeoutMs: 60_000 }).status === 0;
const imageId = (ref) => docker(['image', 'inspect', '--format', '{{.Id}}', ref]);

function parseArgs(argv) {
  const opts = { components: [], json: false, keep: 3 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === 'controller' || a === 'agent') opts.components.push(a);
    else if (a === '--json') opts.json = true;
    else if (a === '--keep') opts.keep = Number(argv[++i]);
    else die(`unknown argument ${a} (usage: node infra/images/build.mjs [controller] [agent] [--json] [--keep N])`);
  }
  if (!Number.isInteger(opts.keep) || opts.keep < 1) die('--keep needs a whole number of at least 1');
  if (opts.components.length === 0) opts.components = ['controller', 'agent'];
  return opts;
}

function requireDocker() {
  const r = run('docker', ['info', '--format', '{{.ServerVersion}}'], { timeoutMs: 30_000 });
  if (r.error?.code === 'ENOENT') die('docker is not installed (apt-get install docker.io; npm run setup starts dockerd)', 2);
  if (r.status !== 0) die(`no Docker engine answers (npm run setup starts dockerd): ${r.error?.message ?? ''}${r.stderr.trim()}`, 2);
  return r.stdout.trim();
}

/** The base image, made once per machine: mmdebstrap (Debian's mirror, no registry) then docker import. */
function ensureBase() {
  if (imageExists(BASE_IMAGE)) return { image: BASE_IMAGE, built: false, seconds: 0 };
  const started = Date.now();
  const which = run('sh', ['-c', 'command -v mmdebstrap']);
  if (which.status !== 0) die(`${BASE_IMAGE} is not here and mmdebstrap is not installed to make it (apt-get install mmdebstrap)`);
  const dir = mkdtempSync(join(tmpdir(), 'tracefleet-base-'));
  temps.add(dir);
  try {
    const tar = join(dir, 'rootfs.tar');
    log(`making ${BASE_IMAGE} (mmdebstrap --variant=${BASE_RECIPE.variant} ${BASE_RECIPE.suite}; once per machine, about a minute)`);
    const args = ['--quiet', `--variant=${BASE_RECIPE.variant}`, ...(BASE_RECIPE.include.length ? [`--include=${BASE_RECIPE.include.join(',')}`] : []), BASE_RECIPE.suite, tar];
    const r = run('mmdebstrap', args, { timeoutMs: 900_000 });
    if (r.status !== 0) die(`mmdebstrap failed (${r.status ?? r.signal}): ${r.error?.message ?? ''}${r.stderr.slice(-3000)}`);
    docker(['import', '--message', `tracefleet base: mmdebstrap ${args.slice(0, -1).join(' ')}`, tar, BASE_IMAGE], { timeoutMs: 600_000 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const seconds = (Date.now() - started) / 1000;
  log(`made ${BASE_IMAGE} in ${seconds.toFixed(0)} s`);
  return { image: BASE_IMAGE, built: true, seconds };
}

/** sha256 over a directory tree: each entry's path, kind, mode and content (or link target), in sorted order. */
function hashTree(dir, hash, skip = () => false) {
  const buf = Buffer.allocUnsafe(1 << 20);
  const walk = (d) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const rel = relative(dir, p);
      if (skip(rel)) continue;
      const st = lstatSync(p);
      if (st.isSymbolicLink()) hash.update(`L ${rel} ${readlinkSync(p)}\n`);
      else if (st.isDirectory()) {
        hash.update(`D ${rel} ${(st.mode & 0o7777).toString(8)}\n`);
        walk(p);
      } else if (st.isFile()) {
        hash.update(`F ${rel} ${(st.mode & 0o7777).toString(8)} ${st.size}\n`);
        const fd = openSync(p, 'r');
        try {
          for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0; ) hash.update(buf.subarray(0, n));
        } finally {
          closeSync(fd);
        }
      }
    }
  };
  walk(dir);
}

/** Packs one component into a fresh context directory; its manifest. */
function bundle(component, ctx) {
  const r = run(process.execPath, [join(root, 'infra/bundle.mjs'), component, '--out', ctx], { timeoutMs: 600_000 });
  if (r.status !== 0) die(`infra/bundle.mjs ${component} failed (${r.status ?? r.signal}):\n${r.stderr}${r.stdout}`);
  log(r.stdout.trim());
  return JSON.parse(readFileSync(join(ctx, component, 'BUNDLE.json'), 'utf8'));
}

function buildComponent(component, base, opts) {
  const started = Date.now();
  const ctx = mkdtempSync(join(tmpdir(), `tracefleet-image-${component}-`));
  temps.add(ctx);
  try {
    const manifest = bundle(component, ctx);
    copyFileSync(join(here, `${component}.Dockerfile`), join(ctx, 'Dockerfile'));
    if (component === 'controller') {
      copyFileSync(join(here, 'controller-entrypoint.sh'), join(ctx, 'entrypoint.sh'));
      chmodSync(join(ctx, 'entrypoint.sh'), 0o755);
    }
    // The context is exactly what the image copies: no .dockerignore needed (it keeps one out of the hash too).
    const hash = createHash('sha256');
    hash.update(`base ${imageId(base)}\n`);
    const { builtAt, ...stable } = manifest; // a new bundling of the same tree is the same content
    hash.update(`manifest ${JSON.stringify(stable)}\n`);
    hashTree(ctx, hash, (rel) => rel === join(component, 'BUNDLE.json'));
    const digest = hash.digest('hex').slice(0, 16);
    const repo = `tracefleet/${component}`;
    const contentTag = `${repo}:bundle-${digest}`;
    const versionTag = `${repo}:${manifest.version}`;
    let built = false;
    if (imageExists(contentTag)) {
      log(`${contentTag} exists (same bundle content): not rebuilt`);
    } else {
      log(`building ${contentTag} from ${base}`);
      const env = { ...process.env };
      // Debian's docker.io comes without buildx: say so to the CLI rather than have it warn or fail.
      if (run('docker', ['buildx', 'version'], { timeoutMs: 30_000 }).status !== 0) env.DOCKER_BUILDKIT = '0';
      const args = [
        'build', '--pull=false', '--file', join(ctx, 'Dockerfile'),
        '--build-arg', `BASE=${base}`,
        '--build-arg', `VERSION=${manifest.version}`,
        '--build-arg', `COMMIT=${manifest.commit}`,
        '--build-arg', `BUNDLE_HASH=${digest}`,
        '--tag', contentTag, ctx,
      ];
      const r = run('docker', args, { timeoutMs: 1_200_000, env });
      if (r.status !== 0) die(`docker build of ${component} failed (${r.status ?? r.signal}): ${r.error?.message ?? ''}\n${r.stdout.slice(-6000)}\n${r.stderr.slice(-4000)}`);
      built = true;
    }
    docker(['tag', contentTag, versionTag]);
    prune(repo, contentTag, opts.keep);
    const seconds = (Date.now() - started) / 1000;
    const size = Number(docker(['image', 'inspect', '--format', '{{.Size}}', contentTag]));
    log(`${component}: ${versionTag} = ${contentTag} (${(size / 1e6).toFixed(0)} MB, commit ${manifest.commit}) ${built ? 'built' : 'reused'} in ${seconds.toFixed(1)} s`);
    return { image: contentTag, versionTag, contentTag, version: manifest.version, commit: manifest.commit, built, seconds, sizeBytes: size };
  } finally {
    // ~450 MB of small files: removed in the background (seconds on a busy machine), nothing waits for it.
    temps.delete(ctx);
    const rm = spawn('rm', ['-rf', '--one-file-system', ctx], { detached: true, stdio: 'ignore' });
    rm.on('error', () => rmSync(ctx, { recursive: true, force: true }));
    rm.unref();
  }
}

/** Keeps the newest `keep` bundle-* images of a repository (the current one always). */
function prune(repo, current, keep) {
  const lines = docker(['image', 'ls', repo, '--format', '{{.Repository}}:{{.Tag}}\t{{.CreatedAt}}']).split('\n').filter(Boolean);
  const old = lines
    .map((l) => l.split('\t'))
    .filter(([ref]) => ref.includes(':bundle-') && ref !== current)
    .sort((a, b) => (a[1] < b[1] ? 1 : -1))
    .slice(keep - 1);
  for (const [ref] of old) {
    const r = run('docker', ['image', 'rm', ref], { timeoutMs: 120_000 });
    log(r.status === 0 ? `removed the older ${ref}` : `could not remove ${ref} (in use?): ${r.stderr.trim()}`);
  }
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const started = Date.now();
  log(`docker engine ${requireDocker()}`);
  const base = ensureBase();
  const result = { base };
  for (const c of opts.components) result[c] = buildComponent(c, base.image, opts);
  result.seconds = (Date.now() - started) / 1000;
  log(`done in ${result.seconds.toFixed(1)} s`);
  if (opts.json) console.log(JSON.stringify(result));
  else for (const c of opts.components) console.log(`${result[c].versionTag} ${result[c].contentTag}`);
}

main();
