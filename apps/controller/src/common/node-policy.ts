/**
 * A node's own policy as it registered it (Register.policy), stored on the Node row and shown in
 * GET /nodes/:name. The agent enforces it whatever it is sent (apps/node-agent/src/policy.ts); the
 * controller uses it to place jobs where they will be admitted (nodes/node-policy.ts, and a job type's
 * own `nodePolicy` check), and to say why a node was skipped.
 */
export interface NodePolicy {
  allowJobTypes: string[];
  allowSslCapture: boolean;
  allowRedactionOff: boolean;
  maxConcurrentRuns: number;
  maxKernelMemoryBytes: number;
  maxDurationSec: number;
}
