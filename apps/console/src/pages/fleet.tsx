import { useState } from 'preact/hooks';
import { api } from '../api';
import { go } from '../router';
import { ago, ErrorBox, Labels, Status, Table, useLoad } from '../ui';

export interface NodeView {
  name: string;
  labels: Record<string, string>;
  kernelRelease: string;
  btf: boolean;
  cpus: number;
  capabilities: string[];
  agentVersion: string;
  status: string;
  statusReason: string | null;
  lastSeenAt: string;
}

export const nodesPath = (selector: string, status?: string): string => {
  const q = new URLSearchParams();
  if (selector.trim()) q.set('labelSelector', selector.trim());
  if (status) q.set('status', status);
  const qs = q.toString();
  return `/nodes${qs ? `?${qs}` : ''}`;
};

/** The fleet, refreshed every 5 s; the filter is GET /nodes?labelSelector=, the syntax job selectors take. */
export function Fleet({ query }: { query: URLSearchParams }) {
  const selector = query.get('selector') ?? '';
  const [draft, setDraft] = useState(selector);
  const { data, error } = useLoad(() => api<NodeView[]>('GET', nodesPath(selector)), [selector], 5000);
  return (
    <>
      <h1>Fleet</h1>
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault();
          go('fleet', { selector: draft });
        }}
      >
        <label>
          Label selector{' '}
          <input data-testid="fleet-selector" placeholder="env=prod,zone in (a,b),!canary" value={draft} onInput={(e) => setDraft((e.target as HTMLInputElement).value)} />
        </label>
        <button type="submit">Filter</button>
      </form>
      <ErrorBox error={error} />
      {data && (
        <>
          <p class="muted" data-testid="fleet-count">
            {data.length} node{data.length === 1 ? '' : 's'}
          </p>
          <Table head={['Node', 'Status', 'Labels', 'Kernel', 'CPUs', 'Job types', 'Agent', 'Last seen']} label="nodes">
            {data.map((n) => (
              <tr data-node={n.name}>
                <td>{n.name}</td>
                <td>
                  <Status s={n.status} />
                  {n.statusReason && <div class="muted">{n.statusReason}</div>}
                </td>
                <td>
                  <Labels labels={n.labels} />
                </td>
                <td>
                  {n.kernelRelease}
                  {n.btf ? '' : ' (no BTF)'}
                </td>
                <td>{n.cpus}</td>
                <td>{n.capabilities.join(', ')}</td>
                <td>{n.agentVersion}</td>
                <td title={n.lastSeenAt}>{ago(n.lastSeenAt)}</td>
              </tr>
            ))}
          </Table>
        </>
      )}
    </>
  );
}
