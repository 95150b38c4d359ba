import type { PrismaService } from '../prisma/prisma.service';
import { ResultStores } from '../common/result-stores';
import { MemleakService } from '../memleak/memleak.service';
import type { ProfilesService } from '../profiles/profiles.service';
import { RunsService } from '../runs/runs.service';
import { SslService } from '../ssl/ssl.service';
import { SyscountService } from '../syscount/syscount.service';
import { RunqlatService } from '../runqlat/runqlat.service';
import { BiolatencyService } from '../biolatency/biolatency.service';
import { TcpService } from '../tcp/tcp.service';
import { OomkillService } from '../oomkill/oomkill.service';
import { ExecOpenService } from '../exec-open/exec-open.service';
import { UsdtService } from '../usdt/usdt.service';

/** For the specs: RunsService with every job type's result stores registered, as Nest wires them. */
export function ingestServices(prisma: PrismaService, profiles: ProfilesService) {
  const stores = new ResultStores();
  const usdt = new UsdtService(prisma, profiles, stores);
  const memleak = new MemleakService(prisma, profiles, stores);
  const ssl = new SslService(prisma, profiles, stores);
  const syscount = new SyscountService(prisma, stores);
  const runqlat = new RunqlatService(prisma, stores);
  const biolatency = new BiolatencyService(prisma, stores);
  const tcp = new TcpService(prisma, stores);
  const oomkill = new OomkillService(prisma, stores);
  const execOpen = new ExecOpenService(prisma, stores);
  return { stores, usdt, memleak, ssl, syscount, runqlat, biolatency, tcp, oomkill, execOpen, runs: new RunsService(prisma, profiles, stores) };
}
