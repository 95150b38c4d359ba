// Generated types live in gen/ (DO NOT EDIT; `npm run build` regenerates them).
export * from './gen/tracefleet/v1/agent.pb';

export const PROTOCOL_VERSION = 1;
