import { api } from '../../api';
import { ErrorBox, num, Table, useLoad } from '../../ui';

interface Syscount {
  totals: { calls: string; uncounted: string };
  bySyscall: { nr: number; name: string; count: string; byNode: Record<string, string> }[];
  byProcess: { node: string; pid: number; comm: string; count: string }[];
}

export function SyscountResult({ id, done }: { id: string; done: boolean }) {
  const { data, error } = useLoad(() => api<Syscount>('GET', `/jobs/${encodeURIComponent(id)}/syscount`), [id, done], done ? undefined : 3000);
  return (
    <section aria-label="result">
      <h2>System calls</h2>
      <ErrorBox error={error} />
      {data && (
        <>
          <p>
            {num(data.totals.calls)} calls{Number(data.totals.uncounted) ? `, ${num(data.totals.uncounted)} uncounted (a full map)` : ''}
          </p>
          <Table head={['Syscall', 'Calls', 'By node']} label="by syscall">
            {data.bySyscall.slice(0, 50).map((s) => (
              <tr>
                <td>{s.name}</td>
                <td>{num(s.count)}</td>
                <td class="muted">
                  {Object.entries(s.byNode)
                    .map(([n, c]) => `${n}: ${c}`)
                    .join(' · ')}
                </td>
              </tr>
            ))}
          </Table>
          <Table head={['Node', 'pid', 'comm', 'Calls']} label="by process">
            {data.byProcess.slice(0, 50).map((p) => (
              <tr>
                <td>{p.node}</td>
                <td>{p.pid}</td>
                <td>{p.comm}</td>
                <td>{num(p.count)}</td>
              </tr>
            ))}
          </Table>
        </>
      )}
    </section>
  );
}
