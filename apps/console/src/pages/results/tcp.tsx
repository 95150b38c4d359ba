import { api } from '../../api';
import { ErrorBox, num, Table, useLoad } from '../../ui';

interface Hist {
  count: string;
  meanUs: number;
  p50Us: number;
  p99Us: number;
  slots: { lowUs: number; highUs: number | null; count: string }[];
}

interface Conn {
  id: string;
  node: string;
  pid: number;
  comm: string;
  saddr: string;
  sport: number;
  daddr: string;
  dport: number;
  lifetimeMs: number;
  connectUs: number | null;
  rxBytes: string;
  txBytes: string;
}

interface Tcp {
  connectLatency: { merged: Hist; nodes: { node: string; counters: Record<string, string>; histogram: Hist }[] };
  lifetimes: { count: number; meanMs: number; maxMs: number };
  connections: Conn[];
}

const summary = (h: Hist): string => `${num(h.count)} connects · mean ${h.meanUs} µs · p50 ~${h.p50Us} µs · p99 ~${h.p99Us} µs`;

/** The tcp job's results: connect latency (log2 µs), per node, and the first 100 connections in tcplife's columns. */
export function TcpResult({ id, done }: { id: string; done: boolean }) {
  const { data, error } = useLoad(() => api<Tcp>('GET', `/jobs/${encodeURIComponent(id)}/tcp?limit=100`), [id, done], done ? undefined : 3000);
  const max = data ? Math.max(1, ...data.connectLatency.merged.slots.map((s) => Number(s.count))) : 1;
  return (
    <section aria-label="result">
      <h2>TCP connections</h2>
      <ErrorBox error={error} />
      {data && (
        <>
          <p>
            {summary(data.connectLatency.merged)} · {num(data.lifetimes.count)} connections, mean lifetime {data.lifetimes.meanMs} ms, longest {data.lifetimes.maxMs} ms
          </p>
          <Table head={['µs', 'Connects', '']} label="connect latency">
            {data.connectLatency.merged.slots.map((s) => (
              <tr>
                <td>{`${s.lowUs} – ${s.highUs === null ? '∞' : s.highUs - 1}`}</td>
                <td>{num(s.count)}</td>
                <td class="muted">{'*'.repeat(Math.round((40 * Number(s.count)) / max))}</td>
              </tr>
            ))}
          </Table>
          <Table head={['Node', 'Connect latency', 'Closed', 'Not kept']} label="by node">
            {data.connectLatency.nodes.map((n) => (
              <tr>
                <td>{n.node}</td>
                <td>{summary(n.histogram)}</td>
                <td>{num(n.counters.closed)}</td>
                <td>{num(Number(n.counters.overBudget) + Number(n.counters.dropped) + Number(n.counters.noStart))}</td>
              </tr>
            ))}
          </Table>
          <Table head={['Node', 'PID', 'COMM', 'Local', 'Remote', 'TX B', 'RX B', 'ms', 'Connect µs']} label="connections">
            {data.connections.map((c) => (
              <tr>
                <td>{c.node}</td>
                <td>{c.pid}</td>
                <td>{c.comm}</td>
                <td>{`${c.saddr}:${c.sport}`}</td>
                <td>{`${c.daddr}:${c.dport}`}</td>
                <td>{num(c.txBytes)}</td>
                <td>{num(c.rxBytes)}</td>
                <td>{c.lifetimeMs}</td>
                <td>{c.connectUs ?? '–'}</td>
              </tr>
            ))}
          </Table>
        </>
      )}
    </section>
  );
}
