import { IsArray, IsDefined, IsInt, IsOptional, IsString, Matches, Max, Min } from 'class-validator';

export const MAX_LEAD_MS = 60_000;
export const DEFAULT_LEAD_MS = 1000;
export const NAME_RE = /^[\x20-\x7e]{1,128}$/;

/** POST /incidents: job templates started together on every selected node. */
export class CreateIncidentDto {
  @IsOptional()
  @IsString()
  @Matches(NAME_RE, { message: 'name must be 1 to 128 printable characters' })
  name?: string;

  /** "all", or { names?: string[], labels?: { key: value } }: the same selector as POST /jobs. */
  @IsDefined({ message: 'nodes must be "all" or { names?: [...], labels?: {...} }' })
  nodes!: unknown;

  /** Job request bodies without `nodes`, each checked exactly as POST /jobs checks it (parseTemplates). */
  @IsArray({ message: 'bundle must be an array of job templates' })
  bundle!: unknown[];

  /** How far ahead of creation the runs attach: dispatch to every node must happen within it. */
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(MAX_LEAD_MS)
  leadMs?: number;
}
