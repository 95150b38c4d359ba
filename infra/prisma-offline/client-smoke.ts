// Round trip through the generated Prisma Client (generator "prisma-client", moduleFormat cjs),
// compiled the way apps/controller compiles it (tsc, module commonjs). Used by
// prisma-offline.test.mjs; by hand:
//   node infra/prisma-offline/prisma.mjs generate
//   npx tsc --outDir infra/prisma-offline/dist --rootDir . --module commonjs --target es2022 \
//     --moduleResolution node --esModuleInterop --skipLibCheck --types node infra/prisma-offline/client-smoke.ts
//   DATABASE_URL=postgresql://postgres@127.0.0.1:5432/<migrated db> node infra/prisma-offline/dist/infra/prisma-offline/client-smoke.js
// Prints one JSON line with what it read back.
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient, Prisma, NodeStatus } from '../../apps/controller/src/generated/prisma/client';

async function main(): Promise<void> {
  const connectionString = process.env.DATABASE_URL;
  if (!connectionString) throw new Error('DATABASE_URL is not set');
  const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString }) });
  try {
    const name = `smoke-${process.pid}-${Date.now()}`;
    const node = await prisma.node.create({
      data: {
        name,
        labels: { zone: 'a', gpu: false },
        kernelRelease: '6.1.0-smoke',
        btf: true,
        protocolVersion: 1,
        capabilities: ['cpu_profile'],
        agentVersion: '0.1.0',
        status: NodeStatus.connected,
      },
    });
    const job = await prisma.job.create({
      data: { type: 'cpu_profile', params: { durationSec: 5, frequencyHz: 99 }, durationSec: 5 },
    });
    const big = 2n ** 53n + 7n; // not representable as a JS number
    await prisma.jobRun.create({
      data: { jobId: job.id, nodeId: node.id, samplesTaken: big, lastSeq: 42n },
    });
    const read = await prisma.node.findUniqueOrThrow({
      where: { name },
      include: { runs: true },
    });
    const run = read.runs[0];
    const total = await prisma.jobRun.aggregate({ _sum: { samplesTaken: true }, where: { nodeId: node.id } });
    const labelMatch = await prisma.node.count({ where: { labels: { path: ['zone'], equals: 'a' }, name } });
    const out = {
      nodeName: read.name,
      status: read.status,
      capabilities: read.capabilities,
      labels: read.labels as Prisma.JsonObject,
      samplesTakenType: typeof run.samplesTaken,
      samplesTaken: run.samplesTaken.toString(),
      samplesTakenExact: run.samplesTaken === big,
      lastSeq: run.lastSeq.toString(),
      samplesDroppedKernel: run.samplesDroppedKernel.toString(),
      sumSamplesTaken: total._sum.samplesTaken?.toString() ?? null,
      labelMatch,
    };
    await prisma.job.delete({ where: { id: job.id } }); // cascades to the run, which references the node
    await prisma.node.delete({ where: { id: node.id } });
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } finally {
    await prisma.$disconnect();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
