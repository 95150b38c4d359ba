import { createHash, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** The metrics port could not listen: main.ts prints the message alone. */
export class MetricsPortError extends Error {}

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export interface MetricsServerOptions {
  host: string;
  port: number;
  /** When set, GET /metrics needs `Authorization: Bearer <token>`. */
  token?: string;
  scrape(): Promise<string>;
  /** Undefined when ready; else why not (the controller link is down). */
  notReady(): string | undefined;
}

/** Hostile clients get little: small headers, short timeouts, no body read, few sockets. */
const MAX_HEADER_BYTES = 8 * 1024;
const TIMEOUT_MS = 5_000;
const MAX_CONNECTIONS = 32;

const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Constant-time comparison of a request's Authorization header with the bearer token (hashes: equal lengths). */
export function bearerMatches(header: string | undefined, token: string): boolean {
  return timingSafeEqual(sha256(header ?? ''), sha256(`Bearer ${token}`));
}

/**
 * The agent's metrics and health port (node:http, no framework): GET /metrics (Prometheus text), GET
 * /health/live, GET /health/ready (503 with the reason while the controller link is down); HEAD too.
 */
export class MetricsServer {
  private server: Server | undefined;

  constructor(private readonly opts: MetricsServerOptions) {}

  /** Listens; rejects (EADDRINUSE, EACCES...) with the address in the message. */
  async start(): Promise<AddressInfo> {
    const server = createServer({ maxHeaderSize: MAX_HEADER_BYTES, requestTimeout: TIMEOUT_MS, headersTimeout: TIMEOUT_MS, keepAliveTimeout: TIMEOUT_MS }, (req, res) =>
      this.handle(req, res),
    );
    server.maxConnections = MAX_CONNECTIONS;
    server.maxRequestsPerSocket = 100;
    server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
      // Malformed or oversized requests: one short answer when the socket still takes it, then closed.
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
      if (socket.writable && err.code !== 'ECONNRESET') socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      socket.destroy();
    });
    const { host, port } = this.opts;
    server.listen(port, host);
    try {
      await Promise.race([once(server, 'listening'), once(server, 'error').then(([err]) => Promise.reject(err))]);
    } catch (err) {
      server.close();
      throw new MetricsPortError(`metrics port ${host.includes(':') ? `[${host}]` : host}:${port} (TRACEFLEET_AGENT_METRICS_ADDR): ${(err as Error).message}`);
    }
    this.server = server;
    return server.address() as AddressInfo;
  }

  /** Stops listening and ends open connections; idempotent. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    const closed = once(server, 'close');
    server.close();
    server.closeAllConnections();
    await closed;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    let answered = false;
    const answer = (status: number, body: string, headers: Record<string, string> = {}): void => {
      if (answered || res.headersSent) return;
      answered = true;
      res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store', ...headers });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      // No body is read: close the connection instead of draining whatever was sent.
      answer(405, 'method not allowed\n', { Allow: 'GET, HEAD', Connection: 'close' });
      return;
    }
    const path = (req.url ?? '').split('?', 1)[0];
    const authorized = !this.opts.token || bearerMatches(req.headers.authorization, this.opts.token);
    switch (path) {
      case '/health/live':
        answer(200, 'ok\n');
        return;
      case '/health/ready': {
        const why = this.opts.notReady();
        // The reason names controller addresses: only for who may read the metrics.
        if (why === undefined) answer(200, 'ready\n');
        else answer(503, authorized ? `not ready: ${why}\n` : 'not ready\n');
        return;
      }
      case '/metrics':
        if (!authorized) {
          answer(401, 'a bearer token is required (TRACEFLEET_AGENT_METRICS_TOKEN)\n', { 'WWW-Authenticate': 'Bearer realm="tracefleet-agent"' });
          return;
        }
        this.opts.scrape().then(
          (text) => answer(200, text, { 'Content-Type': PROMETHEUS_CONTENT_TYPE }),
          (err) => answer(500, `scrape failed: ${err instanceof Error ? err.message : String(err)}\n`),
        );
        return;
      default:
        answer(404, 'not found\n');
    }
  }
}
