import { useMemo } from 'preact/hooks';
import { api, text } from '../api';
import { FlameGraph } from '../flame/flame-graph';
import { parseFolded } from '../flame/model';
import { href } from '../router';
import { ago, ErrorBox, num, Status, Table, TERMINAL, useLoad } from '../ui';

interface IncidentJob {
  id: string;
  type: string;
  status: string;
  startSkewMs: number | null;
}
interface Incident {
  id: string;
  name: string | null;
  status: string;
  createdAt: string;
  startAt: string;
  startSkewMs: number | null;
  skew: { started: number; runs: number; maxDelayMs: number | null };
  jobs: IncidentJob[];
  byNode: Record<string, Record<string, string>>;
}
interface Functions {
  totalSamples: number;
  bySelf: { name: string; self: number; selfPct: number; byNode: Record<string, { self: number }> }[];
}

export function Incidents() {
  const { data, error } = useLoad(() => api<{ incidents: Incident[] }>('GET', '/incidents?limit=50'), [], 3000);
  return (
    <>
      <h1>Incidents</h1>
      <ErrorBox error={error} />
      {data && (
        <Table head={['Incident', 'Name', 'Status', 'Jobs', 'Start skew', 'Created']} label="incidents">
          {data.incidents.map((i) => (
            <tr>
              <td>
                <a href={href(`incidents/${i.id}`)}>{i.id.slice(0, 8)}</a>
              </td>
              <td>{i.name ?? ''}</td>
              <td>
                <Status s={i.status} />
              </td>
              <td>{i.jobs.map((j) => j.type).join(', ')}</td>
              <td>{i.startSkewMs === null ? '–' : `${i.startSkewMs} ms`}</td>
              <td>{ago(i.createdAt)}</td>
            </tr>
          ))}
        </Table>
      )}
    </>
  );
}

export function IncidentPage({ id }: { id: string }) {
  const { data: inc, error } = useLoad(() => api<Incident>('GET', `/incidents/${encodeURIComponent(id)}`), [id], 2000, (i) => TERMINAL.includes(i.status));
  const done = !!inc && TERMINAL.includes(inc.status);
  const fns = useLoad(() => api<Functions>('GET', `/incidents/${encodeURIComponent(id)}/functions`), [id, done]);
  const folded = useLoad(() => text(`/incidents/${encodeURIComponent(id)}/flamegraph.folded`), [id, done]);
  const tree = useMemo(() => (folded.data ? parseFolded(folded.data).tree : undefined), [folded.data]);
  if (error) return <ErrorBox error={error} />;
  if (!inc) return <p class="muted">Loading…</p>;
  const nodes = Object.keys(inc.byNode).sort();
  return (
    <>
      <h1>
        Incident {inc.name ?? inc.id.slice(0, 8)} <Status s={inc.status} />
      </h1>
      <p class="muted">
        start {new Date(inc.startAt).toLocaleString()} · {inc.skew.started} of {inc.skew.runs} runs started · start skew {inc.startSkewMs ?? '–'} ms (max delay {inc.skew.maxDelayMs ?? '–'} ms)
      </p>
      <Table head={['Node', ...inc.jobs.map((j) => `${j.type} ${j.id.slice(0, 8)}`)]} label="per node">
        {nodes.map((n) => (
          <tr>
            <td>{n}</td>
            {inc.jobs.map((j) => (
              <td>{inc.byNode[n][j.id] ? <Status s={inc.byNode[n][j.id]} /> : '–'}</td>
            ))}
          </tr>
        ))}
      </Table>
      <p class="row">
        {inc.jobs.map((j) => (
          <a href={href(`jobs/${j.id}`)}>
            {j.type} job {j.id.slice(0, 8)} ({j.status}
            {j.startSkewMs !== null ? `, skew ${j.startSkewMs} ms` : ''})
          </a>
        ))}
      </p>
      {fns.data && fns.data.bySelf.length > 0 && (
        <>
          <h2>Top functions (self)</h2>
          <Table head={['Function', 'Self', '%', ...nodes]} label="top functions">
            {fns.data.bySelf.slice(0, 15).map((f) => (
              <tr>
                <td>{f.name}</td>
                <td>{num(f.self)}</td>
                <td>{f.selfPct.toFixed(1)}</td>
                {nodes.map((n) => (
                  <td>{num(f.byNode[n]?.self ?? 0)}</td>
                ))}
              </tr>
            ))}
          </Table>
        </>
      )}
      {tree && tree.frames > 0 && <FlameGraph tree={tree} title="incident flame graph" />}
    </>
  );
}
