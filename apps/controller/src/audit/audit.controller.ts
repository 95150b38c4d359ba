import { Controller, Get, Query } from '@nestjs/common';
import { RequireScopes } from '../auth/scopes';
import { Audit } from './audit.decorator';
import { parseAuditQuery } from './audit-query';
import { AuditService, type AuditEntryView } from './audit.service';

/** The audit log. It names targets of ssl-capture work and who read captured plaintext: ssl-capture scope. */
@Controller('audit')
@RequireScopes('ssl-capture')
export class AuditController {
  constructor(private readonly audit: AuditService) {}

  /** Newest first. ?since=ISO &action=schedule.delete|schedule. &target=type[:id] &outcome= &token=<fingerprint> &limit=1..500 &before=<nextCursor> */
  @Get()
  @Audit('audit.read', 'audit')
  list(@Query() q: Record<string, unknown>): Promise<{ entries: AuditEntryView[]; nextCursor: string | null }> {
    return this.audit.list(parseAuditQuery(q));
  }
}
