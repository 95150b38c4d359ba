import { Body, Controller, Post } from '@nestjs/common';
import { RequireScopes, Token, type TokenIdentity } from '../auth/scopes';
import { Audit } from '../audit/audit.decorator';
import { CreateBootstrapTokenDto } from './dto/create-bootstrap-token.dto';
import { NodeCertificatesService, type CreatedBootstrapToken } from './node-certificates.service';

/**
 * Bootstrap tokens for enrolling nodes. A token admits nodes into the fleet (and so to the jobs sent to
 * them), so it takes the fleet's admin token: the ssl-capture scope.
 */
@Controller('enrollment-tokens')
@RequireScopes('ssl-capture')
export class EnrollmentTokensController {
  constructor(private readonly certs: NodeCertificatesService) {}

  /** The token is in this answer only; the controller keeps its SHA-256. */
  @Post()
  @Audit('enrollment-token.create', 'enrollment-token', 'result')
  create(@Body() body: CreateBootstrapTokenDto, @Token() token: TokenIdentity | undefined): Promise<CreatedBootstrapToken> {
    return this.certs.createToken(body, token?.fingerprint ?? 'unknown');
  }
}
