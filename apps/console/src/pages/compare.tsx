import { useMemo, useState } from 'preact/hooks';
import { api, API, text } from '../api';
import { FlameGraph } from '../flame/flame-graph';
import { parseFolded } from '../flame/model';
import { go } from '../router';
import { ErrorBox, useLoad } from '../ui';
import type { JobSummary } from './jobs';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Any two profiles → GET /diff/flamegraph.folded, drawn by the target and coloured by the change (red grew, blue shrank). */
export function Compare({ query }: { query: URLSearchParams }) {
  const base = query.get('base') ?? '';
  const target = query.get('target') ?? '';
  const [draft, setDraft] = useState({ base, target });
  const recent = useLoad(() => api<{ jobs: JobSummary[] }>('GET', '/jobs?type=cpu-profile&limit=50'), []);
  const ready = UUID.test(base) && UUID.test(target);
  const diff = useLoad(() => (ready ? text(`/diff/flamegraph.folded?base=${base}&target=${target}`) : Promise.resolve(undefined)), [base, target]);
  const tree = useMemo(() => (diff.data ? parseFolded(diff.data).tree : undefined), [diff.data]);
  const pick = (name: 'base' | 'target') => (
    <label>
      {name}{' '}
      <select data-testid={`compare-${name}`} value={draft[name]} onChange={(e) => setDraft({ ...draft, [name]: (e.target as HTMLSelectElement).value })}>
        <option value="">choose a profile…</option>
        {draft[name] && !recent.data?.jobs.some((j) => j.id === draft[name]) && <option value={draft[name]}>{draft[name]}</option>}
        {(recent.data?.jobs ?? []).map((j) => (
          <option value={j.id}>
            {j.id.slice(0, 8)} · {j.status} · {j.nodes.join(', ')} · {new Date(j.createdAt).toLocaleString()}
          </option>
        ))}
      </select>
    </label>
  );
  return (
    <>
      <h1>Compare</h1>
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault();
          go('compare', draft);
        }}
      >
        {pick('base')}
        {pick('target')}
        <button type="submit" data-testid="compare-go" disabled={!draft.base || !draft.target}>
          Diff
        </button>
        {ready && (
          <a href={`${API}/diff/flamegraph.svg?base=${base}&target=${target}`} target="_blank" rel="noopener">
            diff SVG
          </a>
        )}
      </form>
      <ErrorBox error={recent.error ?? diff.error} />
      {tree && (
        <>
          <p class="muted" data-testid="diff-legend">
            Differential: widths are the target's samples; red grew, blue shrank, as a share of each profile (base {tree.baseTotal.toLocaleString()} samples, target {tree.root.value.toLocaleString()}).
          </p>
          <FlameGraph tree={tree} title="differential flame graph" />
        </>
      )}
    </>
  );
}
