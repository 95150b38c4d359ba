-- The oomkill job type (apps/controller/src/oomkill/oomkill.prisma).

-- AlterEnum
ALTER TYPE "JobType" ADD VALUE 'oomkill';

-- CreateTable
CREATE TABLE "OomKill" (
    "id" BIGSERIAL NOT NULL,
    "runId" UUID NOT NULL,
    "tsNs" BIGINT NOT NULL,
    "unixMs" BIGINT NOT NULL,
    "victimPid" INTEGER NOT NULL,
    "victimComm" TEXT NOT NULL,
    "triggerPid" INTEGER NOT NULL,
    "triggerTid" INTEGER NOT NULL,
    "triggerComm" TEXT NOT NULL,
    "uid" BIGINT NOT NULL,
    "oomScoreAdj" INTEGER NOT NULL,
    "totalVmKb" BIGINT NOT NULL,
    "anonRssKb" BIGINT NOT NULL,
    "fileRssKb" BIGINT NOT NULL,
    "shmemRssKb" BIGINT NOT NULL,
    "pgtablesKb" BIGINT NOT NULL,
    "loadavg" TEXT NOT NULL,

    CONSTRAINT "OomKill_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "OomkillTotals" (
    "runId" UUID NOT NULL,
    "kills" BIGINT NOT NULL,
    "streamed" BIGINT NOT NULL,
    "overBudget" BIGINT NOT NULL,
    "dropped" BIGINT NOT NULL,

    CONSTRAINT "OomkillTotals_pkey" PRIMARY KEY ("runId")
);

-- CreateIndex
CREATE INDEX "OomKill_runId_id_idx" ON "OomKill"("runId", "id");

-- AddForeignKey
ALTER TABLE "OomKill" ADD CONSTRAINT "OomKill_runId_fkey" FOREIGN KEY ("runId") REFERENCES "JobRun"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "OomkillTotals" ADD CONSTRAINT "OomkillTotals_runId_fkey" FOREIGN KEY ("runId") REFERENCES "JobRun"("id") ON DELETE CASCADE ON UPDATE CASCADE;
