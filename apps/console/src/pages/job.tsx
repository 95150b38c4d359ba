import { useEffect, useState } from 'preact/hooks';
import { api, API, hasScope, type Session } from '../api';
import { href } from '../router';
import { ago, ErrorBox, num, Status, Table, TERMINAL, useLoad } from '../ui';
import { ProfileResult } from './results/profile';
import { UsdtResult } from './results/usdt';
import { MemleakResult } from './results/memleak';
import { SslResult } from './results/ssl';
import { SyscountResult } from './results/syscount';
import { RunqlatResult } from './results/runqlat';
import { BiolatencyResult } from './results/biolatency';
import { TcpResult } from './results/tcp';
import { OomkillResult } from './results/oomkill';
import { ExecOpenResult } from './results/exec-open';

interface NodeProgress {
  node: string;
  status: string;
  reason: string | null;
  samplesTaken: number;
  samplesStored: number;
  dropped: number;
  batchesReceived: number;
  /** ssl-capture: its own counters (eventsSeen, eventsStored, ...). */
  ssl?: Record<string, number>;
}
export interface Progress {
  id: string;
  type: string;
  status: string;
  reason: string | null;
  stoppedBy: string | null;
  elapsedSec: number | null;
  remainingSec: number | null;
  totals: { samplesTaken: number; samplesStored: number; samplesDroppedKernel: number; samplesDroppedAgent: number; samplesLostTransit: number };
  nodes: NodeProgress[];
}
interface JobView {
  id: string;
  type: string;
  status: string;
  reason: string | null;
  stoppedBy: string | null;
  createdAt: string;
  incidentId: string | null;
  scheduleId: string | null;
  params: Record<string, unknown>;
  runs: { node: string }[];
  links: Record<string, string | undefined>;
}

/** Live progress from GET /jobs/:id/progress (Server-Sent Events; the session cookie goes with it). */
function useProgress(id: string): { progress?: Progress; final?: string; error?: string } {
  const [state, setState] = useState<{ progress?: Progress; final?: string; error?: string }>({});
  useEffect(() => {
    setState({});
    const es = new EventSource(`${API}/jobs/${encodeURIComponent(id)}/progress`);
    es.addEventListener('progress', (e) => setState((s) => ({ ...s, progress: JSON.parse((e as MessageEvent).data) as Progress, error: undefined })));
    es.addEventListener('status', (e) => {
      setState((s) => ({ ...s, final: (JSON.parse((e as MessageEvent).data) as { status: string }).status }));
      es.close();
    });
    es.onerror = () => setState((s) => (s.final ? s : { ...s, error: 'progress stream interrupted; retrying' }));
    return () => es.close();
  }, [id]);
  return state;
}

export function JobPage({ id, session, query }: { id: string; session: Session; query: URLSearchParams }) {
  const live = useProgress(id);
  const status = live.final ?? live.progress?.status;
  const done = !!status && TERMINAL.includes(status);
  // The job itself (params, links) once, and again when it ends.
  const { data: job, error } = useLoad(() => api<JobView>('GET', `/jobs/${encodeURIComponent(id)}`), [id, done]);
  const [stopError, setStopError] = useState<unknown>();
  const [stopping, setStopping] = useState(false);
  if (error) return <ErrorBox error={error} />;
  if (!job) return <p class="muted">Loading job {id}…</p>;
  const p = live.progress;
  const stop = async (): Promise<void> => {
    setStopping(true);
    try {
      await api('POST', `/jobs/${encodeURIComponent(id)}/stop`);
    } catch (e) {
      setStopError(e);
    } finally {
      setStopping(false);
    }
  };
  const shownStatus = status ?? job.status;
  return (
    <>
      <h1>
        {job.type} <code>{job.id.slice(0, 8)}</code> <Status s={shownStatus} />
      </h1>
      <p class="muted">
        created {ago(job.createdAt)}
        {job.incidentId && (
          <>
            {' '}
            · incident <a href={href(`incidents/${job.incidentId}`)}>{job.incidentId.slice(0, 8)}</a>
          </>
        )}
        {job.scheduleId && (
          <>
            {' '}
            · schedule <a href={href(`schedules/${job.scheduleId}`)}>{job.scheduleId.slice(0, 8)}</a>
          </>
        )}
        {(p?.reason ?? job.reason) && <> · {p?.reason ?? job.reason}</>}
        {(p?.stoppedBy ?? job.stoppedBy) && <> · stopped by the {p?.stoppedBy ?? job.stoppedBy} token</>}
      </p>
      <section class="progress" aria-label="progress" data-testid="progress" data-status={shownStatus}>
        <div class="row">
          <span>
            elapsed <b>{p?.elapsedSec ?? '–'} s</b>
          </span>
          <span>
            remaining <b>{p?.remainingSec ?? '–'} s</b>
          </span>
          <span>
            stored <b data-testid="samples-stored">{num(p?.totals.samplesStored)}</b> of {num(p?.totals.samplesTaken)} taken
          </span>
          <span>
            dropped <b>{num(p ? p.totals.samplesDroppedKernel + p.totals.samplesDroppedAgent + p.totals.samplesLostTransit : undefined)}</b>
          </span>
          {!done && (
            <button type="button" class="danger" data-testid="stop-job" disabled={stopping} onClick={() => void stop()}>
              Stop
            </button>
          )}
        </div>
        {live.error && !done && <p class="muted">{live.error}</p>}
        <ErrorBox error={stopError} />
        {p && (
          <Table head={['Node', 'State', 'Taken', 'Stored', 'Dropped', 'Batches', 'Reason']} label="nodes">
            {p.nodes.map((n) => (
              <tr data-node={n.node}>
                <td>{n.node}</td>
                <td>
                  <Status s={n.status} />
                </td>
                <td>{num(n.samplesTaken)}</td>
                <td>{num(n.ssl?.eventsStored ?? n.samplesStored)}</td>
                <td>{num(n.dropped)}</td>
                <td>{num(n.batchesReceived)}</td>
                <td class="muted">{n.reason ?? ''}</td>
              </tr>
            ))}
          </Table>
        )}
      </section>
      <Result job={job} session={session} done={done} query={query} />
    </>
  );
}

function Result({ job, session, done, query }: { job: JobView; session: Session; done: boolean; query: URLSearchParams }) {
  const nodes = job.runs.map((r) => r.node);
  switch (job.type) {
    case 'usdt':
      return <UsdtResult id={job.id} done={done} />;
    case 'memleak':
      return <MemleakResult id={job.id} done={done} />;
    case 'syscount':
      return <SyscountResult id={job.id} done={done} />;
    case 'runqlat':
      return <RunqlatResult id={job.id} done={done} />;
    case 'biolatency':
      return <BiolatencyResult id={job.id} done={done} />;
    case 'tcp':
      return <TcpResult id={job.id} done={done} />;
    case 'oomkill':
      return <OomkillResult id={job.id} done={done} />;
    case 'exec-open':
      return <ExecOpenResult id={job.id} done={done} />;
    case 'ssl-capture':
      // Rendered only with the capture scope: the API answers 403 to the rest anyway.
      return hasScope(session, 'ssl-capture') ? <SslResult id={job.id} done={done} /> : <p class="muted">This job's results need the ssl-capture scope.</p>;
    default:
      return <ProfileResult id={job.id} nodes={nodes} done={done} node={query.get('node') ?? ''} links={job.links} />;
  }
}
