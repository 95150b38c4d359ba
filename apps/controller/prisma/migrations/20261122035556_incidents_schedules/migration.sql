-- CreateEnum
CREATE TYPE "ReportStatus" AS ENUM ('pending', 'ready', 'failed');

-- AlterTable
ALTER TABLE "Job" ADD COLUMN     "incidentId" UUID,
ADD COLUMN     "scheduleId" UUID,
ADD COLUMN     "startAt" TIMESTAMP(3);

-- CreateTable
CREATE TABLE "Incident" (
    "id" UUID NOT NULL,
    "name" TEXT,
    "nodes" JSONB NOT NULL,
    "bundle" JSONB NOT NULL,
    "startAt" TIMESTAMP(3) NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "scheduleId" UUID,

    CONSTRAINT "Incident_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Schedule" (
    "id" UUID NOT NULL,
    "name" TEXT,
    "cron" TEXT,
    "everyMs" INTEGER,
    "nodes" JSONB NOT NULL,
    "bundle" JSONB NOT NULL,
    "keepReports" INTEGER NOT NULL DEFAULT 100,
    "leadMs" INTEGER NOT NULL DEFAULT 1000,
    "sslCapture" BOOLEAN NOT NULL DEFAULT false,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "ticks" INTEGER NOT NULL DEFAULT 0,
    "skippedTicks" INTEGER NOT NULL DEFAULT 0,
    "lastTickAt" TIMESTAMP(3),

    CONSTRAINT "Schedule_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Report" (
    "id" UUID NOT NULL,
    "scheduleId" UUID NOT NULL,
    "seq" INTEGER NOT NULL,
    "incidentId" UUID,
    "status" "ReportStatus" NOT NULL DEFAULT 'pending',
    "reason" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finishedAt" TIMESTAMP(3),
    "baseReportId" UUID,
    "totalSamples" BIGINT NOT NULL DEFAULT 0,
    "nodeTotals" JSONB,
    "topFunctions" JSONB,
    "diff" JSONB,
    "folded" BYTEA,

    CONSTRAINT "Report_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "Incident_scheduleId_idx" ON "Incident"("scheduleId");

-- CreateIndex
CREATE INDEX "Incident_createdAt_idx" ON "Incident"("createdAt");

-- CreateIndex
CREATE UNIQUE INDEX "Report_incidentId_key" ON "Report"("incidentId");

-- CreateIndex
CREATE INDEX "Report_scheduleId_createdAt_idx" ON "Report"("scheduleId", "createdAt");

-- CreateIndex
CREATE INDEX "Report_createdAt_idx" ON "Report"("createdAt");

-- CreateIndex
CREATE UNIQUE INDEX "Report_scheduleId_seq_key" ON "Report"("scheduleId", "seq");

-- CreateIndex
CREATE INDEX "Job_incidentId_idx" ON "Job"("incidentId");

-- CreateIndex
CREATE INDEX "Job_scheduleId_idx" ON "Job"("scheduleId");

-- AddForeignKey
ALTER TABLE "Job" ADD CONSTRAINT "Job_incidentId_fkey" FOREIGN KEY ("incidentId") REFERENCES "Incident"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Job" ADD CONSTRAINT "Job_scheduleId_fkey" FOREIGN KEY ("scheduleId") REFERENCES "Schedule"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Incident" ADD CONSTRAINT "Incident_scheduleId_fkey" FOREIGN KEY ("scheduleId") REFERENCES "Schedule"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Report" ADD CONSTRAINT "Report_scheduleId_fkey" FOREIGN KEY ("scheduleId") REFERENCES "Schedule"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Report" ADD CONSTRAINT "Report_incidentId_fkey" FOREIGN KEY ("incidentId") REFERENCES "Incident"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Report" ADD CONSTRAINT "Report_baseReportId_fkey" FOREIGN KEY ("baseReportId") REFERENCES "Report"("id") ON DELETE SET NULL ON UPDATE CASCADE;
