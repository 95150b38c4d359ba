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
  series?: string[];
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
const H = 200;
const COLOURS = ['#c0392b', '#2471a3', '#229954', '#b7950b', '#7d3c98', '#ca6f1e'];

export interface Line {
  label: string;
  points: { t: number; v: number }[];
}

/** Lines over time on one bytes axis (SVG: one kind of chart does not need a chart library). */
export function LineChart({ lines, label, testid }: { lines: Line[]; label: string; testid: string }) {
  const points = lines.flatMap((l) => l.points);
  if (points.length === 0) return <p class="muted">No snapshots yet.</p>;
  const t0 = Math.min(...points.map((p) => p.t));
  const t1 = Math.max(t0 + 1, ...points.map((p) => p.t));
  const vMax = Math.max(1, ...points.map((p) => p.v));
  const x = (t: number): number => 48 + ((t - t0) / (t1 - t0)) * (W - 58);
  const y = (v: number): number => H - 20 - (v / vMax) * (H - 30);
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={label} data-testid={testid} data-lines={lines.length}>
        <line x1={48} y1={H - 20} x2={W - 10} y2={H - 20} stroke="#888" />
        <line x1={48} y1={10} x2={48} y2={H - 20} stroke="#888" />
        <text x={2} y={14} font-size="10">
          {bytes(vMax)}
        </text>
        <text x={48} y={H - 4} font-size="10">
          0 s
        </text>
        <text x={W - 60} y={H - 4} font-size="10">
          {((t1 - t0) / 1000).toFixed(0)} s
        </text>
        {lines.map((l, i) => (
          <polyline fill="none" stroke={COLOURS[i % COLOURS.length]} stroke-width="2" points={l.points.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(' ')} />
        ))}
      </svg>
      <figcaption>
        {lines.map((l, i) => (
          <div style={{ color: COLOURS[i % COLOURS.length] }}>■ {l.label}</div>
        ))}
      </figcaption>
    </figure>
  );
}

/** The frame a stack is best named by: its deepest frame that is not an allocator's own. */
const leafOf = (frames: string[]): string => [...frames].reverse().find((f) => !/^(malloc|calloc|realloc|__libc_|_int_malloc|operator new)/.test(f)) ?? frames[frames.length - 1] ?? '?';

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
          <h3>Outstanding bytes per node</h3>
          <LineChart
            label="outstanding bytes per node over time"
            testid="memleak-chart"
            lines={data.nodes.map((n) => ({ label: n.node, points: n.snapshots.map((s) => ({ t: Date.parse(s.takenAt), v: Number(s.totalBytes) })) }))}
          />
          {data.nodes.map((n) => (
            <>
              <h3>Growth of the top stacks on {n.node}</h3>
              <LineChart
                label={`outstanding bytes of the top stacks on ${n.node} over time`}
                testid="memleak-stack-chart"
                lines={n.top.slice(0, 6).map((s) => ({ label: `${leafOf(s.frames)} (${bytes(s.bytes)}${s.growing ? ', growing' : ''})`, points: (s.series ?? []).map((v, i) => ({ t: Date.parse(n.snapshots[i]?.takenAt ?? ''), v: Number(v) })).filter((p) => !Number.isNaN(p.t)) }))}
              />
            </>
          ))}
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
                <td class="stack">{[...s.frames].reverse().slice(0, 8).join(' ← ')}</td>
              </tr>
            ))}
          </Table>
        </>
      )}
    </section>
  );
}
