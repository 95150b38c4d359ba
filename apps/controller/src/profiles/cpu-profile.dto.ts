import { IsBoolean, IsInt, IsOptional, Max, Min } from 'class-validator';

/** The cpu-profile request fields: shapes and limits (the ValidationPipe checks them; the OpenAPI document reads them). */
export class CpuProfileFields {
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(1000)
  frequencyHz?: number;

  @IsOptional()
  @IsBoolean()
  javaPerfMaps?: boolean;

  @IsOptional()
  @IsBoolean()
  pythonFrames?: boolean;
}
