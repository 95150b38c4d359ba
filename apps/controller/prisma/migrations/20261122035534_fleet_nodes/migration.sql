-- Node registry for several controller replicas: connected / unreachable / gone, the replica and
-- session holding each node, and the session each run was started on.

-- AlterEnum: rename in place so existing rows keep their meaning (online → connected, offline → unreachable).
ALTER TYPE "NodeStatus" RENAME VALUE 'online' TO 'connected';
ALTER TYPE "NodeStatus" RENAME VALUE 'offline' TO 'unreachable';
ALTER TYPE "NodeStatus" ADD VALUE 'gone';

-- AlterTable
ALTER TABLE "Node" ADD COLUMN     "cpus" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "replicaId" TEXT,
ADD COLUMN     "sessionId" UUID,
ADD COLUMN     "statusChangedAt" TIMESTAMP(3),
ADD COLUMN     "statusReason" TEXT,
ALTER COLUMN "status" SET DEFAULT 'connected';

-- AlterTable
ALTER TABLE "JobRun" ADD COLUMN     "sessionId" UUID;

-- CreateIndex
CREATE INDEX "JobRun_nodeId_status_idx" ON "JobRun"("nodeId", "status");

-- CreateIndex
CREATE INDEX "Node_status_lastSeenAt_idx" ON "Node"("status", "lastSeenAt");
