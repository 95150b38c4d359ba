import { api, API } from '../api';
import { href } from '../router';
import { ago, ErrorBox, num, Status, Table, useLoad } from '../ui';

interface Schedule {
  id: string;
  name: string | null;
  cron: string | null;
  everyMs: number | null;
  bundle: { type: string }[];
  ticks: number;
  lastTickAt: string | null;
  nextRuns: string[];
}
interface ReportSummary {
  id: string;
  seq: number;
  status: string;
  createdAt: string;
  totalSamples: number;
  baseReportId: string | null;
  incidentId: string | null;
}
interface Change {
  name: string;
  baseSelfPct: number;
  targetSelfPct: number;
  deltaPts: number;
}
interface Report extends ReportSummary {
  topFunctions: { totalSamples: number; bySelf: { name: string; self: number; selfPct: number }[] } | null;
  diff: { baseSeq: number; grew: Change[]; shrank: Change[] } | null;
}

export function Schedules() {
  const { data, error } = useLoad(() => api<Schedule[] | { schedules: Schedule[] }>('GET', '/schedules'), [], 10000);
  const list = Array.isArray(data) ? data : (data?.schedules ?? []);
  return (
    <>
      <h1>Schedules</h1>
      <ErrorBox error={error} />
      <Table head={['Schedule', 'Name', 'When', 'Bundle', 'Ticks', 'Last', 'Next']} label="schedules">
        {list.map((s) => (
          <tr>
            <td>
              <a href={href(`schedules/${s.id}`)}>{s.id.slice(0, 8)}</a>
            </td>
            <td>{s.name ?? ''}</td>
            <td>{s.cron ?? `every ${((s.everyMs ?? 0) / 1000).toFixed(0)} s`}</td>
            <td>{s.bundle.map((b) => b.type).join(', ')}</td>
            <td>{s.ticks}</td>
            <td>{ago(s.lastTickAt)}</td>
            <td>{s.nextRuns[0] ? new Date(s.nextRuns[0]).toLocaleString() : '–'}</td>
          </tr>
        ))}
      </Table>
    </>
  );
}

const changes = (list: Change[]) =>
  list.slice(0, 10).map((c) => (
    <tr>
      <td>{c.name}</td>
      <td>{c.baseSelfPct.toFixed(1)}%</td>
      <td>{c.targetSelfPct.toFixed(1)}%</td>
      <td>
        {c.deltaPts > 0 ? '+' : ''}
        {c.deltaPts.toFixed(1)} pts
      </td>
    </tr>
  ));

export function SchedulePage({ id, query }: { id: string; query: URLSearchParams }) {
  const reports = useLoad(() => api<{ reports: ReportSummary[] }>('GET', `/schedules/${encodeURIComponent(id)}/reports?limit=50`), [id], 10000);
  const rid = query.get('report') ?? reports.data?.reports[0]?.id;
  const report = useLoad(() => (rid ? api<Report>('GET', `/schedules/${encodeURIComponent(id)}/reports/${encodeURIComponent(rid)}`) : Promise.resolve(undefined)), [id, rid]);
  const r = report.data;
  return (
    <>
      <h1>Schedule {id.slice(0, 8)}</h1>
      <ErrorBox error={reports.error ?? report.error} />
      <Table head={['Report', 'Status', 'Samples', 'Created', 'Incident']} label="reports">
        {(reports.data?.reports ?? []).map((x) => (
          <tr aria-current={x.id === rid ? 'true' : undefined}>
            <td>
              <a href={href(`schedules/${id}`, { report: x.id })}>#{x.seq}</a>
            </td>
            <td>
              <Status s={x.status} />
            </td>
            <td>{num(x.totalSamples)}</td>
            <td>{ago(x.createdAt)}</td>
            <td>{x.incidentId ? <a href={href(`incidents/${x.incidentId}`)}>{x.incidentId.slice(0, 8)}</a> : '–'}</td>
          </tr>
        ))}
      </Table>
      {r && (
        <section aria-label="report">
          <h2>Report #{r.seq}</h2>
          {r.topFunctions && (
            <Table head={['Function', 'Self', '%']} label="top functions">
              {r.topFunctions.bySelf.slice(0, 15).map((f) => (
                <tr>
                  <td>{f.name}</td>
                  <td>{num(f.self)}</td>
                  <td>{f.selfPct.toFixed(1)}</td>
                </tr>
              ))}
            </Table>
          )}
          {r.diff && (
            <>
              <h3>Against report #{r.diff.baseSeq}</h3>
              <Table head={['Grew', 'Before', 'Now', 'Change']} label="grew">
                {changes(r.diff.grew)}
              </Table>
              <Table head={['Shrank', 'Before', 'Now', 'Change']} label="shrank">
                {changes(r.diff.shrank)}
              </Table>
              <img class="svg" alt="differential flame graph against the previous report" src={`${API}/schedules/${id}/reports/${r.id}/diff.svg`} />
            </>
          )}
          {r.baseReportId === null && <p class="muted">The first report: nothing to compare with yet.</p>}
          <p>
            <a href={`${API}/schedules/${id}/reports/${r.id}/flamegraph.svg`} target="_blank" rel="noopener">
              flame graph SVG
            </a>
          </p>
        </section>
      )}
    </>
  );
}
