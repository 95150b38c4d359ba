-- AlterTable
ALTER TABLE "JobRun" ADD COLUMN "unwindStats" JSONB;
