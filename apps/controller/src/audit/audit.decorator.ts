import { SetMetadata } from '@nestjs/common';

export const AUDIT_KEY = 'tracefleet:audit';

/** What an audited route acts on: `action` ("schedule.delete"), the target's type, and where its id is. */
export interface AuditTarget {
  action: string;
  targetType: string;
  /** `param`: the route's :id (default when the route has one); `result`: the `id` of the response body (creations). */
  idFrom: 'param' | 'result';
}

/** Records every call of the route in the audit log: success, refusal or denial (audit.interceptor.ts, api-token.guard.ts). */
export const Audit = (action: string, targetType: string, idFrom: AuditTarget['idFrom'] = 'param'): MethodDecorator =>
  SetMetadata(AUDIT_KEY, { action, targetType, idFrom } satisfies AuditTarget);
