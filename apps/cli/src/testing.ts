/** Fakes for specs: an Io that records, and a fetch that answers from a table of routes. */
import type { Fetch } from './api';
import type { Io } from './output';

export interface RecordingIo extends Io {
  stdout: string;
  stderr: string;
}

export function recordingIo(opts: { errTty?: boolean; interactive?: boolean } = {}): RecordingIo {
  const io: RecordingIo = {
    stdout: '',
    stderr: '',
    out: (t) => void (io.stdout += t),
    err: (t) => void (io.stderr += t),
    errTty: opts.errTty ?? false,
    interactive: opts.interactive ?? false,
  };
  return io;
}

export interface Call {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body: unknown;
}

type Answer = { status?: number; json?: unknown; text?: string; contentType?: string };

/** `routes`: "METHOD /path" (no query) → an answer or a function of the call. Anything else is a 404. */
export function fakeFetch(routes: Record<string, Answer | ((c: Call) => Answer)>, calls: Call[] = []): Fetch {
  return (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(String(input));
    const method = init?.method ?? 'GET';
    const call: Call = { method, url, headers: (init?.headers ?? {}) as Record<string, string>, body: init?.body ? JSON.parse(String(init.body)) : undefined };
    calls.push(call);
    const route = routes[`${method} ${url.pathname}`];
    const a = typeof route === 'function' ? route(call) : route ?? { status: 404, json: { statusCode: 404, message: `no route ${method} ${url.pathname}` } };
    const text = a.text ?? JSON.stringify(a.json);
    return new Response(text, { status: a.status ?? 200, headers: { 'content-type': a.contentType ?? (a.text !== undefined ? 'text/plain' : 'application/json') } });
  }) as Fetch;
}

/** A text/event-stream body. */
export function sse(events: { event: string; data: unknown; id?: string }[]): string {
  return `retry: 900\n\n${events.map((e) => `${e.id ? `id: ${e.id}\n` : ''}event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`).join('')}`;
}
