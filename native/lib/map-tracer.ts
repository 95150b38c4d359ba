// The facade every map-aggregated tracer shares (syscount, runqlat, biolatency, off-cpu): the addon's class loads the object
// in its constructor, start() attaches, read() returns what the kernel maps hold, stop() detaches and keeps the maps
// readable, close() frees every fd. No import of ./index here: the subclasses extend MapTracer at load time.
import type { TargetPidSink } from './target-types';

/** The addon's side of a map-aggregated tracer (native/src/map_tracer.h). */
export interface NativeMapTracer<Reading> extends TargetPidSink {
  start(): void;
  read(): Reading;
  stop(): void;
  close(): void;
}

export class MapTracer<Native extends NativeMapTracer<Reading>, Reading> implements TargetPidSink {
  readonly #native: Native;

  protected constructor(native: Native) {
    this.#native = native;
  }

  /** Attaches the programs; again after stop() re-attaches them. */
  start(): void {
    this.#native.start();
  }

  /** What the maps hold now (also after stop()). */
  read(): Reading {
    return this.#native.read();
  }

  /** Detaches the programs; the maps stay readable. */
  stop(): void {
    this.#native.stop();
  }

  /** With targetPids: measures this process (tgid) from now on. */
  addTargetPid(pid: number): void {
    this.#native.addTargetPid(pid);
  }

  removeTargetPid(pid: number): void {
    this.#native.removeTargetPid(pid);
  }

  /** Frees every BPF fd of this tracer; idempotent. */
  close(): void {
    this.#native.close();
  }
}
