import { api } from '../../api';
import { ErrorBox, num, Table, useLoad } from '../../ui';

interface Counters {
  kills: string;
  streamed: string;
  overBudget: string;
  dropped: string;
}

interface Kill {
  id: string;
  node: string;
  time: string;
  victimPid: number;
  victimComm: string;
  triggerPid: number;
  triggerComm: string;
  oomScoreAdj: number;
  totalVmKb: string;
  anonRssKb: string;
  fileRssKb: string;
  shmemRssKb: string;
  loadavg: string;
}

interface Oomkill {
  totals: { merged: Counters; nodes: { node: string; reported: boolean; counters: Counters }[] };
  count: number;
  kills: Kill[];
}

/** The oomkill job's results: kills per node and the first 100 kills (victim, trigger, memory). */
export function OomkillResult({ id, done }: { id: string; done: boolean }) {
  const { data, error } = useLoad(() => api<Oomkill>('GET', `/jobs/${encodeURIComponent(id)}/oomkill?limit=100`), [id, done], done ? undefined : 3000);
  return (
    <section aria-label="result">
      <h2>OOM kills</h2>
      <ErrorBox error={error} />
      {data && (
        <>
          <p>
            {num(data.totals.merged.kills)} kills on {data.totals.nodes.length} nodes · {num(data.count)} kept
          </p>
          <Table head={['Node', 'Kills', 'Not kept']} label="by node">
            {data.totals.nodes.map((n) => (
              <tr>
                <td>{n.node}</td>
                <td>{n.reported ? num(n.counters.kills) : '…'}</td>
                <td>{num(Number(n.counters.overBudget) + Number(n.counters.dropped))}</td>
              </tr>
            ))}
          </Table>
          <Table head={['Node', 'Time', 'Victim', 'Triggered by', 'Anon RSS KiB', 'File RSS KiB', 'Shmem KiB', 'Total VM KiB', 'oom_score_adj', 'loadavg']} label="kills">
            {data.kills.map((k) => (
              <tr>
                <td>{k.node}</td>
                <td>{k.time}</td>
                <td>{`${k.victimPid} (${k.victimComm})`}</td>
                <td>{`${k.triggerPid} (${k.triggerComm})`}</td>
                <td>{num(k.anonRssKb)}</td>
                <td>{num(k.fileRssKb)}</td>
                <td>{num(k.shmemRssKb)}</td>
                <td>{num(k.totalVmKb)}</td>
                <td>{k.oomScoreAdj}</td>
                <td class="muted">{k.loadavg}</td>
              </tr>
            ))}
          </Table>
        </>
      )}
    </section>
  );
}
