// Bundles the console into dist/ (what the controller serves at /) and its specs into dist/spec/
// (run by `npm test` with the other compiled specs). esbuild: one kept bundler, no CDN at run time.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const here = new URL('.', import.meta.url).pathname;
const out = join(here, 'dist');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(here, 'src/main.tsx')],
  bundle: true,
  format: 'esm',
  target: ['chrome110', 'firefox110', 'safari16'],
  minify: true,
  sourcemap: false,
  jsx: 'automatic',
  jsxImportSource: 'preact',
  outfile: join(out, 'app.js'),
  logLevel: 'warning',
});
await build({ entryPoints: [join(here, 'src/style.css')], bundle: true, minify: true, outfile: join(out, 'app.css'), logLevel: 'warning' });
copyFileSync(join(here, 'src/index.html'), join(out, 'index.html'));
const specs = [];
const find = (dir) => {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) find(join(dir, e.name));
    else if (e.name.endsWith('.spec.ts')) specs.push(join(dir, e.name));
  }
};
find(join(here, 'src'));
if (specs.length > 0) {
  await build({ entryPoints: specs, bundle: true, platform: 'node', format: 'cjs', target: 'node20', outdir: join(out, 'spec'), external: ['node:*'], logLevel: 'warning' });
}
