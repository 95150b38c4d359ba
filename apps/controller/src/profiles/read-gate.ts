import { HttpException } from '@nestjs/common';

/** Seconds a client is told to wait (Retry-After) when the heavy reads of a replica are all taken. */
export const READ_RETRY_AFTER_SEC = 5;

/** The 503 a read gets when every slot and every place in line is taken; the route sets Retry-After. */
export class ReadsBusyError extends HttpException {
  constructor(slots: number, queue: number) {
    super(
      {
        statusCode: 503,
        error: 'Service Unavailable',
        message: `this replica is already serving ${slots} large profile read(s) with ${queue} waiting; retry in ${READ_RETRY_AFTER_SEC} s`,
      },
      503,
    );
  }
}

/**
 * Few heavy profile reads (a merged flame graph, pprof, speedscope of a whole job) at once per replica:
 * each holds a database connection for the whole read and up to a trie's cap of memory. Past `slots`,
 * up to `queue` reads wait in line (first come, first served); past that a read is refused at once
 * (503 with Retry-After) rather than piling up on a replica that is already busy.
 */
export class ReadGate {
  private active = 0;
  private readonly waiting: { resolve: () => void; reject: (e: Error) => void }[] = [];

  constructor(
    readonly slots: number,
    readonly queue: number,
  ) {
    if (!Number.isInteger(slots) || slots < 1) throw new Error(`a read gate needs at least one slot, got ${slots}`);
  }

  get busy(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /**
   * A slot, or a ReadsBusyError when the line is full. `signal` (the client went away) takes a waiting
   * read out of line. The returned release is idempotent.
   */
  async acquire(signal?: AbortSignal): Promise<() => void> {
    if (this.active < this.slots) {
      this.active++;
    } else {
      if (this.waiting.length >= this.queue) throw new ReadsBusyError(this.slots, this.waiting.length);
      await new Promise<void>((resolve, reject) => {
        const entry = { resolve, reject };
        this.waiting.push(entry);
        signal?.addEventListener(
          'abort',
          () => {
            const i = this.waiting.indexOf(entry);
            if (i >= 0) {
              this.waiting.splice(i, 1);
              reject(new Error('the client went away while its read waited'));
            }
          },
          { once: true },
        );
      });
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      // The slot passes straight to the next in line (active stays the same), or frees.
      const next = this.waiting.shift();
      if (next) next.resolve();
      else this.active--;
    };
  }
}
