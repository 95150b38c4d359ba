-- AlterTable
ALTER TABLE "JobRun" ADD COLUMN     "batchesNotStored" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "storeError" TEXT;
