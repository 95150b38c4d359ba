-- The tcp job type (apps/controller/src/tcp/tcp.prisma).

-- AlterEnum
ALTER TYPE "JobType" ADD VALUE 'tcp';

-- CreateTable
CREATE TABLE "TcpConnection" (
    "id" BIGSERIAL NOT NULL,
    "runId" UUID NOT NULL,
    "pid" INTEGER NOT NULL,
    "comm" TEXT NOT NULL,
    "family" INTEGER NOT NULL,
    "saddr" TEXT NOT NULL,
    "sport" INTEGER NOT NULL,
    "daddr" TEXT NOT NULL,
    "dport" INTEGER NOT NULL,
    "startNs" BIGINT NOT NULL,
    "endNs" BIGINT NOT NULL,
    "lifetimeNs" BIGINT NOT NULL,
    "connectNs" BIGINT NOT NULL,
    "rxBytes" BIGINT NOT NULL,
    "txBytes" BIGINT NOT NULL,
    "active" BOOLEAN NOT NULL,
    "pidSource" TEXT NOT NULL,

    CONSTRAINT "TcpConnection_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "TcpTotals" (
    "runId" UUID NOT NULL,
    "connectSlots" BIGINT[],
    "connectTotalNs" BIGINT NOT NULL,
    "connects" BIGINT NOT NULL,
    "closed" BIGINT NOT NULL,
    "streamed" BIGINT NOT NULL,
    "noStart" BIGINT NOT NULL,
    "untracked" BIGINT NOT NULL,
    "overBudget" BIGINT NOT NULL,
    "dropped" BIGINT NOT NULL,

    CONSTRAINT "TcpTotals_pkey" PRIMARY KEY ("runId")
);

-- CreateIndex
CREATE INDEX "TcpConnection_runId_id_idx" ON "TcpConnection"("runId", "id");

-- AddForeignKey
ALTER TABLE "TcpConnection" ADD CONSTRAINT "TcpConnection_runId_fkey" FOREIGN KEY ("runId") REFERENCES "JobRun"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "TcpTotals" ADD CONSTRAINT "TcpTotals_runId_fkey" FOREIGN KEY ("runId") REFERENCES "JobRun"("id") ON DELETE CASCADE ON UPDATE CASCADE;

