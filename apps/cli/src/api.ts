/**
 * A small fetch client for /api/v1: the base URL, the bearer token, and errors that carry what the API
 * said (`400 durationSec must not be greater than 86400`) or why it could not be reached.
 */
import { CliError, EXIT } from './output';

export type Fetch = typeof fetch;

/** The API answered with an error status; `message` is its own message. */
export class ApiError extends CliError {
  constructor(
    readonly status: number,
    readonly apiMessage: string,
    readonly body: unknown,
  ) {
    super(`${status} ${apiMessage}`, EXIT.failed);
  }
}

export type Query = Record<string, string | number | boolean | undefined | null>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  /** Extra headers (Accept, Last-Event-ID). */
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** One Server-Sent Event. */
export interface SseEvent {
  event: string;
  data: string;
  id?: string;
}

/** The message of an error body: Nest's `message` (a string or the ValidationPipe's list), else the text. */
export function errorMessage(status: number, text: string): { message: string; body: unknown } {
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: the text is the message
  }
  if (body && typeof body === 'object') {
    const m = (body as { message?: unknown }).message;
    if (Array.isArray(m)) return { message: m.map(String).join('; '), body };
    if (typeof m === 'string' && m) return { message: m, body };
    const e = (body as { error?: unknown }).error;
    if (typeof e === 'string' && e) return { message: e, body };
  }
  const short = text.trim().slice(0, 300);
  return { message: short || statusText(status), body };
}

function statusText(status: number): string {
  return ({ 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 409: 'Conflict', 422: 'Unprocessable Entity', 429: 'Too Many Requests' } as Record<number, string>)[status] ?? 'error';
}

/** Why fetch failed, from its cause chain: ECONNREFUSED, ENOTFOUND, a certificate error. */
export function networkCause(err: unknown): string {
  let e: unknown = err;
  for (let i = 0; i < 4 && e; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code) return code;
    const next = (e as { cause?: unknown }).cause;
    if (!next) break;
    e = next;
  }
  return (e as Error)?.message || String(err);
}

export class ApiClient {
  constructor(
    /** The controller, e.g. http://127.0.0.1:8080 (normalizeUrl). */
    readonly base: string,
    private readonly token: string | undefined,
    private readonly fetchFn: Fetch = fetch,
  ) {}

  url(path: string, query?: Query): string {
    const u = new URL(`${this.base}/api/v1${path}`);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== null && v !== '') u.searchParams.set(k, String(v));
    return u.toString();
  }

  /** The raw response of a request that succeeded (2xx); an ApiError or a "cannot reach" CliError otherwise. */
  async send(method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
    const url = this.url(path, opts.query);
    const headers: Record<string, string> = { ...opts.headers };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await this.fetchFn(url, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body), signal: opts.signal });
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      throw new CliError(`cannot reach ${url}: ${networkCause(err)}`);
    }
    if (!res.ok) {
      const text = await res.text().catch(() => '');
      const { message, body } = errorMessage(res.status, text);
      throw new ApiError(res.status, message, body);
    }
    return res;
  }

  async json<T = any>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.send(method, path, { ...opts, headers: { accept: 'application/json', ...opts.headers } });
    const text = await res.text();
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new CliError(`${method} ${path}: the answer is not JSON: ${text.slice(0, 200)}`);
    }
  }

  get<T = any>(path: string, query?: Query): Promise<T> {
    return this.json<T>('GET', path, { query });
  }

  post<T = any>(path: string, body?: unknown): Promise<T> {
    return this.json<T>('POST', path, { body });
  }

  /** The body as bytes (flame graphs, pprof). */
  async bytes(path: string, query?: Query): Promise<Buffer> {
    const res = await this.send('GET', path, { query });
    return Buffer.from(await res.arrayBuffer());
  }

  /** Server-Sent Events of a GET, as they arrive; ends when the server ends the stream. */
  async *events(path: string, opts: RequestOptions = {}): AsyncGenerator<SseEvent> {
    const res = await this.send('GET', path, { ...opts, headers: { accept: 'text/event-stream', ...opts.headers } });
    if (!res.body) return;
    yield* parseSse(res.body as AsyncIterable<Uint8Array>);
  }
}

/** Splits a text/event-stream into events (comments and `retry:` lines are skipped). */
export async function* parseSse(chunks: AsyncIterable<Uint8Array | string>): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  let buf = '';
  let event = '';
  let data: string[] = [];
  let id: string | undefined;
  const flush = (): SseEvent | undefined => {
    const out = data.length ? { event: event || 'message', data: data.join('\n'), ...(id !== undefined ? { id } : {}) } : undefined;
    event = '';
    data = [];
    id = undefined;
    return out;
  };
  for await (const chunk of chunks) {
    buf += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + (buf.startsWith('\r\n', nl) ? 2 : 1));
      if (line === '') {
        const ev = flush();
        if (ev) yield ev;
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
      else if (field === 'id') id = value;
    }
  }
  const last = flush();
  if (last) yield last;
}
