// A kind cluster (or any existing cluster reachable through a kubeconfig) behind the same
// ControlPlane interface the loopback control plane offers (test/cluster/controlPlane.ts), so the
// scenario code in test/scenarios/ runs against it unchanged:
//   - kubeconfigPath, server, caPem, client (a KubeClient with the kubeconfig's credentials), env;
//   - kubectl, helm 3/4 and the Helm SDK program: the pinned host binaries when built
//     (`npm run build:binaries`), else whatever is on PATH;
//   - olm: the same OlmSupervisor interface, but OLM runs in the cluster as real pods, so it only
//     observes: olm-operator Deployments (the containers running /bin/olm), "running" = not being
//     deleted, replicas >= 1 and availableReplicas >= 1;
//   - stop(): the cluster is shared by every test file of a run, so stop() puts it back the way
//     connectCluster() found it (namespaces, cluster-scoped RBAC, CRDs and webhook configurations
//     created since are deleted; a namespace stuck on a CSV finalizer gets the documented manual
//     remedy), bounded in time. The cluster itself is deleted by run.sh.
// Options the loopback cluster supports but a running cluster cannot honour (an audit webhook
// backend, extra kube-apiserver flags) are reported, not silently dropped.
import { KubeConfig } from '@kubernetes/client-node';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toolEnv, type ControlPlane, type ControlPlaneOptions, type ExecOptions } from '../../cluster/controlPlane.ts';
import { kubeClient, type KubeClient } from '../../cluster/kubeClient.ts';
import { installOlm } from '../../cluster/olm.ts';
import type { OlmSupervisor, SupervisedProcess, SupervisorEvent } from '../../cluster/olmSupervisor.ts';
import { binPath, type BinaryName } from '../../cluster/paths.ts';
import { run, sleep, waitFor } from '../../cluster/proc.ts';

export interface ConnectOptions extends ControlPlaneOptions {
  /** kubeconfig of the cluster (default $TG_E2E_KUBECONFIG, then $KUBECONFIG). */
  kubeconfigPath?: string;
  /** kubeconfig context (default the current one). */
  context?: string;
  /** Work dir of this run (run.sh's; holds the audit log when the kind config enables it). Default $TG_E2E_DIR. */
  e2eDir?: string;
  /** Namespaces stop()'s reset never deletes, even if created after connect (default: the guard's own). */
  keepNamespaces?: string[];
}

const defaultLog = (line: string) => process.stderr.write(`[kind] ${line}\n`);

/** The pinned host binary when it has been built, else the tool of that name on PATH. */
export function tool(name: BinaryName, fallback: string): string {
  try {
    const p = binPath(name);
    return existsSync(p) ? p : fallback;
  } catch {
    return fallback;
  }
}

interface Deployment {
  metadata: { name: string; namespace: string; uid: string; deletionTimestamp?: string; creationTimestamp?: string };
  spec?: { replicas?: number; template?: { spec?: { containers?: Array<{ command?: string[] }> } } };
  status?: { availableReplicas?: number };
}

/** OLM as it runs in a real cluster: observed through its Deployments, never driven. */
function observeOlm(client: KubeClient, logsOf: (ns: string, name: string, lines: number) => string, log: (l: string) => void, pollMs = 500): OlmSupervisor {
  let state = new Map<string, { d: Deployment; running: boolean }>();
  const events: SupervisorEvent[] = [];
  let stopped = false;
  const key = (ns: string, name: string) => `${ns}/${name}`;
  const isOlm = (d: Deployment) => (d.spec?.template?.spec?.containers ?? []).some((c) => c.command?.[0] === '/bin/olm');
  const alive = (d: Deployment) => !d.metadata.deletionTimestamp && (d.spec?.replicas ?? 1) >= 1 && (d.status?.availableReplicas ?? 0) >= 1;

  async function refresh(): Promise<void> {
    const list = await client.get<{ items: Deployment[] }>('/apis/apps/v1/deployments');
    const next = new Map<string, { d: Deployment; running: boolean }>();
    for (const d of (list?.items ?? []).filter(isOlm)) next.set(key(d.metadata.namespace, d.metadata.name), { d, running: alive(d) });
    for (const [k, v] of next) {
      if (v.running && !state.get(k)?.running) events.push({ at: Date.now(), namespace: v.d.metadata.namespace, name: v.d.metadata.name, what: 'started' });
    }
    for (const [k, v] of state) {
      if (v.running && !next.get(k)?.running) events.push({ at: Date.now(), namespace: v.d.metadata.namespace, name: v.d.metadata.name, what: 'stopped' });
    }
    state = next;
  }

  const loop = (async () => {
    while (!stopped) {
      await refresh().catch((e: unknown) => log(`olm observer: ${e instanceof Error ? e.message : String(e)}`));
      await sleep(pollMs);
    }
  })();

  const waitState = async (ns: string, name: string, want: boolean, timeoutMs: number) => {
    await waitFor(`olm-operator ${ns}/${name} ${want ? 'running' : 'stopped'} (in-cluster)`, timeoutMs, async () => {
      await refresh();
      return (state.get(key(ns, name))?.running ?? false) === want ? true : undefined;
    }, pollMs);
  };

  return {
    running(): SupervisedProcess[] {
      return [...state.values()].filter((v) => v.running).map((v) => ({
        namespace: v.d.metadata.namespace, name: v.d.metadata.name, uid: v.d.metadata.uid, pid: undefined,
        startedAt: Date.parse(v.d.metadata.creationTimestamp ?? '') || 0, restarts: 0, logPath: '',
      }));
    },
    isRunning: (ns, name) => state.get(key(ns, name))?.running ?? false,
    waitRunning: (ns, name, timeoutMs = 120_000) => waitState(ns, name, true, timeoutMs),
    waitStopped: (ns, name, timeoutMs = 120_000) => waitState(ns, name, false, timeoutMs),
    events,
    diagnostics(lines = 30) {
      const out: string[] = [];
      for (const v of state.values()) {
        out.push(`----- olm-operator ${v.d.metadata.namespace}/${v.d.metadata.name} (in-cluster, ${v.running ? 'running' : 'not running'})`,
          logsOf(v.d.metadata.namespace, v.d.metadata.name, lines));
      }
      return out.join('\n');
    },
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

interface Snapshot {
  namespaces: Set<string>;
  clusterroles: Set<string>;
  clusterrolebindings: Set<string>;
  crds: Set<string>;
  validatingwebhookconfigurations: Set<string>;
  mutatingwebhookconfigurations: Set<string>;
}

const CLUSTER_SCOPED: Array<[keyof Omit<Snapshot, 'namespaces'>, string]> = [
  ['clusterroles', '/apis/rbac.authorization.k8s.io/v1/clusterroles'],
  ['clusterrolebindings', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings'],
  ['crds', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions'],
  ['validatingwebhookconfigurations', '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations'],
  ['mutatingwebhookconfigurations', '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations'],
];

async function names(client: KubeClient, path: string): Promise<Set<string>> {
  const list = await client.get<{ items?: Array<{ metadata: { name: string } }> }>(path);
  return new Set((list?.items ?? []).map((i) => i.metadata.name));
}

async function snapshot(client: KubeClient): Promise<Snapshot> {
  const s = { namespaces: await names(client, '/api/v1/namespaces') } as Snapshot;
  for (const [k, path] of CLUSTER_SCOPED) s[k] = await names(client, path);
  return s;
}

/**
 * Connects to an existing cluster. Installs OLM's CRDs (and, for 'quickstart', upstream OLM) from
 * the same pinned data and code the loopback cluster uses (test/cluster/olm.ts).
 */
export async function connectCluster(opts: ConnectOptions = {}): Promise<ControlPlane> {
  const log = opts.log ?? defaultLog;
  const kubeconfigPath = opts.kubeconfigPath ?? process.env.TG_E2E_KUBECONFIG ?? process.env.KUBECONFIG;
  if (!kubeconfigPath || !existsSync(kubeconfigPath)) {
    throw new Error(`no kubeconfig for the e2e cluster (set TG_E2E_KUBECONFIG; got ${kubeconfigPath ?? 'nothing'})`);
  }
  if (opts.auditWebhook) log('note: auditWebhook is not supported on an existing cluster (it needs kube-apiserver flags); ignored');
  if (opts.apiserverArgs?.length) log(`note: apiserverArgs ${opts.apiserverArgs.join(' ')} cannot be applied to an existing cluster; ignored`);

  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  if (opts.context) kc.setCurrentContext(opts.context);
  const cluster = kc.getCurrentCluster();
  const user = kc.getCurrentUser();
  if (!cluster) throw new Error(`${kubeconfigPath}: no current cluster`);
  const dir = mkdtempSync(join(opts.parentDir ?? tmpdir(), 'tg-kind-'));
  const home = join(dir, 'home');
  mkdirSync(home, { recursive: true });
  const b64 = (s: string | undefined) => (s ? Buffer.from(s, 'base64').toString('utf8') : undefined);
  const caPem = b64(cluster.caData) ?? (cluster.caFile ? readFileSync(cluster.caFile, 'utf8') : '');
  const caFile = join(dir, 'ca.crt');
  writeFileSync(caFile, caPem);
  const certPem = b64(user?.certData) ?? (user?.certFile ? readFileSync(user.certFile, 'utf8') : undefined);
  const keyPem = b64(user?.keyData) ?? (user?.keyFile ? readFileSync(user.keyFile, 'utf8') : undefined);
  const creds: Parameters<typeof kubeClient>[0] = { server: cluster.server, caPem };
  if (certPem && keyPem) {
    writeFileSync(join(dir, 'client.crt'), certPem, { mode: 0o600 });
    writeFileSync(join(dir, 'client.key'), keyPem, { mode: 0o600 });
    creds.certFile = join(dir, 'client.crt');
    creds.keyFile = join(dir, 'client.key');
  } else if (user?.token) {
    creds.token = user.token;
  } else {
    throw new Error(`${kubeconfigPath}: the current user has neither a client certificate nor a token (exec plugins are not supported here)`);
  }
  const client = kubeClient(creds);

  const env = toolEnv(home, kubeconfigPath);
  const ctxArgs = opts.context ? ['--kube-context', opts.context] : [];
  const exec = (cmd: string, args: string[], o: ExecOptions = {}) =>
    run(cmd, args, { env: { ...env, ...o.env }, timeoutMs: o.timeoutMs ?? 180_000, ...(o.input !== undefined ? { input: o.input } : {}) });
  const kubectlBin = tool('kubectl', 'kubectl');
  const kubectl = (args: string[], o?: ExecOptions) => exec(kubectlBin, [...(opts.context ? ['--context', opts.context] : []), ...args], o);

  const ready = await client.request('GET', '/readyz', { timeoutMs: 10_000 }).catch((e: unknown) => ({ status: 0, text: String(e) }));
  if (ready.status !== 200) throw new Error(`cluster ${cluster.server} not ready: ${ready.status} ${ready.text.slice(0, 200)}`);

  const e2eDir = opts.e2eDir ?? process.env.TG_E2E_DIR;
  const auditLogPath = e2eDir && existsSync(join(e2eDir, 'audit', 'audit.log')) ? join(e2eDir, 'audit', 'audit.log') : join(dir, 'audit.log.unavailable');
  if (!existsSync(auditLogPath)) writeFileSync(auditLogPath, '');

  const before = await snapshot(client);
  const keep = new Set(opts.keepNamespaces ?? ['teardown-guard']);
  let olm: OlmSupervisor | undefined;
  let stopped = false;

  const diagnostics = (lines = 30): string => {
    const parts: string[] = [];
    try {
      parts.push(execFileSync(kubectlBin, ['get', 'pods', '-A', '-o', 'wide'], { encoding: 'utf8', timeout: 15_000, env }));
      parts.push(execFileSync(kubectlBin, ['logs', '-n', 'teardown-guard', '-l', 'app.kubernetes.io/name=teardown-guard', `--tail=${lines}`, '--prefix'], { encoding: 'utf8', timeout: 15_000, env }));
    } catch (e) {
      parts.push(`(diagnostics failed: ${e instanceof Error ? e.message : String(e)})`);
    }
    if (olm) parts.push(olm.diagnostics(lines));
    return parts.join('\n');
  };

  /** Puts the cluster back the way connectCluster() found it (bounded; what cannot be removed is logged). */
  const reset = async () => {
    const now = await snapshot(client);
    const extraNs = [...now.namespaces].filter((n) => !before.namespaces.has(n) && !keep.has(n));
    for (const ns of extraNs) await client.request('DELETE', `/api/v1/namespaces/${ns}`);
    const deadline = Date.now() + 90_000;
    for (const ns of extraNs) {
      while (Date.now() < deadline && (await client.get(`/api/v1/namespaces/${ns}`))) {
        // A namespace stuck on csv-cleanup (no olm-operator left): the documented manual remedy.
        const csvs = await client.get<{ items?: Array<{ metadata: { name: string; finalizers?: string[] } }> }>(`/apis/operators.coreos.com/v1alpha1/namespaces/${ns}/clusterserviceversions`).catch(() => undefined);
        for (const c of csvs?.items ?? []) {
          if (c.metadata.finalizers?.length) await kubectl(['patch', 'csv', c.metadata.name, '-n', ns, '--type=merge', '-p', '{"metadata":{"finalizers":null}}']);
        }
        await sleep(1000);
      }
      if (await client.get(`/api/v1/namespaces/${ns}`)) log(`reset: namespace ${ns} still present after 90s`);
    }
    for (const [k, path] of CLUSTER_SCOPED) {
      for (const name of now[k]) {
        if (before[k].has(name)) continue;
        await client.request('DELETE', `${path}/${name}`);
      }
    }
  };

  const cp: ControlPlane = {
    kubeconfigPath,
    server: cluster.server,
    caPem,
    // The kind node holds the CA key (/etc/kubernetes/pki/ca.key); nothing here signs with it.
    ca: { cert: caFile, key: '', pem: caPem },
    dir,
    auditLogPath,
    client,
    env,
    kubectl,
    helm: (version, args, o) => exec(tool(version === 3 ? 'helm3' : 'helm4', 'helm'), [...ctxArgs, ...args], o),
    helmSdkUninstall: (args, o) => exec(tool('helm-sdk-uninstall', 'helm-sdk-uninstall'), args, o),
    logs: () => ({}),
    diagnostics,
    // kind runs its control plane in a container this process does not own: no fault injection.
    stopComponent: async (name) => { throw new Error(`kind cluster: cannot stop ${name} from here`); },
    startComponent: async (name) => { throw new Error(`kind cluster: cannot start ${name} from here`); },
    async stop() {
      if (stopped) return;
      stopped = true;
      const t0 = Date.now();
      await olm?.stop();
      await reset().catch((e: unknown) => log(`reset failed: ${e instanceof Error ? e.message : String(e)}`));
      client.close();
      if (!opts.keepDir) rmSync(dir, { recursive: true, force: true });
      log(`disconnected in ${((Date.now() - t0) / 1000).toFixed(1)}s (cluster reset to its state at connect)`);
    },
  };

  if (opts.olm && opts.olm !== 'none') {
    const logsOf = (ns: string, name: string, lines: number): string => {
      try {
        return execFileSync(kubectlBin, ['logs', '-n', ns, `deployment/${name}`, `--tail=${lines}`], { encoding: 'utf8', timeout: 15_000, env });
      } catch (e) {
        return `(no logs: ${e instanceof Error ? e.message.split('\n')[0] : String(e)})`;
      }
    };
    olm = observeOlm(client, logsOf, log);
    cp.olm = olm;
    await installOlm(cp, opts.olm, { log, timeoutMs: opts.timeoutMs ?? 300_000 });
    log(`OLM (${opts.olm}) ready (in-cluster pods)`);
  }
  log(`connected to ${cluster.server} (${kubeconfigPath})`);
  return cp;
}
