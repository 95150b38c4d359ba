import { IsNotEmpty, IsString, MaxLength } from 'class-validator';

/** Longer than any token worth configuring (24+ characters); keeps hashing a presented value cheap. */
export const MAX_SIGN_IN_TOKEN = 512;

/** POST /session: sign the web console in with a REST token. */
export class CreateSessionDto {
  /** TRACEFLEET_API_TOKEN or TRACEFLEET_CAPTURE_TOKEN. */
  @IsString()
  @IsNotEmpty()
  @MaxLength(MAX_SIGN_IN_TOKEN)
  token!: string;
}
