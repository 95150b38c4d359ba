import { useMemo } from 'preact/hooks';
import { API, text } from '../../api';
import { FlameGraph } from '../../flame/flame-graph';
import { parseFolded } from '../../flame/model';
import { go, href } from '../../router';
import { ErrorBox, useLoad } from '../../ui';

/** The stacks of a job as a flame graph: merged, or one node's; reloaded every 3 s until the job ends. */
export function ProfileResult({ id, nodes, done, node, links }: { id: string; nodes: string[]; done: boolean; node: string; links: Record<string, string | undefined> }) {
  const q = node ? `?node=${encodeURIComponent(node)}` : '';
  const { data, error } = useLoad(() => text(`/jobs/${encodeURIComponent(id)}/flamegraph.folded${q}`), [id, q, done], done ? undefined : 3000);
  const parsed = useMemo(() => (data === undefined ? undefined : parseFolded(data)), [data]);
  const file = (path: string): string => `${API}/jobs/${encodeURIComponent(id)}/${path}${q}`;
  return (
    <section aria-label="result">
      <h2>Flame graph</h2>
      <div class="row">
        <label>
          Nodes{' '}
          <select data-testid="node-filter" value={node} onChange={(e) => go(`jobs/${id}`, { node: (e.target as HTMLSelectElement).value })}>
            <option value="">merged ({nodes.length})</option>
            {nodes.map((n) => (
              <option value={n}>{n}</option>
            ))}
          </select>
        </label>
        {links.flamegraphSvg !== undefined && (
          <>
            <a href={file('flamegraph.svg')} target="_blank" rel="noopener">
              SVG
            </a>
            <a href={file('flamegraph.folded')} download>
              folded
            </a>
            <a href={file('profile.pprof')} download>
              pprof
            </a>
            <a href={file('profile.speedscope.json')} download>
              speedscope
            </a>
          </>
        )}
        <a data-testid="compare-link" href={href('compare', { base: id })}>
          Compare with another profile…
        </a>
      </div>
      <ErrorBox error={error} />
      {parsed && parsed.tree.frames === 0 && <p class="muted">No stacks stored {done ? 'for this job' : 'yet'}.</p>}
      {parsed && parsed.tree.frames > 0 && <FlameGraph tree={parsed.tree} title={`job ${id}`} />}
    </section>
  );
}
