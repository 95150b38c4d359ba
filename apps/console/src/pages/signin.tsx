import { useState } from 'preact/hooks';
import { api, type Session } from '../api';
import { ErrorBox } from '../ui';

/** The token is sent once, in the body of POST /session; the browser keeps only the HttpOnly cookie it answers with. */
export function SignIn({ onSignedIn }: { onSignedIn: (s: Session) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    try {
      const s = await api<Session>('POST', '/session', { token: token.trim() });
      setToken('');
      onSignedIn(s);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="signin">
      <h1>Tracefleet</h1>
      <form onSubmit={(e) => void submit(e)}>
        <label for="token">API or capture token</label>
        <input id="token" name="token" type="password" autoComplete="off" required value={token} onInput={(e) => setToken((e.target as HTMLInputElement).value)} />
        <button type="submit" disabled={busy || !token}>
          Sign in
        </button>
        <ErrorBox error={error} />
        <p class="muted">TRACEFLEET_API_TOKEN or TRACEFLEET_CAPTURE_TOKEN from the controller's .env. The session has that token's scopes.</p>
      </form>
    </main>
  );
}
