import { EventEmitter } from 'node:events';
import type { Response } from 'express';

/**
 * The parts of an express Response an event stream uses, for specs: what was written, the status and
 * headers set; emit('close') is what a client disconnect does, and each write emits 'wrote'.
 */
export class FakeRes extends EventEmitter {
  chunks: string[] = [];
  statusCode = 0;
  headers: Record<string, string> = {};
  writableEnded = false;
  headersSent = false;
  status(n: number): this {
    this.statusCode = n;
    return this;
  }
  set(h: Record<string, string>): this {
    Object.assign(this.headers, h);
    return this;
  }
  flushHeaders(): void {
    this.headersSent = true;
  }
  write(c: string): boolean {
    this.chunks.push(c);
    this.emit('wrote');
    return true;
  }
  end(): void {
    this.writableEnded = true;
  }
  /** Resolves at the next write. */
  wrote(): Promise<unknown> {
    return new Promise((r) => this.once('wrote', r));
  }
  get res(): Response {
    return this as unknown as Response;
  }
}
