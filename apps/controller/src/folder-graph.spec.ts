import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

// The controller's top-level folders must form a tree (a DAG): when two folders import each other,
// neither can be read, tested or moved without the other. Files directly in src/ (app.module.ts,
// main.ts) are the root: they may import any folder, and no folder may import them.

const ROOT = '(src)';
// Prisma's generated client: build output that imports nothing of ours.
const SKIP_DIRS = new Set(['generated', 'node_modules']);

/** The source folder, whether this runs from src/ (ts) or from dist/ (compiled). */
function sourceDir(): string {
  for (const candidate of [__dirname, resolve(__dirname, '../src')]) {
    if (existsSync(join(candidate, 'app.module.ts'))) return candidate;
  }
  throw new Error(`folder-graph: no app.module.ts in ${__dirname} or ${resolve(__dirname, '../src')}`);
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) {
      if (!SKIP_DIRS.has(name)) out.push(...sourceFiles(full));
    } else if (name.endsWith('.ts') && !name.endsWith('.spec.ts') && !name.endsWith('.d.ts')) {
      out.push(full);
    }
  }
  return out;
}

const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]*)['"]/gm;

function folderOf(src: string, file: string): string | undefined {
  const rel = relative(src, file);
  if (rel.startsWith('..')) return undefined;
  const parts = rel.split(sep);
  return parts.length === 1 ? ROOT : parts[0];
}

interface FileImport {
  from: string;
  to: string;
}

/** folder -> folder -> the file-level imports behind that edge. */
function folderGraph(src: string): Map<string, Map<string, FileImport[]>> {
  const graph = new Map<string, Map<string, FileImport[]>>();
  for (const file of sourceFiles(src)) {
    const from = folderOf(src, file)!;
    if (!graph.has(from)) graph.set(from, new Map());
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(SPECIFIER)) {
      const target = resolve(dirname(file), m[1]);
      const to = folderOf(src, target);
      if (to === undefined || to === from || SKIP_DIRS.has(to)) continue;
      const edges = graph.get(from)!;
      if (!edges.has(to)) edges.set(to, []);
      edges.get(to)!.push({ from: relative(src, file), to: m[1] });
    }
  }
  return graph;
}

/** Shortest folder path from `start` to `goal` (both included), or undefined. */
function shortestPath(
  graph: Map<string, Map<string, FileImport[]>>,
  start: string,
  goal: string,
): string[] | undefined {
  const prev = new Map<string, string>([[start, start]]);
  const queue = [start];
  while (queue.length) {
    const at = queue.shift()!;
    if (at === goal) {
      const path = [goal];
      while (path[0] !== start) path.unshift(prev.get(path[0])!);
      return path;
    }
    for (const next of [...(graph.get(at)?.keys() ?? [])].sort()) {
      if (!prev.has(next)) {
        prev.set(next, at);
        queue.push(next);
      }
    }
  }
  return undefined;
}

function describeEdge(graph: Map<string, Map<string, FileImport[]>>, a: string, b: string): string {
  const lines = [`  ${a} -> ${b}:`];
  for (const imp of graph.get(a)!.get(b)!) lines.push(`    ${imp.from} imports '${imp.to}'`);
  return lines.join('\n');
}

function problems(graph: Map<string, Map<string, FileImport[]>>): string[] {
  const out: string[] = [];
  const folders = [...graph.keys()].sort();
  for (const a of folders) {
    if (a !== ROOT && graph.get(a)!.has(ROOT)) {
      out.push(`folder ${a} imports a file directly in src/ (the root):\n${describeEdge(graph, a, ROOT)}`);
    }
  }
  const seen = new Set<string>();
  for (const a of folders) {
    for (const b of [...graph.get(a)!.keys()].sort()) {
      const back = shortestPath(graph, b, a);
      if (!back) continue;
      const cycle = [a, ...back];
      // The same cycle found from another of its edges: name it by its rotation starting at the least folder.
      const ring = cycle.slice(0, -1);
      const least = ring.indexOf([...ring].sort()[0]);
      const key = [...ring.slice(least), ...ring.slice(0, least)].join(' -> ');
      if (seen.has(key)) continue;
      seen.add(key);
      const what = ring.length === 2 ? `folders ${a} and ${b} import each other` : `folder cycle ${cycle.join(' -> ')}`;
      const edges = cycle.slice(0, -1).map((f, i) => describeEdge(graph, f, cycle[i + 1]));
      out.push(`${what}:\n${edges.join('\n')}`);
    }
  }
  return out;
}

describe('controller folder graph', () => {
  it('finds imports of every kind and maps files to their top-level folder', () => {
    const text = `import { A } from '../a/x';\nimport '../side';\nconst b = await import('../b/y');\nrequire('./c');\n`;
    assert.deepEqual(
      [...text.matchAll(SPECIFIER)].map((m) => m[1]),
      ['../a/x', '../side', '../b/y', './c'],
    );
    assert.equal(folderOf('/s', '/s/main.ts'), ROOT);
    assert.equal(folderOf('/s', '/s/jobs/dto/x.ts'), 'jobs');
    assert.equal(folderOf('/s', '/other/x.ts'), undefined);
  });

  it('reports a pair and a longer cycle with the file imports behind them', () => {
    const edge = (from: string, to: string) => [{ from, to }];
    const graph = new Map<string, Map<string, FileImport[]>>([
      ['a', new Map([['b', edge('a/x.ts', '../b/y')]])],
      ['b', new Map([['a', edge('b/y.ts', '../a/x')], ['c', edge('b/y.ts', '../c/z')]])],
      ['c', new Map([['d', edge('c/z.ts', '../d/w')]])],
      ['d', new Map([['b', edge('d/w.ts', '../b/y')]])],
    ]);
    const found = problems(graph);
    assert.equal(found.length, 2, found.join('\n'));
    assert.match(found[0], /folders a and b import each other/);
    assert.match(found[0], /a\/x\.ts imports '\.\.\/b\/y'/);
    assert.match(found[1], /folder cycle b -> c -> d -> b/);
  });

  it('has no two folders that import each other and no longer cycle between folders', () => {
    const src = sourceDir();
    const graph = folderGraph(src);
    assert.ok(graph.size > 5, `folder-graph: read only ${graph.size} folders under ${src}`);
    const found = problems(graph);
    if (found.length) assert.fail(`\n${found.length} folder cycle(s) in ${src}:\n\n${found.join('\n\n')}\n`);
  });
});
