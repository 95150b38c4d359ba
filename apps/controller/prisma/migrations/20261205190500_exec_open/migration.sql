-- The exec-open job type (apps/controller/src/exec-open/exec-open.prisma).
-- AlterEnum
ALTER TYPE "JobType" ADD VALUE 'exec_open';

-- CreateTable
CREATE TABLE "ExecOpenEvent" (
    "id" BIGSERIAL NOT NULL,
    "runId" UUID NOT NULL,
    "kind" TEXT NOT NULL,
    "syscall" TEXT NOT NULL,
    "pid" INTEGER NOT NULL,
    "tid" INTEGER NOT NULL,
    "ppid" INTEGER NOT NULL,
    "uid" BIGINT NOT NULL,
    "comm" TEXT NOT NULL,
    "ret" INTEGER NOT NULL,
    "tsNs" BIGINT NOT NULL,
    "dfd" INTEGER NOT NULL,
    "path" TEXT NOT NULL,
    "args" TEXT[],
    "flags" BIGINT NOT NULL,
    "mode" BIGINT NOT NULL,
    "truncated" BOOLEAN NOT NULL,

    CONSTRAINT "ExecOpenEvent_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ExecOpenTotals" (
    "runId" UUID NOT NULL,
    "execs" BIGINT NOT NULL,
    "opens" BIGINT NOT NULL,
    "streamed" BIGINT NOT NULL,
    "noStart" BIGINT NOT NULL,
    "overBudget" BIGINT NOT NULL,
    "dropped" BIGINT NOT NULL,

    CONSTRAINT "ExecOpenTotals_pkey" PRIMARY KEY ("runId")
);

-- CreateIndex
CREATE INDEX "ExecOpenEvent_runId_id_idx" ON "ExecOpenEvent"("runId", "id");

-- AddForeignKey
ALTER TABLE "ExecOpenEvent" ADD CONSTRAINT "ExecOpenEvent_runId_fkey" FOREIGN KEY ("runId") REFERENCES "JobRun"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ExecOpenTotals" ADD CONSTRAINT "ExecOpenTotals_runId_fkey" FOREIGN KEY ("runId") REFERENCES "JobRun"("id") ON DELETE CASCADE ON UPDATE CASCADE;

