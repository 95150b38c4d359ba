import type { Register } from '@tracefleet/proto';
import type { PrismaService } from '../prisma/prisma.service';
import { policyFromRegister } from './node-policy';
import { duplicateRefusal, type LiveSession } from './duplicate-agent';

/** One registration to record: the agent's Register and the session id this replica gave its stream. */
export interface Registration {
  reg: Register;
  sessionId: string;
}

/** What became of one registration: the node's id (and the replica that held it before), or why it was refused. */
export type Registered = { nodeId: string; previousReplicaId: string | null; refused?: undefined } | { refused: string; nodeId: string };

/**
 * Records many registrations in one transaction of two statements whatever their number (and one more per
 * refusal): the nodes' rows are locked (in name order, so that two replicas registering overlapping sets cannot
 * deadlock) and read, a registration is refused while another agent instance holds the node's live session
 * (duplicate-agent.ts) and counted on its row, and the others are written in one upsert. One at a time, a fleet
 * reconnecting at once (a replica restarted) cost a transaction per agent, four at a time (BENCHMARKS.md, fleet).
 *
 * Each name must appear at most once in `items` (the caller holds a second registration of a name back for
 * the next call, where it sees the first's session as any later registration would).
 */
export async function registerNodes(prisma: PrismaService, items: Registration[], replicaId: string, unreachableMs: number, at = new Date()): Promise<Registered[]> {
  if (items.length === 0) return [];
  const names = items.map((i) => i.reg.nodeName);
  if (new Set(names).size !== names.length) throw new Error('registerNodes: a node name appears twice in one call');
  // Prisma stores DateTime as UTC in a timestamp without time zone; an ISO string cast to it keeps that.
  const now = at.toISOString();
  return prisma.$transaction(async (tx) => {
    const rows = await tx.$queryRaw<(LiveSession & { id: string; name: string })[]>`
      SELECT "id"::text AS "id", "name", "status"::text AS "status", "sessionId"::text AS "sessionId", "instanceId", "replicaId", "lastSeenAt"
      FROM "Node" WHERE "name" = ANY(${names}::text[]) ORDER BY "name" FOR UPDATE`;
    const before = new Map(rows.map((r) => [r.name, r]));
    const out: (Registered | undefined)[] = new Array(items.length);
    const accepted: { i: number; row: Record<string, unknown> }[] = [];
    items.forEach(({ reg, sessionId }, i) => {
      const row = before.get(reg.nodeName);
      const refused = duplicateRefusal(reg.nodeName, row, reg.instanceId, at.getTime(), unreachableMs);
      if (refused && row) {
        out[i] = { refused, nodeId: row.id };
        return;
      }
      // A key left out (policy: none sent) is SQL NULL; a JSON null would be stored as the jsonb value null.
      const policy = policyFromRegister(reg.policy) ?? undefined;
      accepted.push({
        i,
        row: {
          name: reg.nodeName,
          labels: reg.labels,
          kernelRelease: reg.kernelRelease,
          btf: reg.btf,
          protocolVersion: reg.protocolVersion,
          capabilities: reg.capabilities,
          agentVersion: reg.agentVersion,
          cpus: reg.cpus,
          policy,
          sessionId,
          instanceId: reg.instanceId,
        },
      });
    });
    if (accepted.length > 0) {
      const written = await tx.$queryRaw<{ id: string; name: string }[]>`
        INSERT INTO "Node" ("id", "name", "labels", "kernelRelease", "btf", "protocolVersion", "capabilities", "agentVersion", "cpus", "policy",
          "status", "statusReason", "statusChangedAt", "replicaId", "sessionId", "instanceId", "connectedAt", "lastSeenAt")
        SELECT gen_random_uuid(), t."name", COALESCE(t."labels", '{}'::jsonb), t."kernelRelease", t."btf", t."protocolVersion", COALESCE(t."capabilities", '{}'::text[]),
          t."agentVersion", t."cpus", t."policy", 'connected'::"NodeStatus", NULL, ${now}::timestamp(3), ${replicaId}, t."sessionId"::uuid, t."instanceId",
          ${now}::timestamp(3), ${now}::timestamp(3)
        FROM jsonb_to_recordset(${JSON.stringify(accepted.map((a) => a.row))}::jsonb) AS t("name" text, "labels" jsonb, "kernelRelease" text, "btf" boolean,
          "protocolVersion" int, "capabilities" text[], "agentVersion" text, "cpus" int, "policy" jsonb, "sessionId" text, "instanceId" text)
        ON CONFLICT ("name") DO UPDATE SET
          "labels" = EXCLUDED."labels", "kernelRelease" = EXCLUDED."kernelRelease", "btf" = EXCLUDED."btf", "protocolVersion" = EXCLUDED."protocolVersion",
          "capabilities" = EXCLUDED."capabilities", "agentVersion" = EXCLUDED."agentVersion", "cpus" = EXCLUDED."cpus", "policy" = EXCLUDED."policy",
          "status" = EXCLUDED."status", "statusReason" = NULL, "statusChangedAt" = EXCLUDED."statusChangedAt", "replicaId" = EXCLUDED."replicaId",
          "sessionId" = EXCLUDED."sessionId", "instanceId" = EXCLUDED."instanceId", "connectedAt" = EXCLUDED."connectedAt", "lastSeenAt" = EXCLUDED."lastSeenAt"
        RETURNING "id"::text AS "id", "name"`;
      const ids = new Map(written.map((w) => [w.name, w.id]));
      for (const { i } of accepted) {
        const name = items[i].reg.nodeName;
        const nodeId = ids.get(name);
        if (!nodeId) throw new Error(`registering node ${name}: its row was not written`);
        out[i] = { nodeId, previousReplicaId: before.get(name)?.replicaId ?? null };
      }
    }
    for (const r of out) {
      if (!r?.refused) continue;
      await tx.node.update({
        where: { id: r.nodeId },
        data: { duplicatesRefused: { increment: 1 }, lastDuplicate: r.refused.slice(0, 500), lastDuplicateAt: at },
      });
    }
    return out as Registered[];
  });
}
