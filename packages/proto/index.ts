// Generated types live in gen/ (DO NOT EDIT; `npm run build` regenerates them).
export * from './gen/tracefleet/v1/agent.pb';
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

export const PROTOCOL_VERSION = 1;
