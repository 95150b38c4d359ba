import { IsNotEmpty, IsOptional, IsString, IsUUID } from 'class-validator';

/** `?base=JOB&target=JOB[&baseNode=NAME][&targetNode=NAME]` of the diff outputs. */
export class DiffQueryDto {
  @IsUUID('all', { message: 'base must be a job id (UUID)' })
  base!: string;

  @IsUUID('all', { message: 'target must be a job id (UUID)' })
  target!: string;

  /** Only this node's samples of the base job (default: all its nodes merged). */
  @IsOptional()
  @IsString()
  @IsNotEmpty()
  baseNode?: string;

  /** Only this node's samples of the target job (default: all its nodes merged). */
  @IsOptional()
  @IsString()
  @IsNotEmpty()
  targetNode?: string;
}
