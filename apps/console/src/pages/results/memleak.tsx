import { api } from '../../api';
import { bytes, ErrorBox, num, Table, useLoad } from '../../ui';

interface Snapshot {
  seq: number;
  takenAt: string;
  final: boolean;
  totalBytes: string;
  totalCount: number;
}
interface LeakStack {
  frames: string[];
  bytes: string;
  count: number;
  oldestAgeMs: number;
  growthBytes: string;
  growing: boolean;
  byNode: Record<string, string | number>;
}
interface Memleak {
  mode: string;
  sampled: boolean;
  scale: number;
  note: string | null;
  nodes: { node: string; snapshots: Snapshot[]; top: LeakStack[] }[];
  merged: { totalBytes: string; top: LeakStack[] };
}

const W = 640;
const H = 180;
const COLOURS = ['#c0392b', '#2471a3', '#229954', '#b7950b', '#7d3c98', '#ca6f1e'];

/** Outstanding bytes per node at each snapshot: a line per node (SVG, no chart library for one kind of chart). */
export function GrowthChart({ nodes }: { nodes: { node: string; snapshots: Snapshot[] }[] }) {
  const points = nodes.flatMap((n) => n.snapshots.map((s) => ({ t: Date.parse(s.takenAt), v: Number(s.totalBytes) })));
  if (points.length === 0) return <p class="muted">No snapshots yet.</p>;
  const t0 = Math.min(...points.map((p) => p.t));
  const t1 = Math.max(t0 + 1, ...points.map((p) => p.t));
  const vMax = Math.max(1, ...points.map((p) => p.v));
  const x = (t: number): number => 40 + ((t - t0) / (t1 - t0)) * (W - 50);
  const y = (v: number): number => H - 20 - (v / vMax) * (H - 30);
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label="outstanding bytes per node over time" data-testid="memleak-chart">
        <line x1={40} y1={H - 20} x2={W - 10} y2={H - 20} stroke="#888" />
        <line x1={40} y1={10} x2={40} y2={H - 20} stroke="#888" />
        <text x={2} y={14} font-size="10">
          {bytes(vMax)}
        </text>
        <text x={40} y={H - 4} font-size="10">
          0 s
        </text>
        <text x={W - 60} y={H - 4} font-size="10">
          {((t1 - t0) / 1000).toFixed(0)} s
        </text>
        {nodes.map((n, i) => (
          <polyline fill="none" stroke={COLOURS[i % COLOURS.length]} stroke-width="2" points={n.snapshots.map((s) => `${x(Date.parse(s.takenAt)).toFixed(1)},${y(Number(s.totalBytes)).toFixed(1)}`).join(' ')} />
        ))}
      </svg>
      <figcaption>
        {nodes.map((n, i) => (
          <span style={{ color: COLOURS[i % COLOURS.length] }}>■ {n.node} </span>
        ))}
      </figcaption>
    </figure>
  );
}

export function MemleakResult({ id, done }: { id: string; done: boolean }) {
  const { data, error } = useLoad(() => api<Memleak>('GET', `/jobs/${encodeURIComponent(id)}/memleak`), [id, done], done ? undefined : 3000);
  return (
    <section aria-label="result">
      <h2>Outstanding allocations</h2>
      <ErrorBox error={error} />
      {data && (
        <>
          <p class="muted">
            {data.mode} mode{data.sampled ? `, sampled (×${data.scale})` : ''} · {bytes(data.merged.totalBytes)} outstanding{data.note ? ` · ${data.note}` : ''}
          </p>
          <GrowthChart nodes={data.nodes} />
          <Table head={['Bytes', 'Allocations', 'Growth', 'Oldest', 'Stack']} label="leaking stacks">
            {data.merged.top.map((s) => (
              <tr class={s.growing ? 'growing' : ''}>
                <td>{bytes(s.bytes)}</td>
                <td>{num(s.count)}</td>
                <td>
                  {Number(s.growthBytes) >= 0 ? '+' : ''}
                  {bytes(s.growthBytes)}
                  {s.growing ? ' ↑' : ''}
                </td>
                <td>{(s.oldestAgeMs / 1000).toFixed(1)} s</td>
                <td class="stack">{s.frames.slice(0, 8).join(' ← ')}</td>
              </tr>
            ))}
          </Table>
        </>
      )}
    </section>
  );
}
