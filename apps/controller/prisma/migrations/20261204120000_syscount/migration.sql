-- AlterEnum
ALTER TYPE "JobType" ADD VALUE 'syscount';

-- AlterTable
ALTER TABLE "JobRun" ADD COLUMN "syscountReport" JSONB;

-- CreateTable
CREATE TABLE "SyscountCount" (
    "runId" UUID NOT NULL,
    "pid" INTEGER NOT NULL,
    "nr" INTEGER NOT NULL,
    "name" TEXT NOT NULL,
    "comm" TEXT NOT NULL,
    "count" BIGINT NOT NULL,

    CONSTRAINT "SyscountCount_pkey" PRIMARY KEY ("runId","pid","nr")
);

-- AddForeignKey
ALTER TABLE "SyscountCount" ADD CONSTRAINT "SyscountCount_runId_fkey" FOREIGN KEY ("runId") REFERENCES "JobRun"("id") ON DELETE CASCADE ON UPDATE CASCADE;
