import { api } from '../../api';
import { ErrorBox, num, Table, useLoad } from '../../ui';

interface Ev {
  id: string;
  node: string;
  kind: string;
  pid: number;
  ppid: number;
  comm: string;
  ret: number;
  path: string;
  args: string[] | null;
  truncated: boolean;
}

interface ExecOpen {
  counters: Record<string, string>;
  nodes: { node: string; counters: Record<string, string> }[];
  matching: number;
  events: Ev[];
}

/** The exec-open job's results: counters per node and the first 100 events (execs with argv, opens with their path). */
export function ExecOpenResult({ id, done }: { id: string; done: boolean }) {
  const { data, error } = useLoad(() => api<ExecOpen>('GET', `/jobs/${encodeURIComponent(id)}/exec-open?limit=100`), [id, done], done ? undefined : 3000);
  return (
    <section aria-label="result">
      <h2>Execs and opens</h2>
      <ErrorBox error={error} />
      {data && (
        <>
          <p>
            {num(data.counters.execs)} execs · {num(data.counters.opens)} opens · {num(data.matching)} stored
          </p>
          <Table head={['Node', 'Execs', 'Opens', 'Not kept']} label="by node">
            {data.nodes.map((n) => (
              <tr>
                <td>{n.node}</td>
                <td>{num(n.counters.execs)}</td>
                <td>{num(n.counters.opens)}</td>
                <td>{num(Number(n.counters.overBudget) + Number(n.counters.dropped) + Number(n.counters.noStart))}</td>
              </tr>
            ))}
          </Table>
          <Table head={['Node', 'Kind', 'PID', 'PPID', 'COMM', 'Return', 'Path / argv']} label="events">
            {data.events.map((e) => (
              <tr>
                <td>{e.node}</td>
                <td>{e.kind}</td>
                <td>{e.pid}</td>
                <td>{e.ppid}</td>
                <td>{e.comm}</td>
                <td>{e.ret}</td>
                <td>{`${e.kind === 'exec' && e.args?.length ? e.args.join(' ') : e.path}${e.truncated ? ' …' : ''}`}</td>
              </tr>
            ))}
          </Table>
        </>
      )}
    </section>
  );
}
