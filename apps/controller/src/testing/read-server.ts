// A plain HTTP server for the profile read specs: its one route is set per test, so an output is served to
// a real socket (back-pressure, a client that goes away) without the rest of the controller.
import assert from 'node:assert/strict';
import { createServer, get, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Response } from 'express';
import type { ProfileReader } from '../profiles/profile-reader';

export interface Fetched {
  status: number;
  body: Buffer;
  headers: IncomingMessage['headers'];
}

export class ReadServer {
  /** What the route does with the latest request (an error before the head becomes its status and message). */
  served: Promise<void> = Promise.resolve();
  private work: (res: Response) => Promise<void> = async () => undefined;

  private constructor(
    private readonly server: Server,
    readonly base: string,
  ) {}

  static async start(): Promise<ReadServer> {
    let self: ReadServer | undefined;
    const server = createServer((_req, res: ServerResponse) => {
      const s = self!;
      s.served = s.work(res as unknown as Response).catch((err: Error) => {
        if (!res.headersSent) {
          res.statusCode = (err as { getStatus?: () => number }).getStatus?.() ?? 500;
          res.end(err.message);
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    self = new ReadServer(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return self;
  }

  /** Sets what the next requests are served with. */
  route(work: (res: Response) => Promise<void>): void {
    this.work = work;
  }

  /** One GET to the route, read whole. */
  fetch(path = '/'): Promise<Fetched> {
    return new Promise((resolve, reject) => {
      get(`${this.base}${path}`, (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), headers: res.headers }));
        res.on('error', reject);
      }).on('error', reject);
    });
  }

  /** Serves one request with `work` and waits for both ends to finish. */
  async serve(work: (res: Response) => Promise<void>): Promise<Fetched> {
    this.route(work);
    const out = await this.fetch();
    await this.served;
    return out;
  }

  /** `serve`, with the body as text. */
  async serveText(work: (res: Response) => Promise<void>): Promise<{ status: number; text: string }> {
    const out = await this.serve(work);
    return { status: out.status, text: out.body.toString('utf8') };
  }

  close(): void {
    this.server.close();
  }
}

/** Every read slot free and every read-pool connection idle (back in the pool), within 5 s. */
export async function settled(reader: ProfileReader): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (reader.gate.busy === 0 && reader.pool.idleCount === reader.pool.totalCount && reader.pool.waitingCount === 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`read slots busy ${reader.gate.busy}, pool idle ${reader.pool.idleCount} of ${reader.pool.totalCount}`);
}
