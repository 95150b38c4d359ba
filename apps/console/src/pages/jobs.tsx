import { useState } from 'preact/hooks';
import { api } from '../api';
import { go, href } from '../router';
import { ago, ErrorBox, Status, Table, TERMINAL, useLoad } from '../ui';

export interface JobSummary {
  id: string;
  type: string;
  status: string;
  reason: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  durationSec: number;
  incidentId: string | null;
  scheduleId: string | null;
  nodes: string[];
  runs: Record<string, number>;
}

const FILTERS = ['status', 'type', 'node', 'incident', 'schedule'] as const;

/** GET /jobs with its filters and cursor pages; refreshed every 2 s while any job on the page is live. */
export function Jobs({ query }: { query: URLSearchParams }) {
  const qs = new URLSearchParams();
  for (const f of [...FILTERS, 'before']) if (query.get(f)) qs.set(f, query.get(f)!);
  qs.set('limit', '25');
  const key = qs.toString();
  const [draft, setDraft] = useState<Record<string, string>>(Object.fromEntries(FILTERS.map((f) => [f, query.get(f) ?? ''])));
  const { data, error } = useLoad(
    () => api<{ jobs: JobSummary[]; nextCursor: string | null }>('GET', `/jobs?${key}`),
    [key],
    2000,
    (d) => d.jobs.every((j) => TERMINAL.includes(j.status)),
  );
  return (
    <>
      <h1>Jobs</h1>
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault();
          go('jobs', draft);
        }}
      >
        {FILTERS.map((f) => (
          <label>
            {f}{' '}
            <input name={f} size={12} value={draft[f]} onInput={(e) => setDraft({ ...draft, [f]: (e.target as HTMLInputElement).value })} />
          </label>
        ))}
        <button type="submit">Filter</button>
        <a href={href('new')} class="button">
          New job
        </a>
      </form>
      <ErrorBox error={error} />
      {data && (
        <>
          <Table head={['Job', 'Type', 'Status', 'Nodes', 'Runs', 'Duration', 'Created']} label="jobs">
            {data.jobs.map((j) => (
              <tr data-job={j.id}>
                <td>
                  <a href={href(`jobs/${j.id}`)}>{j.id.slice(0, 8)}</a>
                </td>
                <td>{j.type}</td>
                <td>
                  <Status s={j.status} />
                </td>
                <td>{j.nodes.length <= 3 ? j.nodes.join(', ') : `${j.nodes.slice(0, 3).join(', ')} +${j.nodes.length - 3}`}</td>
                <td class="muted">
                  {Object.entries(j.runs)
                    .filter(([, n]) => n > 0)
                    .map(([s, n]) => `${n} ${s}`)
                    .join(' · ')}
                </td>
                <td>{j.durationSec} s</td>
                <td title={j.createdAt}>{ago(j.createdAt)}</td>
              </tr>
            ))}
          </Table>
          {data.jobs.length === 0 && <p class="muted">No jobs match.</p>}
          <p class="row">
            {query.get('before') && <a href={href('jobs', { ...Object.fromEntries(FILTERS.map((f) => [f, query.get(f) ?? undefined])) })}>Newest</a>}
            {data.nextCursor && (
              <a data-testid="jobs-next" href={href('jobs', { ...Object.fromEntries(FILTERS.map((f) => [f, query.get(f) ?? undefined])), before: data.nextCursor })}>
                Older →
              </a>
            )}
          </p>
        </>
      )}
    </>
  );
}
