/** The agent's one /proc reader: processes (process.ts), their memory maps (maps.ts) and cgroups (cgroup.ts, cgroup-mounts.ts), with one ProcError. */
export * from './cgroup';
export * from './cgroup-mounts';
export * from './maps';
export * from './proc-error';
export * from './process';
