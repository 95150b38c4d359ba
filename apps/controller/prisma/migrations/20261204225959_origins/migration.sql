-- Origins (issue 16): where sampled processes ran (cgroup, container id, pod uid); samples are counted per
-- (stack, origin). Rows stored before have origin 0 ("not known"), which the new key column takes as default.
-- AlterTable
ALTER TABLE "ProfileSample" DROP CONSTRAINT "ProfileSample_pkey",
ADD COLUMN     "originId" INTEGER NOT NULL DEFAULT 0,
ADD CONSTRAINT "ProfileSample_pkey" PRIMARY KEY ("profileId", "stackId", "originId");

-- CreateTable
CREATE TABLE "Origin" (
    "id" SERIAL NOT NULL,
    "key" TEXT NOT NULL,
    "cgroup" TEXT NOT NULL,
    "containerId" TEXT,
    "podUid" TEXT,

    CONSTRAINT "Origin_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "Origin_key_key" ON "Origin"("key");

-- CreateIndex
CREATE INDEX "Origin_containerId_idx" ON "Origin"("containerId");
