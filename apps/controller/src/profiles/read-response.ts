/**
 * How a heavy profile read meets its HTTP response: a slot of the read gate for its whole length, an
 * abort signal fired when the client goes away before the end (the reader then closes its cursor and
 * frees its connection), and writes that wait for the socket to drain.
 */
import { Logger } from '@nestjs/common';
import type { Response } from 'express';
import { ReadAborted } from './profile-reader';
import { READ_RETRY_AFTER_SEC, ReadsBusyError, type ReadGate } from './read-gate';

const log = new Logger('ProfileReads');

/** Writes `chunk`, resolving once the socket takes more (or rejecting with ReadAborted if the client left). */
export function writer(res: Response, signal: AbortSignal): (chunk: string | Uint8Array) => Promise<void> {
  return async (chunk) => {
    if (signal.aborted) throw new ReadAborted();
    if (res.write(chunk)) return;
    await new Promise<void>((resolve, reject) => {
      const done = (): void => {
        res.off('drain', done);
        signal.removeEventListener('abort', gone);
        resolve();
      };
      const gone = (): void => {
        res.off('drain', done);
        reject(new ReadAborted());
      };
      res.on('drain', done);
      signal.addEventListener('abort', gone, { once: true });
    });
  };
}

/**
 * Runs one read for `res`: waits for a read slot (503 + Retry-After when the line is full), runs `work`
 * with a signal that fires when the client goes away first, frees the slot at the end. An error before
 * anything was sent goes to Nest's error handling as usual (404, 422, ...); after the headers went out
 * the response can only be cut short, so it is destroyed (the client sees a broken transfer, never a
 * shortened body that looks whole).
 */
export async function serveRead(gate: ReadGate, res: Response, work: (signal: AbortSignal) => Promise<void>): Promise<void> {
  const ac = new AbortController();
  const onClose = (): void => {
    if (!res.writableFinished) ac.abort();
  };
  res.on('close', onClose);
  let release: (() => void) | undefined;
  try {
    try {
      release = await gate.acquire(ac.signal);
    } catch (err) {
      if (err instanceof ReadsBusyError) res.setHeader('Retry-After', String(READ_RETRY_AFTER_SEC));
      throw err;
    }
    await work(ac.signal);
  } catch (err) {
    if (err instanceof ReadAborted || ac.signal.aborted) return;
    if (!res.headersSent) throw err;
    log.warn(`a profile read failed after its response started: ${(err as Error).message}`);
    res.destroy(err as Error);
  } finally {
    res.off('close', onClose);
    release?.();
  }
}
