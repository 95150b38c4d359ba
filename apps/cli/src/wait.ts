/**
 * Waiting on something that runs on the fleet, and what Ctrl-C does meanwhile. On a terminal the first
 * Ctrl-C asks whether to stop it (y: stop and keep waiting for how it ends; anything else: detach, exit
 * 130 and say how to re-attach). Without a terminal it detaches at once, never stopping anything. A
 * second Ctrl-C exits at once.
 */
import { createInterface } from 'node:readline';
import type { ApiClient } from './api';
import { CliError, EXIT, clean, isTerminal, type Io } from './output';
import { followJob, plainView, ttyView, type EndStatus, type ProgressView } from './progress';

/** Thrown when the user detached: the thing keeps running. */
export class Detached extends CliError {
  constructor(message: string) {
    super(message, EXIT.interrupted);
  }
}

export interface Watched<T> {
  /** "job 3f1c…" */
  what: string;
  /** The question's "on 3 nodes". */
  scope: string;
  /** How to come back: "tracefleet jobs wait 3f1c…". */
  reattach: string;
  /** Asks the controller to stop it. */
  stop: () => Promise<void>;
  /** Runs until the thing ends; aborted on detach. */
  run: (signal: AbortSignal) => Promise<T>;
  /** Drawing stops while the question is asked. */
  view?: ProgressView;
}

/** Signals and the question, replaceable in specs. */
export interface Interrupts {
  onInterrupt(handler: () => void): () => void;
  ask(question: string, onSecondInterrupt: () => void): Promise<string>;
  exitNow(code: number): never;
}

export const processInterrupts: Interrupts = {
  onInterrupt(handler) {
    process.on('SIGINT', handler);
    return () => process.removeListener('SIGINT', handler);
  },
  ask(question, onSecondInterrupt) {
    return new Promise((resolve) => {
      const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
      // With the terminal in raw mode Ctrl-C reaches readline, not the process.
      rl.on('SIGINT', () => {
        rl.close();
        onSecondInterrupt();
      });
      rl.question(question, (answer) => {
        rl.close();
        resolve(answer);
      });
    });
  },
  exitNow(code) {
    process.exit(code);
  },
};

export async function watch<T>(io: Io, w: Watched<T>, interrupts: Interrupts = processInterrupts): Promise<T> {
  const ctl = new AbortController();
  let count = 0;
  let detach: (err: Detached) => void = () => undefined;
  const detached = new Promise<never>((_, reject) => (detach = reject));
  detached.catch(() => undefined);
  const leave = (how: string): void => {
    const err = new Detached(`${how}; ${w.what} keeps running. Re-attach with: ${w.reattach}`);
    detach(err);
    ctl.abort(err);
  };
  const exitNow = (): never => {
    w.view?.stop();
    io.err(`\ninterrupted again: exiting; ${w.what} keeps running (re-attach with: ${w.reattach})\n`);
    return interrupts.exitNow(EXIT.interrupted);
  };
  const off = interrupts.onInterrupt(() => {
    count++;
    if (count > 1) return exitNow();
    if (!io.interactive) {
      w.view?.stop();
      return leave(`interrupted: detaching without stopping it (not a terminal, so not asking)`);
    }
    w.view?.pause();
    io.err('\n');
    interrupts.ask(`stop ${w.what} ${w.scope}? [y/N] `, exitNow).then(
      async (answer) => {
        if (!/^y(es)?$/i.test(answer.trim())) {
          w.view?.stop();
          return leave('detached');
        }
        io.err(`stopping ${w.what}; waiting for how it ends (Ctrl-C again exits at once)\n`);
        w.view?.resume();
        try {
          await w.stop();
        } catch (err) {
          // 409: it ended meanwhile; the wait sees how.
          io.err(`tracefleet: ${clean((err as Error).message)}\n`);
        }
      },
      () => leave('detached'),
    );
  });
  try {
    return await Promise.race([w.run(ctl.signal), detached]);
  } catch (err) {
    if (ctl.signal.aborted && ctl.signal.reason instanceof Detached) throw ctl.signal.reason;
    throw err;
  } finally {
    off();
  }
}

/** The job's view now (GET /jobs/:id). */
export function getJob(api: ApiClient, id: string): Promise<any> {
  return api.get(`/jobs/${encodeURIComponent(id)}`);
}

/**
 * Waits for a job to end with progress on stderr and Ctrl-C handled; resolves with its final view.
 * `jobOrId`: the job as POST /jobs answered it, or an id; `reattachArgs`: what the re-attach hint adds (` -o out.svg`).
 */
export async function waitJob(api: ApiClient, io: Io, jobOrId: any, reattachArgs = ''): Promise<any> {
  const job = typeof jobOrId === 'string' ? await getJob(api, jobOrId) : jobOrId;
  const id: string = job.id;
  if (isTerminal(job.status)) return typeof jobOrId === 'string' ? job : getJob(api, id);
  const nodes = job.selection?.selected?.length ?? job.runs?.length ?? 0;
  const durationSec = typeof job.params?.durationSec === 'number' ? job.params.durationSec : undefined;
  const view = io.errTty ? ttyView(id, durationSec) : plainView(io, id);
  let end: EndStatus;
  try {
    end = await watch(io, {
      what: `job ${id}`,
      scope: `on ${nodes} node${nodes === 1 ? '' : 's'}`,
      reattach: `tracefleet jobs wait ${id}${reattachArgs}`,
      stop: async () => void (await api.post(`/jobs/${encodeURIComponent(id)}/stop`)),
      run: (signal) => followJob(api, id, (p) => view.update(p), signal),
      view,
    });
  } finally {
    view.stop();
  }
  if (end.status === 'deleted') throw new CliError(`job ${id} was deleted while it ran`);
  return getJob(api, id);
}
