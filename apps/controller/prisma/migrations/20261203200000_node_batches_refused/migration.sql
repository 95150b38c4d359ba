-- AlterTable
ALTER TABLE "Node" ADD COLUMN "batchesRefused" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN "lastRefusal" TEXT,
ADD COLUMN "lastRefusalAt" TIMESTAMP(3);
