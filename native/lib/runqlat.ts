// The run-queue latency facade (runqlat.bpf.o through the addon's RunqlatTracer).
import { loadAddon } from './index';
import { MapTracer } from './map-tracer';
import type { NativeRunqlatTracer, RunqlatOptions, RunqlatReading } from './runqlat-types';

/**
 * Scheduler run-queue latency: log2 histograms (µs) of the time threads wait runnable before they run, from the
 * tp_btf tracepoints sched_wakeup, sched_wakeup_new and sched_switch. The constructor loads the program (errors carry
 * the verifier log); start() attaches; read() returns the histograms so far.
 */
export class RunqlatTracer extends MapTracer<NativeRunqlatTracer, RunqlatReading> {
  constructor(opts: RunqlatOptions) {
    super(new (loadAddon().RunqlatTracer)(opts));
  }
}
