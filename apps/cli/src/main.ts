#!/usr/bin/env node
/**
 * tracefleet: the command line for the Tracefleet REST API. Data on stdout, progress and messages on
 * stderr; exit 0 completed, 2 partial or stopped, 1 failed, refused or bad usage, 130 detached by Ctrl-C.
 */
import { run } from './program';

void run(process.argv).then((code) => {
  process.exitCode = code;
  // An idle keep-alive socket must not hold the exit back; stdout and stderr are synchronous on Linux.
  setTimeout(() => process.exit(code), 500).unref();
});
