// The block I/O latency and size facade (biolatency.bpf.o through the addon's BiolatencyTracer).
import { loadAddon } from './index';
import { MapTracer } from './map-tracer';
import type { BiolatencyOptions, BiolatencyReading, NativeBiolatencyTracer } from './biolatency-types';

/**
 * Block I/O latency and size: log2 histograms (µs, KiB) per disk and optionally per process, from the tp_btf
 * tracepoints block_rq_insert, block_rq_issue and block_rq_complete. The constructor loads the program (errors carry
 * the verifier log); start() attaches; read() returns the histograms so far.
 */
export class BiolatencyTracer extends MapTracer<NativeBiolatencyTracer, BiolatencyReading> {
  constructor(opts: BiolatencyOptions) {
    super(new (loadAddon().BiolatencyTracer)(opts));
  }
}
