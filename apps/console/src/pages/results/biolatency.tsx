import { api } from '../../api';
import { ErrorBox, num, Table, useLoad } from '../../ui';

interface Hist {
  count: string;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  slots: { low: number; high: number | null; count: string }[];
}

interface Pair {
  latency: Hist;
  size: Hist;
  totalBytes: string;
}

interface Biolatency {
  merged: Pair;
  notMeasured: { startFull: string; noHist: string; histogramsLeftOut: string };
  nodes: ({ node: string } & Pair)[];
  disks: ({ disk: string } & Pair)[];
  byProcess: ({ node: string; disk: string; pid: number; comm: string } & Pair)[];
}

const summary = (h: Hist, unit: string): string => `mean ${h.mean} ${unit} · p50 ~${h.p50} ${unit} · p90 ~${h.p90} ${unit} · p99 ~${h.p99} ${unit}`;
const line = (p: Pair): string => `${num(p.latency.count)} requests · latency ${summary(p.latency, 'µs')} · size ${summary(p.size, 'KiB')}`;

function Log2Table({ h, unit, label }: { h: Hist; unit: string; label: string }) {
  const max = Math.max(1, ...h.slots.map((s) => Number(s.count)));
  return (
    <Table head={[unit, 'Requests', '']} label={label}>
      {h.slots.map((s) => (
        <tr>
          <td>{`${s.low} – ${s.high === null ? '∞' : s.high - 1}`}</td>
          <td>{num(s.count)}</td>
          <td class="muted">{'*'.repeat(Math.round((40 * Number(s.count)) / max))}</td>
        </tr>
      ))}
    </Table>
  );
}

export function BiolatencyResult({ id, done }: { id: string; done: boolean }) {
  const { data, error } = useLoad(() => api<Biolatency>('GET', `/jobs/${encodeURIComponent(id)}/biolatency`), [id, done], done ? undefined : 3000);
  return (
    <section aria-label="result">
      <h2>Block I/O latency and size</h2>
      <ErrorBox error={error} />
      {data && (
        <>
          <p>
            {line(data.merged)}
            {Number(data.notMeasured.startFull) ? `, ${num(data.notMeasured.startFull)} not measured (a full map)` : ''}
          </p>
          <Log2Table h={data.merged.latency} unit="µs" label="latency histogram" />
          <Log2Table h={data.merged.size} unit="KiB" label="size histogram" />
          <Table head={['Disk', 'Summary']} label="by disk">
            {data.disks.map((d) => (
              <tr>
                <td>{d.disk}</td>
                <td>{line(d)}</td>
              </tr>
            ))}
          </Table>
          <Table head={['Node', 'Summary']} label="by node">
            {data.nodes.map((n) => (
              <tr>
                <td>{n.node}</td>
                <td>{line(n)}</td>
              </tr>
            ))}
          </Table>
          {data.byProcess.length > 0 && (
            <Table head={['Node', 'Disk', 'Process', 'Summary']} label="by process">
              {data.byProcess.slice(0, 50).map((p) => (
                <tr>
                  <td>{p.node}</td>
                  <td>{p.disk}</td>
                  <td>{`${p.comm} (${p.pid})`}</td>
                  <td>{line(p)}</td>
                </tr>
              ))}
            </Table>
          )}
        </>
      )}
    </section>
  );
}
