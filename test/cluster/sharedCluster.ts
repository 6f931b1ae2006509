// One control plane for the files of an integration lane (test/cluster/README.md, "Lanes, and one
// control plane per lane"): the lane's globalSetup (sharedClusterSetup.ts) starts it with OLM's
// CRDs and records what it holds then (the baseline); each test file that needs no special
// API-server flag attaches to it (attachControlPlane) instead of starting its own. A lane's files
// run one at a time (vitest.config.ts), and a file gets the cluster as the baseline: what an
// earlier file left (a crash included) is removed when it attaches, what it made itself when it
// detaches (cp.stop()). The programs a file runs next to the cluster (olm-operator's supervisor,
// the Helm hook Job runner, guards, controllers) are its own and stop with it; the daemons stay.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startControlPlane, toolEnv, type ControlPlane, type ExecOptions } from './controlPlane.ts';
import { startHookJobRunner } from './hookJobRunner.ts';
import { kubeClient, type KubeClient } from './kubeClient.ts';
import { applyOlmCrds, installOlm, type OlmMode } from './olm.ts';
import { startOlmSupervisor } from './olmSupervisor.ts';
import { binPath } from './paths.ts';
import { registerDir, run, startWatchdog, tail, unregisterDir, waitFor } from './proc.ts';
import type { CA } from './pki.ts';

/** What a test file needs to reach the shared cluster (passed from globalSetup; plain data). */
export interface SharedClusterInfo {
  dir: string;
  server: string;
  kubeconfigPath: string;
  auditLogPath: string;
  ca: CA;
  admin: { cert: string; key: string };
  /** Log files of the cluster's daemons, by name. */
  logs: Record<string, string>;
  baseline: Baseline;
}

/** Names of the cluster-scoped objects (and namespaces) the cluster held before any test file ran. */
export type Baseline = Record<ClusterKind, string[]>;

/** What a test file may leave behind that outlives it, in the order a reset removes it. */
const KINDS = {
  // First: a fail-closed webhook or an unavailable APIService would block the rest.
  validatingwebhookconfigurations: '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations',
  mutatingwebhookconfigurations: '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations',
  apiservices: '/apis/apiregistration.k8s.io/v1/apiservices',
  namespaces: '/api/v1/namespaces',
  // After the namespaces, whose objects a CRD's deletion would otherwise wait for.
  customresourcedefinitions: '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
  clusterrolebindings: '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings',
  clusterroles: '/apis/rbac.authorization.k8s.io/v1/clusterroles',
} as const;
type ClusterKind = keyof typeof KINDS;

interface Meta {
  metadata: { name: string; deletionTimestamp?: string };
  spec?: { service?: unknown };
}

async function names(client: KubeClient, kind: ClusterKind): Promise<string[]> {
  const list = await client.must<{ items: Meta[] }>('GET', KINDS[kind]);
  return list.items.map((i) => i.metadata.name);
}

async function baselineOf(client: KubeClient): Promise<Baseline> {
  const out = {} as Baseline;
  for (const kind of Object.keys(KINDS) as ClusterKind[]) out[kind] = await names(client, kind);
  return out;
}

/** Starts the shared cluster: the control plane, no host programs of its own, OLM's CRDs. */
export async function startSharedCluster(log: (line: string) => void): Promise<{ cp: ControlPlane; info: SharedClusterInfo }> {
  const cp = await startControlPlane({ olm: 'none', hostHookJobs: false, log });
  try {
    // Cheap, and most files want them (the guard watches CSVs once their CRD exists).
    await applyOlmCrds(cp);
    const pki = join(cp.dir, 'pki');
    return {
      cp,
      info: {
        dir: cp.dir,
        server: cp.server,
        kubeconfigPath: cp.kubeconfigPath,
        auditLogPath: cp.auditLogPath,
        ca: cp.ca,
        admin: { cert: join(pki, 'admin.crt'), key: join(pki, 'admin.key') },
        logs: cp.logs(),
        baseline: await baselineOf(cp.client),
      },
    };
  } catch (e) {
    await cp.stop();
    throw e;
  }
}

export interface AttachOptions {
  /** 'crds' (the cluster has them) starts olm-operator's supervisor; 'quickstart' also installs OLM. */
  olm?: OlmMode;
  log?: (line: string) => void;
}

const NOT_HERE = "the shared control plane is not a test file's to stop: start a control plane of its own (startControlPlane) for that";

/**
 * The shared cluster as a ControlPlane for one test file: reset to the baseline, with the file's
 * own dir, tool environment, hook Job runner and (olm) olm-operator supervisor. Its stop() resets
 * the cluster again and stops only what the file started.
 */
export async function attachControlPlane(info: SharedClusterInfo, o: AttachOptions = {}): Promise<ControlPlane> {
  const log = o.log ?? ((line: string) => process.stderr.write(`[cluster] ${line}\n`));
  const dir = mkdtempSync(join(info.dir, 'file-'));
  registerDir(dir);
  const logsDir = join(dir, 'logs');
  const home = join(dir, 'home');
  for (const d of [logsDir, home]) mkdirSync(d, { recursive: true });
  const groupsFile = join(dir, 'pgids');
  writeFileSync(groupsFile, '');
  // If this worker dies, what it started (olm-operator, guards, controllers) goes with it.
  startWatchdog(process.pid, dir, groupsFile);
  const client = kubeClient({ server: info.server, caPem: info.ca.pem, certFile: info.admin.cert, keyFile: info.admin.key });
  const env = toolEnv(home, info.kubeconfigPath);
  const exec = (cmd: string, args: string[], x: ExecOptions = {}) =>
    run(cmd, args, { env: { ...env, ...x.env }, timeoutMs: x.timeoutMs ?? 120_000, ...(x.input !== undefined ? { input: x.input } : {}) });

  const t0 = Date.now();
  let stopped = false;
  const cp: ControlPlane = {
    kubeconfigPath: info.kubeconfigPath,
    server: info.server,
    caPem: info.ca.pem,
    ca: info.ca,
    dir,
    auditLogPath: info.auditLogPath,
    client,
    env,
    kubectl: (args, x) => exec(binPath('kubectl'), args, x),
    helm: (version, args, x) => exec(binPath(version === 3 ? 'helm3' : 'helm4'), args, x),
    helmSdkUninstall: (args, x) => exec(binPath('helm-sdk-uninstall'), args, x),
    logs: () => ({ ...info.logs }),
    diagnostics: (lines = 30) =>
      Object.entries(info.logs)
        .map(([name, path]) => `----- ${name} ${path}\n${tail(path, lines)}`)
        .join('\n') + (cp.olm ? `\n${cp.olm.diagnostics(lines)}` : ''),
    async stop() {
      if (stopped) return;
      stopped = true;
      await cp.olm?.stop().catch(() => undefined);
      await cp.hookJobs?.stop().catch(() => undefined);
      try {
        await resetToBaseline({ client, kubeconfigPath: info.kubeconfigPath, home }, info.baseline, log);
      } finally {
        client.close();
        rmSync(dir, { recursive: true, force: true });
        unregisterDir(dir);
      }
    },
    stopComponent: () => Promise.reject(new Error(NOT_HERE)),
    startComponent: () => Promise.reject(new Error(NOT_HERE)),
  };
  await resetToBaseline({ client, kubeconfigPath: info.kubeconfigPath, home }, info.baseline, log);
  cp.hookJobs = startHookJobRunner({ client, server: info.server, caPem: info.ca.pem, dir: join(dir, 'hook-jobs'), log });
  if (o.olm && o.olm !== 'none') {
    cp.olm = startOlmSupervisor({ client, server: info.server, caPem: info.ca.pem, dir, logDir: logsDir, groupsFile, log });
    if (o.olm === 'quickstart') await installOlm(cp, 'quickstart', { log });
  }
  log(`attached to the shared control plane in ${((Date.now() - t0) / 1000).toFixed(1)}s (${info.server})`);
  return cp;
}

/** The cluster a reset acts on, as its admin. */
export interface ResetTarget {
  client: KubeClient;
  kubeconfigPath: string;
  /** kubectl's HOME (its discovery cache goes there). */
  home: string;
}

/** How long a reset waits for what it deleted, before it names what is left. */
const RESET_TIMEOUT_MS = 120_000;
/** A Terminating namespace still there after this long is freed of the finalizers holding it. */
const STRIP_AFTER_MS = 5_000;

interface NamespaceMeta extends Meta {
  status?: { conditions?: Array<{ type: string; status: string; message?: string }> };
}

/** `kubectl`'s name for a resource the namespace deleter reports ("configmaps." is core). */
const resourceArg = (r: string) => (r.endsWith('.') ? r.slice(0, -1) : r);

/**
 * Removes everything not in `baseline`: webhook configurations and APIServices first (they can
 * block the rest), then namespaces (finalizers still holding one after STRIP_AFTER_MS are removed:
 * their controllers stopped with the file), then CRDs (their remaining objects likewise), then
 * ClusterRoles/Bindings. Helm releases in the baseline namespaces (default, kube-system) go too.
 */
export async function resetToBaseline(c: ResetTarget, baseline: Baseline, log: (line: string) => void): Promise<void> {
  const { client } = c;
  const t0 = Date.now();
  const removed: string[] = [];
  for (const kind of Object.keys(KINDS) as ClusterKind[]) {
    const keep = new Set(baseline[kind]);
    const list = await client.must<{ items: Meta[] }>('GET', KINDS[kind]);
    // APIServices of CRDs and built-in groups are the API server's own (no service); they come and go with the CRDs.
    const extra = list.items.filter((i) => !keep.has(i.metadata.name) && (kind !== 'apiservices' || i.spec?.service));
    for (const i of extra) {
      removed.push(`${kind}/${i.metadata.name}`);
      if (!i.metadata.deletionTimestamp) await client.request('DELETE', `${KINDS[kind]}/${i.metadata.name}`);
    }
    if (kind === 'namespaces') await releasesInBaselineNamespaces(c, baseline.namespaces, removed);
    if (!extra.length || !['namespaces', 'customresourcedefinitions'].includes(kind)) continue;
    const started = Date.now();
    await waitFor(
      `${kind} left by a test file gone (${extra.map((i) => i.metadata.name).join(', ')})`,
      RESET_TIMEOUT_MS,
      async () => {
        const left = (await client.must<{ items: NamespaceMeta[] }>('GET', KINDS[kind])).items.filter((i) => !keep.has(i.metadata.name));
        if (!left.length) return true;
        if (Date.now() - started > STRIP_AFTER_MS) {
          for (const i of left) await (kind === 'namespaces' ? freeNamespace(c, i) : freeCrd(c, i.metadata.name));
        }
        return undefined;
      },
      500,
    );
  }
  if (removed.length) log(`reset to the baseline in ${((Date.now() - t0) / 1000).toFixed(1)}s: removed ${removed.join(', ')}`);
}

/** Drops the finalizers of whatever the namespace deleter reports as remaining in a Terminating namespace. */
async function freeNamespace(c: ResetTarget, ns: NamespaceMeta): Promise<void> {
  const content = ns.status?.conditions?.find((c) => c.type === 'NamespaceContentRemaining' && c.status === 'True');
  // "Some resources are remaining: clusterserviceversions.operators.coreos.com has 1 resource instances, ..."
  for (const m of (content?.message ?? '').matchAll(/(\S+) has \d+ resource instances/g)) {
    const resource = resourceArg(m[1]!);
    const objects = (await runKubectl(c, ['get', resource, '-n', ns.metadata.name, '-o', 'name'])).split('\n').filter(Boolean);
    for (const o of objects) await runKubectl(c, ['patch', o, '-n', ns.metadata.name, '--type=merge', '-p', '{"metadata":{"finalizers":null}}']);
  }
}

/** Drops the finalizers of a deleting CRD's remaining objects, in every namespace. */
async function freeCrd(c: ResetTarget, crd: string): Promise<void> {
  const rows = (await runKubectl(c, ['get', crd, '-A', '-o', 'jsonpath={range .items[*]}{.metadata.namespace}{" "}{.metadata.name}{"\\n"}{end}']))
    .split('\n')
    .filter(Boolean);
  for (const row of rows) {
    const [ns, name] = row.split(' ');
    await runKubectl(c, ['patch', crd, name ?? ns!, ...(name ? ['-n', ns!] : []), '--type=merge', '-p', '{"metadata":{"finalizers":null}}']);
  }
}

/** Helm releases a file installed in namespaces that stay (default, kube-system): records and released objects. */
async function releasesInBaselineNamespaces(c: ResetTarget, namespaces: string[], removed: string[]): Promise<void> {
  for (const [kinds, selector] of [
    ['secrets,configmaps', 'owner=helm'],
    ['deployments,services,configmaps,serviceaccounts,jobs,roles,rolebindings', 'app.kubernetes.io/managed-by=Helm'],
  ] as const) {
    const listed = await runKubectl(c, [
      'get',
      kinds,
      '-A',
      '-l',
      selector,
      '-o',
      'jsonpath={range .items[*]}{.metadata.namespace}{" "}{.kind}{" "}{.metadata.name}{"\\n"}{end}',
    ]);
    for (const row of listed.split('\n').filter(Boolean)) {
      const [ns, kind, name] = row.split(' ') as [string, string, string];
      if (!namespaces.includes(ns)) continue;
      await runKubectl(c, ['delete', kind, name, '-n', ns, '--ignore-not-found', '--wait=false']);
      removed.push(`${ns}/${kind}/${name}`);
    }
  }
}

/** kubectl as the cluster's admin. */
async function runKubectl(c: ResetTarget, args: string[]): Promise<string> {
  const r = await run(binPath('kubectl'), args, { env: { PATH: process.env.PATH, HOME: c.home, KUBECONFIG: c.kubeconfigPath }, timeoutMs: 60_000 });
  if (r.code !== 0 && !/NotFound|not found|the server doesn't have a resource type/.test(r.stderr)) {
    throw new Error(`kubectl ${args.join(' ')}: ${r.stderr.trim()}`);
  }
  return r.stdout;
}
