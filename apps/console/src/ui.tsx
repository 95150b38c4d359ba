import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api';

export const TERMINAL = ['completed', 'partial', 'failed', 'stopped', 'cancelled'];

export function Status({ s }: { s: string }) {
  return (
    <span class={`status st-${s.replace(/[^a-z-]/g, '')}`} data-status={s}>
      {s}
    </span>
  );
}

export function ErrorBox({ error }: { error: unknown }) {
  if (!error) return null;
  const text = error instanceof ApiError ? `${error.status}: ${error.messages.join('; ')}` : String((error as Error).message ?? error);
  return (
    <p class="error" role="alert">
      {text}
    </p>
  );
}

export const ago = (iso: string | null | undefined): string => {
  if (!iso) return '–';
  const s = Math.round((Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return new Date(iso).toLocaleString();
};

export const num = (n: number | string | null | undefined): string => (n === null || n === undefined ? '–' : Number(n).toLocaleString());

export const bytes = (n: number | string): string => {
  let v = Number(n);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
};

/** Loads once per `deps` change and again every `pollMs` (when given) until `stop` says so. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[], pollMs?: number, stop?: (v: T) => boolean): { data?: T; error?: unknown; reload: () => void } {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<unknown>();
  const gen = useRef(0);
  const run = useCallback(() => {
    const g = ++gen.current;
    load().then(
      (v) => {
        if (g === gen.current) {
          setData(v);
          setError(undefined);
        }
      },
      (e) => g === gen.current && setError(e),
    );
  }, deps);
  useEffect(() => {
    setData(undefined);
    run();
  }, [run]);
  useEffect(() => {
    if (!pollMs || (data !== undefined && stop?.(data))) return;
    const t = setInterval(run, pollMs);
    return () => clearInterval(t);
  }, [run, pollMs, data === undefined || !stop?.(data)]);
  return { data, error, reload: run };
}

export function Table({ head, children, label }: { head: string[]; children: ComponentChildren; label?: string }) {
  return (
    <div class="table-wrap">
      <table aria-label={label}>
        <thead>
          <tr>
            {head.map((h) => (
              <th scope="col">{h}</th>
            ))}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}

export function Labels({ labels }: { labels: Record<string, string> }) {
  return (
    <span class="labels">
      {Object.entries(labels).map(([k, v]) => (
        <code class="label">
          {k}={v}
        </code>
      ))}
    </span>
  );
}
