#!/usr/bin/env node
// Packs the built agent or controller into a directory a host or a container image can run without the
// repository, npm or a compiler: what install-agent.sh installs and what the Dockerfiles copy.
//
//   node infra/bundle.mjs agent|controller [--out DIR] [--tar FILE.tar.gz] [--no-node]
//
// DIR/<component>/ mirrors the repository's layout for exactly the files the component runs: its
// workspace's dist/, the workspace packages it requires (their dist/, the addon's .node file, the BPF
// objects) and the production dependencies from node_modules, found by walking package.json
// dependencies the way Node resolves them (so nested versions land where npm put them). Workspace
// packages keep npm's symlinks (node_modules/@tracefleet/x -> ../../packages/x). DIR/<component>/main.js
// starts it. The controller also gets what applies its migrations (the prisma CLI through
// infra/prisma-offline: `node infra/prisma-offline/prisma.mjs migrate deploy`, see
// infra/images/README.md). DIR/node/bin/node is this machine's Node.js runtime (the bundle's hosts
// need no Node of their own; Debian 12's nodejs is 18, the code needs 20), unless --no-node.
//
// Hand-written rather than `npm pack`/`npm deploy`: those need the registry (npm ci) at install time or
// copy a whole workspace's dev dependencies; a walk over what is already installed and built works
// offline and copies only what runs.
import { cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync, copyFileSync, chmodSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join, relative, sep } from 'node:path';

const root = realpathSync(new URL('..', import.meta.url).pathname);

const COMPONENTS = {
  agent: {
    workspace: 'apps/node-agent',
    need: ['apps/node-agent/dist/main.js', 'native/build/Release/tracefleet_native.node', 'packages/bpf/build/profile.bpf.o', 'apps/node-agent/dist/runs/syscount/syscall-names.json'],
    extraPackages: [],
    // install-agent.sh installs the unit from the bundle it unpacks.
    extraFiles: ['infra/systemd/tracefleet-agent.service'],
  },
  controller: {
    workspace: 'apps/controller',
    need: ['apps/controller/dist/main.js', 'apps/console/dist/index.html', 'apps/console/dist/app.js'],
    // The prisma CLI (a dev dependency) applies the migrations; it runs offline through infra/prisma-offline.
    extraPackages: ['prisma'],
    extraFiles: ['apps/controller/prisma.config.ts', 'apps/controller/prisma/migrations', 'infra/prisma-offline', 'infra/systemd/tracefleet-controller.service'],
  },
};

function die(msg) {
  console.error(`bundle: ${msg}`);
  process.exit(1);
}

function parseArgs(argv) {
  const opts = { component: argv[0], out: join(root, 'dist-bundle'), tar: undefined, node: true };
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--out') opts.out = argv[++i];
    else if (a === '--tar') opts.tar = argv[++i];
    else if (a === '--no-node') opts.node = false;
    else die(`unknown argument ${a} (usage: node infra/bundle.mjs agent|controller [--out DIR] [--tar FILE] [--no-node])`);
  }
  if (!COMPONENTS[opts.component]) die(`first argument must be agent or controller, got ${JSON.stringify(opts.component)}`);
  if (!opts.out) die('--out needs a directory');
  return opts;
}

const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'));
const inside = (p, dir) => p === dir || p.startsWith(dir + sep);

/** Where `name` resolves from package directory `from`: the nearest node_modules/name up to the root. */
function resolvePackage(name, from) {
  for (let dir = from; inside(dir, root); dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dir === root) break;
  }
  return undefined;
}

/** Every package directory (as found under the repo, symlinks not followed) the component needs at run time. */
function closure(spec) {
  const seen = new Map(); // path as installed (maybe a symlink) -> real path
  const queue = [];
  const visit = (installed) => {
    if (seen.has(installed)) return;
    const real = realpathSync(installed);
    seen.set(installed, real);
    queue.push(real);
  };
  // The workspace itself, and its extra packages resolved from it.
  const wsDir = join(root, spec.workspace);
  queue.push(wsDir);
  seen.set(wsDir, wsDir);
  for (const name of spec.extraPackages) {
    const p = resolvePackage(name, wsDir);
    if (!p) die(`${name} is not installed (run npm ci)`);
    visit(p);
  }
  while (queue.length) {
    const dir = queue.shift();
    const pkg = readJson(join(dir, 'package.json'));
    const deps = { ...pkg.dependencies, ...pkg.optionalDependencies };
    for (const name of Object.keys(pkg.peerDependencies ?? {})) deps[name] ??= '*';
    for (const name of Object.keys(deps)) {
      const found = resolvePackage(name, dir);
      if (found) visit(found);
      else if (!(name in (pkg.optionalDependencies ?? {})) && !(name in (pkg.peerDependencies ?? {}))) {
        die(`${name}, a dependency of ${relative(root, dir) || '.'}, is not installed (run npm ci)`);
      }
    }
  }
  return seen;
}

/** What of a workspace package runs: no sources, specs, maps, build intermediates or nested node_modules. */
function workspaceFilter(pkgRoot) {
  return (src) => {
    const rel = relative(pkgRoot, src);
    if (rel === '') return true;
    const top = rel.split(sep)[0];
    if (['node_modules', 'src', 'lib', 'scripts', '.turbo', 'test'].includes(top)) return false;
    const st = lstatSync(src);
    if (top === 'build' && !st.isDirectory()) {
      // native: only the addon; packages/bpf: only the objects.
      return /\.node$/.test(src) ? rel.startsWith(join('build', 'Release')) : /\.bpf\.o$/.test(src);
    }
    if (st.isDirectory()) return top !== 'build' || rel === 'build' || rel === join('build', 'Release');
    if (/\.spec\.js(\.map)?$|\.map$|\.tsbuildinfo$/.test(src)) return false;
    if (/(^|\/)tsconfig[^/]*\.json$|binding\.gyp$|Makefile$/.test(rel)) return false;
    return !/\.ts$/.test(src);
  };
}

function copyPackage(real, dest, isWorkspace) {
  cpSync(real, dest, {
    recursive: true,
    dereference: false,
    verbatimSymlinks: true,
    filter: isWorkspace ? workspaceFilter(real) : (src) => relative(real, src).split(sep)[0] !== 'node_modules',
  });
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const spec = COMPONENTS[opts.component];
  for (const f of [...spec.need, ...spec.extraFiles]) {
    if (!existsSync(join(root, f))) die(`${f} is missing: build first (npx turbo run build, or npm run setup)`);
  }
  const outRoot = join(opts.out, opts.component);
  rmSync(outRoot, { recursive: true, force: true });
  mkdirSync(outRoot, { recursive: true });

  const pkgs = closure(spec);
  let workspaces = 0;
  let modules = 0;
  for (const [installed, real] of pkgs) {
    const isWorkspace = !real.split(sep).includes('node_modules');
    if (isWorkspace) {
      workspaces++;
      copyPackage(real, join(outRoot, relative(root, real)), true);
      if (installed !== real) {
        // npm's workspace link, relative like npm makes it.
        const link = join(outRoot, relative(root, installed));
        mkdirSync(dirname(link), { recursive: true });
        symlinkSync(relative(dirname(installed), real), link);
      }
    } else {
      modules++;
      copyPackage(real, join(outRoot, relative(root, installed)), false);
    }
  }
  for (const f of spec.extraFiles) {
    cpSync(join(root, f), join(outRoot, f), { recursive: true, filter: (s) => !/\.test\.mjs$/.test(s) });
  }
  if (opts.component === 'controller') {
    // The multi-file Prisma schema lives beside the code: prisma.config.ts names apps/controller/src.
    const src = join(root, 'apps/controller/src');
    const walk = (dir) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory() && e.name !== 'generated') walk(p);
        else if (e.isFile() && e.name.endsWith('.prisma')) cpSync(p, join(outRoot, relative(root, p)));
      }
    };
    walk(src);
  }
  const entry = `${spec.workspace}/dist/main.js`;
  writeFileSync(join(outRoot, 'main.js'), `#!/usr/bin/env node\n'use strict';\n// Tracefleet ${opts.component}: bundled by infra/bundle.mjs.\nrequire('./${entry}');\n`, { mode: 0o755 });
  const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).stdout.trim() || 'unknown';
  const version = readJson(join(root, 'package.json')).version;
  const manifest = { component: opts.component, version, commit, node: process.version, entry, workspaces, modules, builtAt: new Date().toISOString() };
  writeFileSync(join(outRoot, 'BUNDLE.json'), `${JSON.stringify(manifest, null, 2)}\n`);

  if (opts.node) {
    const nodeDir = join(opts.out, 'node', 'bin');
    mkdirSync(nodeDir, { recursive: true });
    copyFileSync(process.execPath, join(nodeDir, 'node'));
    chmodSync(join(nodeDir, 'node'), 0o755);
  }
  const du = spawnSync('du', ['-sm', outRoot], { encoding: 'utf8' }).stdout.split('\t')[0];
  console.log(`bundle: ${opts.component} ${version} (${commit}) in ${outRoot}: ${workspaces} workspace packages, ${modules} modules, ${du} MiB${opts.node ? `, node ${process.version} in ${join(opts.out, 'node')}` : ''}`);

  if (opts.tar) {
    const parts = [opts.component, ...(opts.node ? ['node'] : [])];
    const r = spawnSync('tar', ['-C', opts.out, '-czf', opts.tar, ...parts], { stdio: 'inherit' });
    if (r.status !== 0) die(`tar failed (${r.status ?? r.signal})`);
    console.log(`bundle: wrote ${opts.tar}`);
  }
}

main();
