import { api } from '../../api';
import { ErrorBox, num, Table, useLoad } from '../../ui';

interface Pair {
  label: string;
  count: number;
  meanNs: string;
  unmatchedEnds: number;
  histogram: { fromNs: string; toNs: string; count: number }[];
  slowest: { node: string; pid: number; tid: number; durationNs: string; args: string[]; stack: string[] }[];
}
interface Usdt {
  probes: { probe: string; count: number; eventsCaptured: number; byNode: Record<string, number> }[];
  pairs: Pair[];
}

export const ns = (v: string | number): string => {
  const n = Number(v);
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} s`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} ms`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} µs`;
  return `${n} ns`;
};

/** A log2 histogram as bars, like bcc's output. */
export function Histogram({ buckets, label }: { buckets: { from: string; to: string; count: number }[]; label: string }) {
  const max = Math.max(1, ...buckets.map((b) => b.count));
  return (
    <table class="hist" aria-label={label}>
      <tbody>
        {buckets.map((b) => (
          <tr>
            <td class="num">
              {b.from} – {b.to}
            </td>
            <td class="num">{num(b.count)}</td>
            <td class="bar-cell">
              <span class="bar" style={{ width: `${(100 * b.count) / max}%` }} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function UsdtResult({ id, done }: { id: string; done: boolean }) {
  const { data, error } = useLoad(() => api<Usdt>('GET', `/jobs/${encodeURIComponent(id)}/usdt`), [id, done], done ? undefined : 3000);
  return (
    <section aria-label="result">
      <h2>Probes</h2>
      <ErrorBox error={error} />
      {data && (
        <>
          <Table head={['Probe', 'Hits (kernel)', 'Events captured', 'By node']} label="probes">
            {data.probes.map((p) => (
              <tr>
                <td>
                  <code>{p.probe}</code>
                </td>
                <td>{num(p.count)}</td>
                <td>{num(p.eventsCaptured)}</td>
                <td class="muted">
                  {Object.entries(p.byNode)
                    .map(([n, c]) => `${n}: ${c}`)
                    .join(' · ')}
                </td>
              </tr>
            ))}
          </Table>
          {data.pairs.map((p) => (
            <div class="pair">
              <h3>
                {p.label}: {num(p.count)} pairs, mean {ns(p.meanNs)}
                {p.unmatchedEnds ? `, ${p.unmatchedEnds} unmatched ends` : ''}
              </h3>
              <Histogram label={`${p.label} latency`} buckets={p.histogram.map((b) => ({ from: ns(b.fromNs), to: ns(b.toNs), count: b.count }))} />
              <h4>Slowest</h4>
              <Table head={['Duration', 'Node', 'pid/tid', 'Args', 'Stack']} label={`${p.label} slowest`}>
                {p.slowest.map((s) => (
                  <tr>
                    <td>{ns(s.durationNs)}</td>
                    <td>{s.node}</td>
                    <td>
                      {s.pid}/{s.tid}
                    </td>
                    <td>
                      <code>{s.args.join(', ')}</code>
                    </td>
                    <td class="stack">{s.stack.slice(0, 6).join(' ← ')}</td>
                  </tr>
                ))}
              </Table>
            </div>
          ))}
        </>
      )}
    </section>
  );
}
