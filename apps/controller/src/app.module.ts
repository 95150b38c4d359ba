import { Module, type DynamicModule } from '@nestjs/common';
import type { ControllerEnv } from './config/env';
import { APP_GUARD, APP_INTERCEPTOR } from '@nestjs/core';
import { PrismaModule } from './prisma/prisma.module';
import { ApiTokenGuard } from './audit/api-token.guard';
import { HealthController } from './health/health.controller';
import { MetricsSources } from './health/metrics-sources';
import { NodesController } from './agents/nodes.controller';
import { NodesService } from './nodes/nodes.service';
import { AgentGateway } from './agents/agent.gateway';
import { BatchGuard } from './agents/batch-guard';
import { AgentRouter } from './agents/agent-router';
import { AgentCommandQueue } from './queue/agent-commands';
import { FleetCommands } from './agents/fleet-commands';
import { StackSlots } from './prisma/stack-slots';
import { NodeSelection } from './nodes/selection';
import { NodeSweepService } from './agents/node-sweep.service';
import { RunsService } from './runs/runs.service';
import { RunHandover } from './runs/run-handover';
import { ProfilesController } from './jobs/profiles.controller';
import { ProfileStreamsService } from './jobs/profile-streams.service';
import { ProfileReader } from './profiles/profile-reader';
import { IncidentReader } from './incidents/incident-reader';
import { IncidentOutputsService } from './incidents/incident-outputs.service';
import { DiffController } from './diff/diff.controller';
import { DiffService } from './diff/diff.service';
import { JobsController } from './jobs/jobs.controller';
import { JobsService } from './jobs/jobs.service';
import { JobsListController } from './jobs/jobs-list.controller';
import { JobsListService } from './jobs/jobs-list.service';
import { JobProgressController } from './jobs/job-progress.controller';
import { JobProgressService } from './jobs/job-progress.service';
import { JobRetentionService } from './retention/job-retention';
import { PartitionService } from './retention/partition.service';
import { IncidentsController } from './incidents/incidents.controller';
import { IncidentsService } from './incidents/incidents.service';
import { SchedulesController } from './schedules/schedules.controller';
import { SchedulesService } from './schedules/schedules.service';
import { ReconcileService } from './schedules/reconcile.service';
import { ReportsService } from './schedules/reports.service';
import { ReportRetentionService } from './schedules/report-retention.service';
import { OpenApiController } from './openapi/openapi.controller';
import { AuditController } from './audit/audit.controller';
import { AuditService } from './audit/audit.service';
import { AuditInterceptor } from './audit/audit.interceptor';
import { AuditRetentionService } from './audit/audit-retention';
import { FleetCaService } from './enrollment/fleet-ca.service';
import { NodeCertificatesService } from './enrollment/node-certificates.service';
import { EnrollmentServer } from './enrollment/enrollment.server';
import { EnrollmentTokensController } from './enrollment/enrollment-tokens.controller';
import { NodeRevocationService } from './agents/node-revocation.service';
import { SyscountModule } from './syscount/syscount.module';
import { RunqlatModule } from './runqlat/runqlat.module';
import { BiolatencyModule } from './biolatency/biolatency.module';
import { TcpModule } from './tcp/tcp.module';
import { OomkillModule } from './oomkill/oomkill.module';
import { ExecOpenModule } from './exec-open/exec-open.module';
import { UsdtModule } from './usdt/usdt.module';
import { MemleakModule } from './memleak/memleak.module';
import { SslModule } from './ssl/ssl.module';
import { SharedModule } from './shared.module';
import { ResultStoresModule } from './common/result-stores';
import { SessionController } from './session/session.controller';
import { ConsoleSessionService } from './auth/console-session.service';

@Module({})
export class AppModule {
  static forEnv(env: ControllerEnv): DynamicModule {
    return {
      module: AppModule,
      imports: [PrismaModule.forEnv(env), ResultStoresModule, SharedModule, UsdtModule, MemleakModule, SslModule, SyscountModule, RunqlatModule, BiolatencyModule, TcpModule, OomkillModule, ExecOpenModule],
      controllers: [HealthController, NodesController, JobsController, JobsListController, JobProgressController, ProfilesController, DiffController, IncidentsController, SchedulesController, OpenApiController, AuditController, EnrollmentTokensController, SessionController],
      providers: [
        { provide: APP_GUARD, useClass: ApiTokenGuard },
        { provide: APP_INTERCEPTOR, useClass: AuditInterceptor },
        AuditService,
        AuditRetentionService,
        ConsoleSessionService,
        NodesService,
        FleetCaService,
        NodeCertificatesService,
        EnrollmentServer,
        NodeRevocationService,
        AgentGateway,
        BatchGuard,
        AgentCommandQueue,
        FleetCommands,
        StackSlots,
        AgentRouter,
        NodeSelection,
        NodeSweepService,
        RunsService,
        RunHandover,
        ProfileStreamsService,
        ProfileReader,
        DiffService,
        JobRetentionService,
        PartitionService,
        JobsService,
        JobsListService,
        JobProgressService,
        IncidentsService,
        IncidentReader,
        IncidentOutputsService,
        SchedulesService,
        ReconcileService,
        ReportsService,
        ReportRetentionService,
        MetricsSources,
      ],
    };
  }
}
