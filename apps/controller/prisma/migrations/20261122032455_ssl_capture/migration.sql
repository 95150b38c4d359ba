-- CreateEnum
CREATE TYPE "SslDirection" AS ENUM ('read', 'write', 'handshake');

-- AlterEnum
ALTER TYPE "JobType" ADD VALUE 'ssl_capture';

-- AlterTable
ALTER TABLE "JobRun" ADD COLUMN     "sslBytesRefused" BIGINT NOT NULL DEFAULT 0,
ADD COLUMN     "sslBytesStored" BIGINT NOT NULL DEFAULT 0,
ADD COLUMN     "sslEventsRefused" BIGINT NOT NULL DEFAULT 0,
ADD COLUMN     "sslReport" JSONB;

-- CreateTable
CREATE TABLE "SslEvent" (
    "id" BIGSERIAL NOT NULL,
    "jobId" UUID NOT NULL,
    "runId" UUID NOT NULL,
    "nodeName" TEXT NOT NULL,
    "pid" INTEGER NOT NULL,
    "tid" INTEGER NOT NULL,
    "comm" TEXT NOT NULL,
    "function" TEXT NOT NULL,
    "direction" "SslDirection" NOT NULL,
    "ret" BIGINT NOT NULL,
    "length" BIGINT NOT NULL,
    "latencyNs" BIGINT NOT NULL,
    "sslPtr" TEXT NOT NULL,
    "tsNs" BIGINT NOT NULL,
    "at" TIMESTAMPTZ(6) NOT NULL,
    "data" BYTEA NOT NULL,
    "truncated" BOOLEAN NOT NULL DEFAULT false,
    "redactions" INTEGER NOT NULL DEFAULT 0,
    "stackId" INTEGER,
    "binary" TEXT NOT NULL,
    "expiresAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "SslEvent_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "SslEvent_jobId_id_idx" ON "SslEvent"("jobId", "id");

-- CreateIndex
CREATE INDEX "SslEvent_jobId_nodeName_pid_sslPtr_tsNs_id_idx" ON "SslEvent"("jobId", "nodeName", "pid", "sslPtr", "tsNs", "id");

-- CreateIndex
CREATE INDEX "SslEvent_runId_idx" ON "SslEvent"("runId");

-- CreateIndex
CREATE INDEX "SslEvent_expiresAt_idx" ON "SslEvent"("expiresAt");

-- AddForeignKey
ALTER TABLE "SslEvent" ADD CONSTRAINT "SslEvent_jobId_fkey" FOREIGN KEY ("jobId") REFERENCES "Job"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "SslEvent" ADD CONSTRAINT "SslEvent_runId_fkey" FOREIGN KEY ("runId") REFERENCES "JobRun"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "SslEvent" ADD CONSTRAINT "SslEvent_stackId_fkey" FOREIGN KEY ("stackId") REFERENCES "Stack"("id") ON DELETE SET NULL ON UPDATE CASCADE;
