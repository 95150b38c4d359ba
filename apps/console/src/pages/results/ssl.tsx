import { useEffect, useState } from 'preact/hooks';
import { api, API } from '../../api';
import { ErrorBox, num, Table, useLoad } from '../../ui';
import { ns } from './usdt';

interface SslEvent {
  id: string;
  node: string;
  pid: number;
  comm: string;
  function: string;
  direction: string;
  length: number;
  at: string;
  text: string;
  redactions: number;
  truncated: boolean;
}
interface Exchange {
  protocol: string;
  method: string | null;
  path: string | null;
  status: number | null;
  latencyNs: string | null;
  complete: boolean;
}
interface Connection {
  node: string;
  pid: number;
  comm: string;
  library: string;
  protocol: string;
  role: string | null;
  events: number;
  exchanges?: Exchange[];
  notes: string[];
}

const KEEP = 200;

/** The live event stream (GET /jobs/:id/ssl-events/stream) and the HTTP exchanges: only ever mounted with the capture scope. */
export function SslResult({ id, done }: { id: string; done: boolean }) {
  const [events, setEvents] = useState<SslEvent[]>([]);
  useEffect(() => {
    const es = new EventSource(`${API}/jobs/${encodeURIComponent(id)}/ssl-events/stream`);
    es.addEventListener('ssl', (e) => {
      const ev = JSON.parse((e as MessageEvent).data) as SslEvent;
      setEvents((list) => [ev, ...list].slice(0, KEEP));
    });
    es.addEventListener('status', () => es.close());
    return () => es.close();
  }, [id]);
  const http = useLoad(() => api<{ connections: Connection[] }>('GET', `/jobs/${encodeURIComponent(id)}/http?limit=50`), [id, done], done ? undefined : 5000);
  return (
    <section aria-label="result">
      <h2>HTTP exchanges</h2>
      <ErrorBox error={http.error} />
      {http.data && (
        <div class="scroll">
        <Table head={['Node', 'Process', 'Library', 'Protocol', 'Exchanges']} label="connections">
          {http.data.connections.map((c) => (
            <tr>
              <td>{c.node}</td>
              <td>
                {c.comm} ({c.pid})
              </td>
              <td>{c.library}</td>
              <td>
                {c.protocol}
                {c.role ? ` ${c.role}` : ''}
              </td>
              <td>
                {(c.exchanges ?? []).slice(0, 10).map((x) => (
                  <div>
                    <code>
                      {x.method ?? '?'} {x.path ?? ''} → {x.status ?? '…'}
                    </code>{' '}
                    {x.latencyNs ? ns(x.latencyNs) : ''}
                  </div>
                ))}
                {c.notes.map((n) => (
                  <div class="muted">{n}</div>
                ))}
              </td>
            </tr>
          ))}
        </Table>
        </div>
      )}
      <h2>Live events</h2>
      <p class="muted">Newest first, the last {KEEP}; plaintext as redacted on the agent.</p>
      <div class="scroll">
      <Table head={['At', 'Node', 'Process', 'Call', 'Bytes', 'Text']} label="ssl events">
        {events.map((e) => (
          <tr>
            <td>{new Date(e.at).toLocaleTimeString()}</td>
            <td>{e.node}</td>
            <td>
              {e.comm} ({e.pid})
            </td>
            <td>
              {e.function} {e.direction}
            </td>
            <td>
              {num(e.length)}
              {e.truncated ? ' (cut)' : ''}
              {e.redactions ? ` · ${e.redactions} redacted` : ''}
            </td>
            <td>
              <pre class="payload">{e.text.slice(0, 400)}</pre>
            </td>
          </tr>
        ))}
      </Table>
      </div>
    </section>
  );
}
