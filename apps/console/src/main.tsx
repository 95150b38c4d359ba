import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, hasScope, useSession, type Session } from './api';
import { href, useRoute } from './router';
import { SignIn } from './pages/signin';
import { Fleet } from './pages/fleet';
import { Jobs } from './pages/jobs';
import { JobPage } from './pages/job';
import { NewJob } from './pages/new-job';
import { Compare } from './pages/compare';
import { Incidents, IncidentPage } from './pages/incidents';
import { Schedules, SchedulePage } from './pages/schedules';

function App() {
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const route = useRoute();
  useEffect(() => {
    api<Session>('GET', '/session').then(
      (s) => setSession(s),
      () => setSession(null),
    );
  }, []);
  useSession(session ?? undefined, () => setSession(null));
  if (session === undefined) return <p class="muted pad">Loading…</p>;
  if (session === null) return <SignIn onSignedIn={setSession} />;

  const signOut = async (): Promise<void> => {
    try {
      await api('DELETE', '/session');
    } finally {
      setSession(null);
      location.hash = '';
    }
  };
  const [page, ...rest] = route.path;
  const nav = [
    ['fleet', 'Fleet'],
    ['new', 'New job'],
    ['jobs', 'Jobs'],
    ['compare', 'Compare'],
    ['incidents', 'Incidents'],
    ['schedules', 'Schedules'],
  ];
  let body;
  switch (page ?? 'jobs') {
    case 'fleet':
      body = <Fleet query={route.query} />;
      break;
    case 'new':
      body = <NewJob session={session} query={route.query} />;
      break;
    case 'jobs':
      body = rest[0] ? <JobPage id={rest[0]} session={session} query={route.query} /> : <Jobs query={route.query} />;
      break;
    case 'compare':
      body = <Compare query={route.query} />;
      break;
    case 'incidents':
      body = rest[0] ? <IncidentPage id={rest[0]} /> : <Incidents />;
      break;
    case 'schedules':
      body = rest[0] ? <SchedulePage id={rest[0]} query={route.query} /> : <Schedules />;
      break;
    default:
      body = <p class="error">No such page: {page}</p>;
  }
  return (
    <>
      <header>
        <a class="brand" href={href('jobs')}>
          Tracefleet
        </a>
        <nav aria-label="main">
          {nav.map(([p, label]) => (
            <a href={href(p)} aria-current={(page ?? 'jobs') === p ? 'page' : undefined}>
              {label}
            </a>
          ))}
        </nav>
        <span class="who" data-testid="who">
          {session.token} token{hasScope(session, 'ssl-capture') ? ' · capture' : ''}
        </span>
        <button type="button" data-testid="sign-out" onClick={() => void signOut()}>
          Sign out
        </button>
      </header>
      <main>{body}</main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
