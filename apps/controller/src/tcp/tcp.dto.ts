import { ArrayMaxSize, IsArray, IsIn, IsInt, IsOptional, Max, Min } from 'class-validator';

/** Ports a tcp job may filter on at once (TCP_MAX_PORTS in packages/bpf/src/tcp/tcp.h). */
export const MAX_PORTS = 8;
/** Sockets an agent's kernel map follows at once (TcpTracer's maxSockets). */
export const MIN_MAX_SOCKETS = 64;
export const MAX_MAX_SOCKETS = 1 << 20;

/** The tcp request fields: shapes and limits (tcp.type.ts checks them again for callers that skip the DTO). */
export class TcpFields {
  /** Only connections whose local or remote port is one of these. */
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(MAX_PORTS)
  @IsInt({ each: true })
  @Min(1, { each: true })
  @Max(65535, { each: true })
  ports?: number[];

  /** Only IPv4 (4) or IPv6 (6) connections. */
  @IsOptional()
  @IsIn([4, 6])
  family?: number;

  /** Sockets followed at once, per node. */
  @IsOptional()
  @IsInt()
  @Min(MIN_MAX_SOCKETS)
  @Max(MAX_MAX_SOCKETS)
  maxSockets?: number;
}
