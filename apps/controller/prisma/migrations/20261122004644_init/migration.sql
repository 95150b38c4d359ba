-- CreateEnum
CREATE TYPE "NodeStatus" AS ENUM ('online', 'offline');

-- CreateEnum
CREATE TYPE "JobType" AS ENUM ('cpu_profile');

-- CreateEnum
CREATE TYPE "JobStatus" AS ENUM ('queued', 'running', 'completed', 'partial', 'failed');

-- CreateEnum
CREATE TYPE "RunStatus" AS ENUM ('pending', 'dispatched', 'running', 'completed', 'failed');

-- CreateEnum
CREATE TYPE "FrameKind" AS ENUM ('user', 'kernel', 'jit');

-- CreateTable
CREATE TABLE "Node" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "labels" JSONB NOT NULL DEFAULT '{}',
    "kernelRelease" TEXT NOT NULL,
    "btf" BOOLEAN NOT NULL,
    "protocolVersion" INTEGER NOT NULL,
    "capabilities" TEXT[],
    "agentVersion" TEXT NOT NULL,
    "status" "NodeStatus" NOT NULL DEFAULT 'online',
    "connectedAt" TIMESTAMP(3),
    "lastSeenAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Node_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Job" (
    "id" UUID NOT NULL,
    "type" "JobType" NOT NULL,
    "status" "JobStatus" NOT NULL DEFAULT 'queued',
    "params" JSONB NOT NULL,
    "durationSec" INTEGER NOT NULL,
    "reason" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "startedAt" TIMESTAMP(3),
    "finishedAt" TIMESTAMP(3),

    CONSTRAINT "Job_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "JobRun" (
    "id" UUID NOT NULL,
    "jobId" UUID NOT NULL,
    "nodeId" UUID NOT NULL,
    "status" "RunStatus" NOT NULL DEFAULT 'pending',
    "reason" TEXT,
    "targetExited" BOOLEAN NOT NULL DEFAULT false,
    "samplesTaken" BIGINT NOT NULL DEFAULT 0,
    "samplesDroppedKernel" BIGINT NOT NULL DEFAULT 0,
    "samplesDroppedAgent" BIGINT NOT NULL DEFAULT 0,
    "samplesLostTransit" BIGINT NOT NULL DEFAULT 0,
    "samplesReceived" BIGINT NOT NULL DEFAULT 0,
    "batchesReceived" INTEGER NOT NULL DEFAULT 0,
    "seqGaps" INTEGER NOT NULL DEFAULT 0,
    "lastSeq" BIGINT NOT NULL DEFAULT 0,
    "startedAt" TIMESTAMP(3),
    "finishedAt" TIMESTAMP(3),

    CONSTRAINT "JobRun_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Frame" (
    "id" SERIAL NOT NULL,
    "key" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "kind" "FrameKind" NOT NULL,

    CONSTRAINT "Frame_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Stack" (
    "id" SERIAL NOT NULL,
    "key" TEXT NOT NULL,
    "frameIds" INTEGER[],

    CONSTRAINT "Stack_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Profile" (
    "id" UUID NOT NULL,
    "jobId" UUID NOT NULL,
    "runId" UUID NOT NULL,
    "totalSamples" BIGINT NOT NULL DEFAULT 0,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Profile_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ProfileSample" (
    "profileId" UUID NOT NULL,
    "stackId" INTEGER NOT NULL,
    "count" BIGINT NOT NULL,

    CONSTRAINT "ProfileSample_pkey" PRIMARY KEY ("profileId","stackId")
);

-- CreateIndex
CREATE UNIQUE INDEX "Node_name_key" ON "Node"("name");

-- CreateIndex
CREATE INDEX "Job_createdAt_idx" ON "Job"("createdAt");

-- CreateIndex
CREATE UNIQUE INDEX "JobRun_jobId_nodeId_key" ON "JobRun"("jobId", "nodeId");

-- CreateIndex
CREATE UNIQUE INDEX "Frame_key_key" ON "Frame"("key");

-- CreateIndex
CREATE UNIQUE INDEX "Stack_key_key" ON "Stack"("key");

-- CreateIndex
CREATE UNIQUE INDEX "Profile_runId_key" ON "Profile"("runId");

-- CreateIndex
CREATE INDEX "Profile_jobId_idx" ON "Profile"("jobId");

-- AddForeignKey
ALTER TABLE "JobRun" ADD CONSTRAINT "JobRun_jobId_fkey" FOREIGN KEY ("jobId") REFERENCES "Job"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "JobRun" ADD CONSTRAINT "JobRun_nodeId_fkey" FOREIGN KEY ("nodeId") REFERENCES "Node"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Profile" ADD CONSTRAINT "Profile_jobId_fkey" FOREIGN KEY ("jobId") REFERENCES "Job"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Profile" ADD CONSTRAINT "Profile_runId_fkey" FOREIGN KEY ("runId") REFERENCES "JobRun"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ProfileSample" ADD CONSTRAINT "ProfileSample_profileId_fkey" FOREIGN KEY ("profileId") REFERENCES "Profile"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ProfileSample" ADD CONSTRAINT "ProfileSample_stackId_fkey" FOREIGN KEY ("stackId") REFERENCES "Stack"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
