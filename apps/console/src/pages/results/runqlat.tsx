import { api } from '../../api';
import { ErrorBox, num, Table, useLoad } from '../../ui';

interface Hist {
  count: string;
  meanUs: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  slots: { lowUs: number; highUs: number | null; count: string }[];
}

interface Runqlat {
  merged: Hist;
  notMeasured: { noStart: string; noHist: string };
  nodes: { node: string; histogram: Hist }[];
}

const summary = (h: Hist): string => `${num(h.count)} waits · mean ${h.meanUs} µs · p50 ~${h.p50Us} µs · p90 ~${h.p90Us} µs · p99 ~${h.p99Us} µs`;

export function RunqlatResult({ id, done }: { id: string; done: boolean }) {
  const { data, error } = useLoad(() => api<Runqlat>('GET', `/jobs/${encodeURIComponent(id)}/runqlat`), [id, done], done ? undefined : 3000);
  const max = data ? Math.max(1, ...data.merged.slots.map((s) => Number(s.count))) : 1;
  return (
    <section aria-label="result">
      <h2>Run-queue latency</h2>
      <ErrorBox error={error} />
      {data && (
        <>
          <p>
            {summary(data.merged)}
            {Number(data.notMeasured.noStart) ? `, ${num(data.notMeasured.noStart)} not measured (a full map)` : ''}
          </p>
          <Table head={['µs', 'Waits', '']} label="histogram">
            {data.merged.slots.map((s) => (
              <tr>
                <td>{`${s.lowUs} – ${s.highUs === null ? '∞' : s.highUs - 1}`}</td>
                <td>{num(s.count)}</td>
                <td class="muted">{'*'.repeat(Math.round((40 * Number(s.count)) / max))}</td>
              </tr>
            ))}
          </Table>
          <Table head={['Node', 'Summary']} label="by node">
            {data.nodes.map((n) => (
              <tr>
                <td>{n.node}</td>
                <td>{summary(n.histogram)}</td>
              </tr>
            ))}
          </Table>
        </>
      )}
    </section>
  );
}
