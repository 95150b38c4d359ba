// Generated types live in gen/ (DO NOT EDIT; `npm run build` regenerates them).
export * from './gen/tracefleet/v1/agent.pb';
// The agent link is seven files (agent.proto imports common, ssl, aggregates, connections, oom and processes); each generated file has its
// own copies of ts-proto's helpers, so those names are taken from agent.pb explicitly (not ambiguous).
export { protobufPackage, protobufFileName, type DeepPartial, type Exact, type MessageFns } from './gen/tracefleet/v1/agent.pb';
export * from './gen/tracefleet/v1/common.pb';
export * from './gen/tracefleet/v1/ssl.pb';
export * from './gen/tracefleet/v1/aggregates.pb';
export * from './gen/tracefleet/v1/connections.pb';
export * from './gen/tracefleet/v1/oom.pb';
export * from './gen/tracefleet/v1/processes.pb';
export {
  EnrollmentService,
  EnrollmentClient,
  type EnrollmentServer,
  CertRenewalService,
  CertRenewalClient,
  type CertRenewalServer,
  EnrollRequest,
  EnrollResponse,
  RenewRequest,
  RenewResponse,
  IssuedCertificate,
} from './gen/tracefleet/v1/enroll.pb';

export { BufferReader } from './buffer-reader';

export const PROTOCOL_VERSION = 1;
