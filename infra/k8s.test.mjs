// infra/k8s checked offline (no cluster): it renders with `kubectl kustomize` (alone and with its components),
// every document is a known Kubernetes kind that validates against the API's schemas (kubernetes-models 4.5.1,
// Kubernetes 1.27) with no unknown field, and the workloads keep the security properties README.md promises.
// Each checker is also run on a broken copy, to prove it can fail. A missing tool or module fails the test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { AGENT_CAPS, k8sDir, read, root, run, systemdDir } from './fleet-install-lib.mjs';


// ---------------------------------------------------------------- Kubernetes

function kustomize(dir) {
  const res = run('kubectl', ['kustomize', dir]);
  assert.equal(res.status, 0, `kubectl kustomize ${dir} failed:\n${res.stderr}`);
  return parseYamlStream(res.stdout, dir);
}

function parseYamlStream(text, where) {
  const docs = parseAllDocuments(text);
  for (const d of docs) assert.deepEqual(d.errors, [], `${where}: YAML errors ${d.errors.map((e) => e.message).join('; ')}`);
  return docs.map((d) => d.toJS()).filter((d) => d !== null);
}

/** The base rendered with components: an overlay in a temporary directory (kustomize wants relative paths). */
function renderWith(components) {
  const dir = mkdtempSync(join(tmpdir(), 'tf-k8s-'));
  try {
    const rel = (p) => relative(dir, p);
    writeFileSync(join(dir, 'kustomization.yaml'), [
      'apiVersion: kustomize.config.k8s.io/v1beta1',
      'kind: Kustomization',
      'resources:',
      `  - ${rel(k8sDir)}`,
      'components:',
      ...components.map((c) => `  - ${rel(join(k8sDir, 'components', c))}`),
      '',
    ].join('\n'));
    return kustomize(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The kubernetes-models class of a document's kind; fails for a kind it does not know. */
async function modelOf(doc) {
  assert.ok(typeof doc.apiVersion === 'string' && typeof doc.kind === 'string', `a document without apiVersion/kind: ${JSON.stringify(doc).slice(0, 120)}`);
  let mod;
  try {
    // "apps/v1" → kubernetes-models/apps/v1/Kind; the core group's "v1" → kubernetes-models/v1/Kind.
    mod = await import(`kubernetes-models/${doc.apiVersion}/${doc.kind}`);
  } catch (err) {
    assert.fail(`unknown kind ${doc.apiVersion} ${doc.kind} (${err.code ?? err.message})`);
  }
  assert.equal(typeof mod[doc.kind], 'function', `kubernetes-models has no ${doc.apiVersion} ${doc.kind}`);
  return mod[doc.kind];
}

/**
 * The schema's validator reads every property it knows of an object and enumerates only maps (labels,
 * data, resources...). Run it on proxies that record this: a key never read in an object never
 * enumerated is a field the schema does not have (kubernetes-models alone accepts unknown fields,
 * which the API server would drop or refuse).
 */
function tracked(value, path, records) {
  if (Array.isArray(value)) return value.map((v, i) => tracked(v, `${path}/${i}`, records));
  if (value === null || typeof value !== 'object') return value;
  const rec = { path, keys: Object.keys(value), read: new Set(), enumerated: false };
  records.push(rec);
  const target = {};
  for (const k of rec.keys) target[k] = tracked(value[k], `${path}/${k}`, records);
  return new Proxy(target, {
    get(t, k, r) {
      if (typeof k === 'string') rec.read.add(k);
      return Reflect.get(t, k, r);
    },
    has(t, k) {
      if (typeof k === 'string') rec.read.add(k);
      return Reflect.has(t, k);
    },
    ownKeys(t) {
      rec.enumerated = true;
      return Reflect.ownKeys(t);
    },
  });
}

/** Schema errors (thrown by validate()) and unknown fields of one document, as messages. */
async function schemaProblems(doc) {
  const Model = await modelOf(doc);
  const problems = [];
  try {
    new Model(structuredClone(doc)).validate();
  } catch (err) {
    problems.push(`${doc.kind}/${doc.metadata?.name}: ${err.message}`);
  }
  const records = [];
  const { apiVersion, kind, ...rest } = doc;
  const proxy = tracked(rest, '', records);
  try {
    Model.prototype.validate.call(proxy);
  } catch {
    // reported above
  }
  for (const rec of records) {
    if (rec.path === '' || rec.enumerated) continue;
    for (const k of rec.keys) if (!rec.read.has(k)) problems.push(`${kind}/${doc.metadata?.name}: unknown field ${rec.path}/${k}`);
  }
  // Top level: fields of the kind's own schema (spec, data, stringData, type, ...) were read on the proxy;
  // a field with no constraint at all (PriorityClass's description) is not, but its class declares it.
  const top = records.find((r) => r.path === '');
  const declared = readFileSync(join(root, 'node_modules/kubernetes-models', apiVersion, `${kind}.d.ts`), 'utf8');
  for (const k of top.keys) {
    if (!top.read.has(k) && !new RegExp(`^\\s*"?${k}"?\\??:`, 'm').test(declared)) problems.push(`${kind}/${doc.metadata?.name}: unknown field /${k}`);
  }
  return problems;
}

const byKind = (docs, kind, name) => docs.filter((d) => d.kind === kind && (name === undefined || d.metadata?.name === name));
const one = (docs, kind, name) => {
  const found = byKind(docs, kind, name);
  assert.equal(found.length, 1, `expected one ${kind} ${name ?? ''}, found ${found.length}`);
  return found[0];
};
const podSpec = (w) => w.spec.template.spec;
const allContainers = (spec) => [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
const envOf = (c) => Object.fromEntries((c.env ?? []).map((e) => [e.name, e]));

/** Everything the agent DaemonSet must be; an empty list when it is. */
function agentProblems(ds, { sysAdmin = false } = {}) {
  const p = [];
  const spec = podSpec(ds);
  if (spec.hostPID !== true) p.push('hostPID is not true');
  if (spec.hostNetwork === true) p.push('hostNetwork is on');
  if (spec.hostIPC === true) p.push('hostIPC is on');
  if (!(spec.tolerations ?? []).some((t) => t.operator === 'Exists' && !t.key)) p.push('does not tolerate every taint');
  const [c, ...others] = spec.containers;
  if (others.length || (spec.initContainers ?? []).length) p.push('more than the agent container');
  if (c.image !== 'tracefleet/agent:0.1.0') p.push(`image ${c.image}`);
  const sc = c.securityContext ?? {};
  if (sc.privileged !== false) p.push(`privileged is ${sc.privileged} (must be false, explicitly)`);
  if (sc.allowPrivilegeEscalation !== false) p.push('allowPrivilegeEscalation is not false');
  if (sc.readOnlyRootFilesystem !== true) p.push('root file system is writable');
  if (JSON.stringify(sc.capabilities?.drop) !== '["ALL"]') p.push(`drops ${JSON.stringify(sc.capabilities?.drop)}, not [ALL]`);
  const want = [...AGENT_CAPS, ...(sysAdmin ? ['SYS_ADMIN'] : [])].sort();
  const got = [...(sc.capabilities?.add ?? [])].sort();
  if (JSON.stringify(got) !== JSON.stringify(want)) p.push(`adds ${got.join(',')}, want ${want.join(',')}`);
  const seccomp = sc.seccompProfile?.type ?? spec.securityContext?.seccompProfile?.type;
  if (seccomp !== 'RuntimeDefault') p.push(`seccomp ${seccomp}`);
  const env = envOf(c);
  if (env.TRACEFLEET_NODE_NAME?.valueFrom?.fieldRef?.fieldPath !== 'spec.nodeName') p.push('TRACEFLEET_NODE_NAME is not spec.nodeName');
  if (!env.TRACEFLEET_ENROLLMENT_TOKEN?.valueFrom?.secretKeyRef) p.push('the enrollment token is not from a Secret');
  // Host paths: exactly these, the kernel's read-only, the state directory the only writable one.
  const hostPaths = Object.fromEntries(spec.volumes.filter((v) => v.hostPath).map((v) => [v.name, v.hostPath]));
  const allowed = { '/var/lib/tracefleet/agent': 'DirectoryOrCreate', '/sys/kernel/btf': 'Directory', '/sys/kernel/tracing': 'Directory' };
  for (const [name, hp] of Object.entries(hostPaths)) {
    if (!(hp.path in allowed)) p.push(`host path ${hp.path} is not one the agent needs`);
    else if (allowed[hp.path] !== hp.type) p.push(`host path ${hp.path}: type ${hp.type}`);
    const mount = c.volumeMounts.find((m) => m.name === name);
    if (!mount) p.push(`host path ${hp.path} not mounted`);
    else if (hp.path !== '/var/lib/tracefleet/agent' && mount.readOnly !== true) p.push(`host path ${hp.path} mounted writable`);
  }
  for (const path of Object.keys(allowed)) if (!Object.values(hostPaths).some((hp) => hp.path === path)) p.push(`no host path ${path}`);
  const state = c.volumeMounts.find((m) => hostPaths[m.name]?.path === '/var/lib/tracefleet/agent');
  if (state?.mountPath !== envOf(c).TRACEFLEET_AGENT_STATE_DIR?.value && state?.mountPath !== '/var/lib/tracefleet/agent') p.push('state directory not mounted where the agent keeps it');
  return p;
}

/** Everything the controller Deployment must be. */
function controllerProblems(dep) {
  const p = [];
  if (!(dep.spec.replicas >= 2)) p.push(`replicas ${dep.spec.replicas}`);
  const spec = podSpec(dep);
  if (spec.hostPID || spec.hostNetwork || spec.hostIPC) p.push('uses a host namespace');
  if (spec.securityContext?.runAsNonRoot !== true) p.push('pod runAsNonRoot is not true');
  if (spec.volumes?.some((v) => v.hostPath)) p.push('mounts a host path');
  for (const c of allContainers(spec)) {
    const sc = c.securityContext ?? {};
    if (!c.image.startsWith('tracefleet/controller:0.1.0')) p.push(`${c.name}: image ${c.image}`);
    if (sc.readOnlyRootFilesystem !== true) p.push(`${c.name}: root file system writable`);
    if (sc.allowPrivilegeEscalation !== false) p.push(`${c.name}: privilege escalation allowed`);
    if (sc.privileged) p.push(`${c.name}: privileged`);
    if (JSON.stringify(sc.capabilities?.drop) !== '["ALL"]' || sc.capabilities?.add?.length) p.push(`${c.name}: capabilities ${JSON.stringify(sc.capabilities)}`);
    if ((sc.seccompProfile?.type ?? spec.securityContext?.seccompProfile?.type) !== 'RuntimeDefault') p.push(`${c.name}: seccomp not RuntimeDefault`);
    if (!c.resources?.requests?.cpu || !c.resources?.requests?.memory || !c.resources?.limits?.memory) p.push(`${c.name}: resources unset`);
  }
  const c = spec.containers.find((x) => x.name === 'controller');
  if (!c) return [...p, 'no controller container'];
  if (c.readinessProbe?.httpGet?.path !== '/api/v1/health/ready') p.push(`readiness ${c.readinessProbe?.httpGet?.path}`);
  if (c.livenessProbe?.httpGet?.path !== '/api/v1/health/live') p.push(`liveness ${c.livenessProbe?.httpGet?.path}`);
  const ports = Object.fromEntries(c.ports.map((x) => [x.name, x.containerPort]));
  for (const [name, port] of Object.entries({ http: 8080, grpc: 50051, enroll: 50052 })) if (ports[name] !== port) p.push(`port ${name} is ${ports[name]}, not ${port}`);
  for (const probe of [c.readinessProbe, c.livenessProbe]) if (![8080, 'http'].includes(probe?.httpGet?.port)) p.push(`probe on port ${probe?.httpGet?.port}`);
  return p;
}

/** Runs as uid 0, or may (no runAsNonRoot and no non-zero runAsUser, where the image decides). */
function mayRunAsRoot(spec, c) {
  const uid = c.securityContext?.runAsUser ?? spec.securityContext?.runAsUser;
  const nonRoot = c.securityContext?.runAsNonRoot ?? spec.securityContext?.runAsNonRoot;
  return uid === 0 || (nonRoot !== true && uid === undefined);
}

test('kubectl and kubernetes-models are there (the manifest checks need them)', async () => {
  const res = run('kubectl', ['version', '--client']);
  assert.equal(res.status, 0, res.stderr);
  const { Deployment } = await import('kubernetes-models/apps/v1/Deployment');
  assert.equal(typeof Deployment, 'function');
  const pkg = JSON.parse(readFileSync(join(root, 'node_modules/kubernetes-models/package.json'), 'utf8'));
  assert.equal(pkg.version, '4.5.1');
});

test('the base renders to known kinds that validate against the Kubernetes schemas, with no unknown field', async () => {
  const docs = kustomize(k8sDir);
  const kinds = docs.map((d) => `${d.kind}/${d.metadata.name}`).sort();
  assert.deepEqual(kinds, [
    'ConfigMap/tracefleet-agent', 'ConfigMap/tracefleet-agent-policy', 'ConfigMap/tracefleet-controller',
    'DaemonSet/tracefleet-agent', 'Deployment/tracefleet-controller', 'Namespace/tracefleet',
    'PodDisruptionBudget/tracefleet-controller', 'PriorityClass/tracefleet-agent',
    'Service/tracefleet-controller', 'Service/tracefleet-controller-agents',
    'ServiceAccount/tracefleet-agent', 'ServiceAccount/tracefleet-controller',
  ]);
  // No Secret in the base: re-applying it must never overwrite real credentials with placeholders.
  assert.equal(byKind(docs, 'Secret').length, 0);
  const problems = (await Promise.all(docs.map(schemaProblems))).flat();
  assert.deepEqual(problems, []);
  for (const d of docs) {
    if (['Namespace', 'PriorityClass'].includes(d.kind)) continue;
    assert.equal(d.metadata.namespace, 'tracefleet', `${d.kind}/${d.metadata.name} outside the tracefleet namespace`);
  }
});

test('the validator rejects a wrong type and an unknown field (the check can fail)', async () => {
  const docs = kustomize(k8sDir);
  const dep = structuredClone(one(docs, 'Deployment', 'tracefleet-controller'));
  dep.spec.replicas = 'three';
  assert.match((await schemaProblems(dep)).join('\n'), /replicas must be integer/);
  const ds = structuredClone(one(docs, 'DaemonSet', 'tracefleet-agent'));
  delete podSpec(ds).hostPID;
  podSpec(ds).hostPid = true; // misspelt: the API server would drop it, and the agent would see no host process
  assert.match((await schemaProblems(ds)).join('\n'), /unknown field \/spec\/template\/spec\/hostPid/);
  const svc = structuredClone(one(docs, 'Service', 'tracefleet-controller'));
  svc.spec.ports[0].port = '8080';
  assert.notDeepEqual(await schemaProblems(svc), []);
  await assert.rejects(() => modelOf({ apiVersion: 'apps/v1', kind: 'DaemonSett' }), /unknown kind/);
});

test('the agent DaemonSet: hostPID, exactly its capabilities, not privileged, read-only kernel paths', () => {
  const docs = kustomize(k8sDir);
  const ds = one(docs, 'DaemonSet', 'tracefleet-agent');
  assert.deepEqual(agentProblems(ds), []);
  assert.equal(podSpec(ds).priorityClassName, 'tracefleet-agent');
  // Hostile copies: each must be caught.
  const privileged = structuredClone(ds);
  podSpec(privileged).containers[0].securityContext.privileged = true;
  assert.match(agentProblems(privileged).join('\n'), /privileged is true/);
  const sysAdmin = structuredClone(ds);
  podSpec(sysAdmin).containers[0].securityContext.capabilities.add.push('SYS_ADMIN');
  assert.match(agentProblems(sysAdmin).join('\n'), /adds .*SYS_ADMIN/);
  const rootFs = structuredClone(ds);
  podSpec(rootFs).volumes.push({ name: 'host', hostPath: { path: '/' } });
  podSpec(rootFs).containers[0].volumeMounts.push({ name: 'host', mountPath: '/host' });
  assert.match(agentProblems(rootFs).join('\n'), /host path \/ is not one the agent needs/);
});

test('the controller Deployment: replicas, health probes, ports, non-root and read-only', () => {
  const docs = kustomize(k8sDir);
  const dep = one(docs, 'Deployment', 'tracefleet-controller');
  assert.deepEqual(controllerProblems(dep), []);
  const bad = structuredClone(dep);
  bad.spec.replicas = 1;
  podSpec(bad).containers[0].readinessProbe.httpGet.path = '/api/v1/health';
  assert.equal(controllerProblems(bad).length, 2);
  // The ports agree with the controller's own settings (ConfigMap) and the Services.
  const cfg = one(docs, 'ConfigMap', 'tracefleet-controller').data;
  assert.equal(cfg.HOST, '0.0.0.0');
  assert.equal(cfg.PORT, '8080');
  assert.equal(cfg.TRACEFLEET_GRPC_ADDR, '0.0.0.0:50051');
  assert.equal(cfg.TRACEFLEET_ENROLL_ADDR, '0.0.0.0:50052');
  const named = Object.fromEntries(podSpec(dep).containers[0].ports.map((x) => [x.name, x.containerPort]));
  for (const svc of byKind(docs, 'Service')) {
    assert.deepEqual(svc.spec.selector, dep.spec.selector.matchLabels, `${svc.metadata.name} selects other pods`);
    for (const port of svc.spec.ports) assert.ok(port.targetPort in named, `${svc.metadata.name}: target port ${port.targetPort} is not a container port`);
  }
  // What agents dial is in the server certificate's names.
  const agentCfg = one(docs, 'ConfigMap', 'tracefleet-agent').data;
  const sans = cfg.TRACEFLEET_GRPC_TLS_SANS.split(',');
  for (const addr of [agentCfg.TRACEFLEET_CONTROLLER_GRPC, agentCfg.TRACEFLEET_ENROLL_ADDR]) {
    const [host, port] = addr.split(':');
    assert.ok(sans.includes(host), `${host} is not in TRACEFLEET_GRPC_TLS_SANS`);
    const svc = one(docs, 'Service', host.split('.')[0]);
    assert.ok(svc.spec.ports.some((x) => String(x.port) === port), `${addr}: the Service has no port ${port}`);
  }
  const pdb = one(docs, 'PodDisruptionBudget', 'tracefleet-controller');
  assert.deepEqual(pdb.spec.selector.matchLabels, dep.spec.selector.matchLabels);
  assert.ok(pdb.spec.maxUnavailable < dep.spec.replicas);
});

test('no container runs as root except the agent', () => {
  const docs = kustomize(k8sDir);
  const rootContainers = [];
  for (const w of [...byKind(docs, 'Deployment'), ...byKind(docs, 'DaemonSet'), ...byKind(docs, 'StatefulSet'), ...byKind(docs, 'Job')]) {
    for (const c of allContainers(podSpec(w))) if (mayRunAsRoot(podSpec(w), c)) rootContainers.push(`${w.kind}/${w.metadata.name}/${c.name}`);
  }
  assert.deepEqual(rootContainers, ['DaemonSet/tracefleet-agent/agent']);
  const ctl = structuredClone(one(docs, 'Deployment', 'tracefleet-controller'));
  delete podSpec(ctl).securityContext.runAsNonRoot;
  delete podSpec(ctl).securityContext.runAsUser;
  for (const c of allContainers(podSpec(ctl))) delete c.securityContext.runAsNonRoot;
  assert.ok(mayRunAsRoot(podSpec(ctl), podSpec(ctl).containers[0]), 'a controller without runAsNonRoot went unnoticed');
});

test('the components render and validate: sys-admin adds only CAP_SYS_ADMIN, network-policy only policies', async () => {
  const base = kustomize(k8sDir);
  const withSysAdmin = renderWith(['sys-admin']);
  assert.deepEqual(agentProblems(one(withSysAdmin, 'DaemonSet', 'tracefleet-agent'), { sysAdmin: true }), []);
  assert.deepEqual(withSysAdmin.map((d) => `${d.kind}/${d.metadata.name}`).sort(), base.map((d) => `${d.kind}/${d.metadata.name}`).sort());
  const both = renderWith(['sys-admin', 'network-policy']);
  const policies = byKind(both, 'NetworkPolicy');
  assert.deepEqual(policies.map((p) => p.metadata.name).sort(), ['tracefleet-agent', 'tracefleet-controller']);
  for (const p of policies) assert.equal(p.metadata.namespace, 'tracefleet');
  assert.deepEqual((await Promise.all(both.map(schemaProblems))).flat(), []);
});

test('the Secret templates hold placeholders only, and every key the workloads use', async () => {
  const docs = parseYamlStream(readFileSync(join(k8sDir, 'secrets.example.yaml'), 'utf8'), 'secrets.example.yaml');
  assert.deepEqual(docs.map((d) => d.kind), ['Secret', 'Secret', 'Secret']);
  assert.deepEqual((await Promise.all(docs.map(schemaProblems))).flat(), []);
  const looksReal = (v) => /-----BEGIN|PRIVATE KEY|:\/\/[^/\s]*:[^@\s]+@/.test(v) || v.length >= 16 || /[A-Za-z0-9+/_-]{16,}/.test(v);
  for (const s of docs) {
    assert.equal(s.metadata.namespace, 'tracefleet');
    assert.equal(s.data, undefined, `${s.metadata.name}: base64 data could hide a real value; use stringData placeholders`);
    for (const [k, v] of Object.entries(s.stringData)) {
      assert.equal(typeof v, 'string');
      assert.ok(v === 'CHANGE-ME' && !looksReal(v), `${s.metadata.name}.${k} is not a placeholder: it looks like a real value`);
    }
  }
  assert.ok(looksReal('postgresql://tracefleet:s3cr3t@db:5432/tracefleet') && looksReal('9f2c1a7be03d4c58a1b2c3d4e5f60718'), 'the real-secret detector misses real secrets');
  // Every Secret and key a workload refers to is in the templates.
  const keys = Object.fromEntries(docs.map((s) => [s.metadata.name, new Set(Object.keys(s.stringData))]));
  const base = kustomize(k8sDir);
  for (const w of [...byKind(base, 'Deployment'), ...byKind(base, 'DaemonSet')]) {
    const spec = podSpec(w);
    for (const c of allContainers(spec)) {
      for (const from of c.envFrom ?? []) if (from.secretRef) assert.ok(keys[from.secretRef.name], `${c.name}: no template for Secret ${from.secretRef.name}`);
      for (const e of c.env ?? []) {
        const ref = e.valueFrom?.secretKeyRef;
        if (ref) assert.ok(keys[ref.name]?.has(ref.key), `${c.name}: ${ref.name}.${ref.key} is not in the templates`);
      }
    }
    for (const v of spec.volumes ?? []) {
      if (!v.secret) continue;
      for (const item of v.secret.items ?? []) assert.ok(keys[v.secret.secretName]?.has(item.key), `${v.secret.secretName}.${item.key} is not in the templates`);
    }
  }
  // The controller's required variables are all in its Secret or ConfigMap.
  const cfg = one(base, 'ConfigMap', 'tracefleet-controller').data;
  for (const v of ['DATABASE_URL', 'REDIS_URL', 'TRACEFLEET_API_TOKEN', 'TRACEFLEET_CAPTURE_TOKEN', 'TRACEFLEET_ENROLLMENT_TOKEN', 'TRACEFLEET_CA_CERT', 'TRACEFLEET_CA_KEY']) {
    assert.ok(keys['tracefleet-controller'].has(v) || v in cfg, `${v} is set nowhere`);
  }
});
