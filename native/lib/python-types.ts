/** What the tracers that read Python frames (Profiler, UsdtTracer, SslTracer, MemleakTracer) share: python.h on the JS side. */

/** A sample's or event's Python frames (empty unless its process was given with setPythonProcess). */
export interface PythonFrameFields {
  /**
   * Innermost first: the code object's address, bit 0 (PY_FRAME_ENTRY) on the outermost frame of each C call of
   * the eval loop.
   */
  pyFrames: BigUint64Array;
  /** Python frames read (pyFrames.length), 0 for a process not given, or PY_ERR_NO_THREAD (-1) / PY_ERR_READ (-2). */
  pyStatus: number;
  /** The Python frame chain went on past TRACEFLEET_MAX_PY_FRAMES: the outermost frames are missing. */
  pyTruncated: boolean;
}

/** How a program read Python frames (all zero with no Python process given). */
export interface PythonCounters {
  /** Samples or events of a Python process. */
  stacks: bigint;
  frames: bigint;
  /** Of a thread with no Python thread state (a native thread, or one Python has not registered). */
  noThread: bigint;
  readFaults: bigint;
  /** With more Python frames than one carries. */
  truncated: bigint;
}

/** The methods of a tracer that reads Python frames. */
export interface PythonLayoutSink {
  /** Reads this process's Python frames from now on; `layout` is its struct py_proc (python.h). */
  setPythonProcess(pid: number, layout: Buffer): void;
  forgetPythonProcess(pid: number): void;
}
