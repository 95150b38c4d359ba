-- ssl-capture headers-only mode: what the kernel skipped before each kept event (0 in full mode).
-- AlterTable
ALTER TABLE "SslEvent" ADD COLUMN     "skippedBytes" BIGINT NOT NULL DEFAULT 0,
ADD COLUMN     "skippedCalls" INTEGER NOT NULL DEFAULT 0;
