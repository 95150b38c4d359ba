/** The agent's one /proc reader: processes (process.ts) and their memory maps (maps.ts), with one ProcError. */
export * from './maps';
export * from './proc-error';
export * from './process';
