// A real Kubernetes control plane on loopback: etcd, kube-apiserver and kube-controller-manager
// built from their Go modules at pinned versions (build-binaries.sh), running as host processes
// in a temp dir on free 127.0.0.1 ports. Optional OLM (CRDs, quickstart objects, and the real
// olm-operator supervised by its Deployment object). Used by the integration tests, the scenario
// suite, `npm run cluster:up` and the demo.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kubeClient, kubeconfigYaml, type KubeClient } from './kubeClient.ts';
import { binPath, missingComponents, type BinaryName } from './paths.ts';
import { makeCA, makeLeaf, makeServiceAccountKey, type CA } from './pki.ts';
import {
  freePort,
  GiveUp,
  onExitCleanup,
  onSignalShutdown,
  registerDir,
  run,
  startDaemon,
  startWatchdog,
  tail,
  unregisterDir,
  waitFor,
  type Daemon,
  type RunResult,
} from './proc.ts';
import { installOlm, type OlmMode } from './olm.ts';
import { startOlmSupervisor, type OlmSupervisor } from './olmSupervisor.ts';
import { startHookJobRunner, type HookJobRunner } from './hookJobRunner.ts';
import { buildBinaryImage, type BinaryImageName } from './node/images.ts';
import { startOlmPodWatcher } from './node/olmPods.ts';
import { acquireNodeLock, restoreIfOwner, type NodeLock } from './node/lock.ts';
import { makeNodePki, nodeApiserverArgs, startNode, type KubeNode, type NodePki } from './node/node.ts';

export interface ControlPlaneOptions {
  /** Progress sink; default prints "[cluster] ..." lines to stderr. Pass () => {} to silence. */
  log?: (line: string) => void;
  /** Where the temp dir is created (default os.tmpdir()). */
  parentDir?: string;
  /**
   * OLM: 'none' (default), 'crds' (CRDs + the olm-operator supervisor, for charts that ship OLM
   * themselves, like Pixie's), or 'quickstart' (CRDs + OLM's quickstart objects, olm-operator running).
   */
  olm?: OlmMode;
  /** Audit webhook backend (e.g. the guard's /audit), batch mode. */
  auditWebhook?: { url: string; caPem: string };
  /** Keep the temp dir after stop() (for debugging). */
  keepDir?: boolean;
  /** Extra kube-apiserver flags. */
  apiserverArgs?: string[];
  /** Bound on each readiness wait (ms). */
  timeoutMs?: number;
  /**
   * Adds a real node: containerd, runc, CNI, kubelet and kube-scheduler (node/node.ts). One node
   * cluster per host at a time (node/lock.ts); needs root and the node packages and images.
   */
  node?: boolean;
  /**
   * Without a node, Helm hook Jobs run as host processes (hookJobRunner.ts) unless this is false:
   * the shared cluster (sharedCluster.ts) leaves that to each test file that attaches to it.
   */
  hostHookJobs?: boolean;
}

export interface ExecOptions {
  input?: string;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

export interface ControlPlane {
  kubeconfigPath: string;
  server: string;
  caPem: string;
  /** The cluster CA (cert/key files), e.g. to sign a webhook serving cert. */
  ca: CA;
  dir: string;
  auditLogPath: string;
  /** Admin REST client (CN=admin, O=system:masters). */
  client: KubeClient;
  kubectl(args: string[], o?: ExecOptions): Promise<RunResult>;
  helm(version: 3 | 4, args: string[], o?: ExecOptions): Promise<RunResult>;
  /** The Helm SDK program of incident B (test/cluster/go/helm-sdk-uninstall). */
  helmSdkUninstall(args: string[], o?: ExecOptions): Promise<RunResult>;
  /** Present unless olm: 'none'. */
  olm?: OlmSupervisor;
  /** Present with node: true. */
  node?: KubeNode;
  /** Runs Helm hook Jobs' kubectl commands as host processes; present without a node (which runs them as Pods). */
  hookJobs?: HookJobRunner;
  /** Environment for running tools against this cluster (KUBECONFIG, HELM_* dirs, HOME). */
  env: NodeJS.ProcessEnv;
  /** Log files of the daemons, by name. */
  logs(): Record<string, string>;
  /** Last lines of every daemon log (for failure messages). */
  diagnostics(lines?: number): string;
  stop(): Promise<void>;
  /**
   * Stops one component (fault tests: an API server restart, etcd down). The rest keeps running;
   * clients see connection errors until `startComponent` brings it back on the same port and data.
   */
  stopComponent(name: RestartableComponent): Promise<void>;
  /** Starts a component stopped by stopComponent again and waits until it is healthy. */
  startComponent(name: RestartableComponent): Promise<void>;
}

export type RestartableComponent = 'etcd' | 'kube-apiserver';

/**
 * Environment for kubectl, helm and the SDK program: this cluster's kubeconfig, and a private HOME
 * and Helm dirs so nothing of the user's own configuration (or namespace) leaks into a test.
 */
export function toolEnv(home: string, kubeconfigPath: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: home,
    KUBECONFIG: kubeconfigPath,
    HELM_CACHE_HOME: join(home, 'helm-cache'),
    HELM_CONFIG_HOME: join(home, 'helm-config'),
    HELM_DATA_HOME: join(home, 'helm-data'),
    HELM_NAMESPACE: undefined,
    TMPDIR: process.env.TMPDIR,
  };
}

const defaultLog = (line: string) => process.stderr.write(`[cluster] ${line}\n`);

function secs(t0: number): string {
  return `${((Date.now() - t0) / 1000).toFixed(1)}s`;
}

export const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: RequestResponse
    resources:
      - group: ""
        resources: ["namespaces", "namespaces/finalize", "namespaces/status", "configmaps"]
      - group: "operators.coreos.com"
        resources: ["clusterserviceversions"]
      - group: "apps"
        resources: ["deployments"]
  - level: Metadata
    resources:
      - group: ""
        resources: ["secrets"]
  - level: Metadata
`;

// kube-controller-manager runs every controller a real cluster runs: `*` is the default set
// (k8s.io/kubernetes cmd/kube-controller-manager/app, ControllerDescriptor.isDisabledByDefault;
// StatefulSet, DaemonSet, Job, CronJob, garbage collector, namespace, ...), plus the two kubeadm
// also turns on (its controller-manager manifest: `--controllers=*,bootstrapsigner,tokencleaner`).
// Cloud-provider controllers are skipped by kube-controller-manager itself without a cloud
// provider, node IPAM without --allocate-node-cidrs. Without a node, Pods the workload
// controllers create are never scheduled; the supervisors mark the ones they run Ready.
const CONTROLLERS = ['*', 'bootstrap-signer-controller', 'token-cleaner-controller'];

/**
 * The images of pinned binaries that charts run as Pods on the node (hook Jobs' kubectl, the
 * olm-operator of charts that ship OLM): built once per version, imported into every node.
 */
async function importBinaryImages(node: KubeNode, names: BinaryImageName[], log: (l: string) => void): Promise<void> {
  const t0 = Date.now();
  for (const name of names) await node.importImage((await buildBinaryImage(name, log)).path);
  log(`node images ${names.join(', ')} imported in ${secs(t0)}`);
}

export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const log = opts.log ?? defaultLog;
  const timeoutMs = opts.timeoutMs ?? 90_000;
  const needed: BinaryName[] = ['etcd', 'kube-apiserver', 'kube-controller-manager'];
  if (opts.olm && opts.olm !== 'none') needed.push('olm');
  if (opts.node) needed.push('kubelet', 'kube-scheduler');
  const missing = missingComponents(needed).filter((m) => m !== 'olm-data' || (opts.olm && opts.olm !== 'none'));
  if (missing.length) {
    throw new Error(`missing pinned components: ${missing.join(', ')}; run \`npm run build:binaries\` first`);
  }
  const t0 = Date.now();
  // Before anything else: a second node cluster must not touch the host's bridge and NAT chain.
  const lock: NodeLock | undefined = opts.node ? acquireNodeLock() : undefined;
  const dir = mkdtempSync(join(opts.parentDir ?? tmpdir(), 'tg-cluster-'));
  registerDir(dir);
  const pki = join(dir, 'pki');
  const logsDir = join(dir, 'logs');
  const home = join(dir, 'home');
  for (const d of [pki, logsDir, home, join(dir, 'etcd')]) mkdirSync(d, { recursive: true });
  const groupsFile = join(dir, 'pgids');
  writeFileSync(groupsFile, '');
  startWatchdog(process.pid, dir, groupsFile, lock?.dir);
  // On an exit without stop(), the host is given back before the dir (and its mounts) goes.
  const undoExitCleanup = lock ? onExitCleanup(() => restoreIfOwner(lock.dir, process.pid)) : () => {};

  const daemons: Daemon[] = [];
  let olm: OlmSupervisor | undefined;
  let hookJobs: HookJobRunner | undefined;
  let node: KubeNode | undefined;
  let client: KubeClient | undefined;
  let stopped = false;

  const diagnostics = (lines = 30) =>
    daemons.map((d) => `----- ${d.name} (${d.isRunning() ? 'running' : 'exited'}) ${d.logPath}\n${tail(d.logPath, lines)}`).join('\n') +
    (olm ? `\n${olm.diagnostics(lines)}` : '') +
    (node ? `\n${node.diagnostics(lines)}` : '');

  let unhook = () => {};
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    unhook();
    const ts = Date.now();
    if (olm) await olm.stop().catch(() => {});
    if (hookJobs) await hookJobs.stop().catch(() => {});
    // The node first: its restore script unmounts what lives under dir and gives the host back.
    if (node) await node.stop();
    else if (lock) rmSync(lock.dir, { recursive: true, force: true });
    undoExitCleanup();
    client?.close();
    for (const d of [...daemons].reverse()) await d.stop(5000);
    if (!opts.keepDir) {
      rmSync(dir, { recursive: true, force: true });
    }
    unregisterDir(dir);
    log(`stopped in ${secs(ts)}${opts.keepDir ? ` (kept ${dir})` : ''}`);
  };

  const fail = async (err: unknown): Promise<never> => {
    const msg = err instanceof Error ? err.message : String(err);
    const diag = diagnostics(40);
    await stop();
    throw new Error(`control plane failed to start: ${msg}\n${diag}`);
  };

  unhook = onSignalShutdown(stop);

  const stoppedOnPurpose = new Set<Daemon>();
  const watchExit = (d: Daemon) => {
    void d.exited.then((code) => {
      if (!stopped && !stoppedOnPurpose.has(d)) log(`${d.name} exited unexpectedly (${code}); log: ${d.logPath}\n${tail(d.logPath, 20)}`);
    });
  };
  /** How to start each restartable component again, and how to tell it is healthy. */
  const components = new Map<RestartableComponent, { start: Parameters<typeof startDaemon>[0]; healthy: () => Promise<boolean> }>();

  try {
    // PKI (openssl) while ports are picked.
    const tPki = Date.now();
    const ca = await makeCA(pki);
    const nodePkiP: Promise<NodePki | undefined> = opts.node ? makeNodePki(pki, ca) : Promise.resolve(undefined);
    const [serving, admin, kcm, sa, auditClient, frontProxy, nodePki] = await Promise.all([
      makeLeaf(pki, 'apiserver', ca, {
        cn: 'kube-apiserver',
        dns: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'],
        ips: ['127.0.0.1', '10.0.0.1'],
        usage: 'server',
      }),
      makeLeaf(pki, 'admin', ca, { cn: 'admin', orgs: ['system:masters'], usage: 'client' }),
      makeLeaf(pki, 'kube-controller-manager', ca, { cn: 'system:kube-controller-manager', usage: 'client' }),
      makeServiceAccountKey(pki),
      makeLeaf(pki, 'apiserver-audit-client', ca, { cn: 'system:kube-apiserver-audit', usage: 'client' }),
      // The aggregator's client identity towards aggregated API servers (front proxy), as kubeadm sets it up.
      makeLeaf(pki, 'front-proxy-client', ca, { cn: 'front-proxy-client', usage: 'client' }),
      nodePkiP,
    ]);
    const [etcdPort, etcdPeerPort, apiPort, kcmPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    log(`pki ready in ${secs(tPki)}; dir ${dir}`);

    // etcd
    const tEtcd = Date.now();
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const peerUrl = `http://127.0.0.1:${etcdPeerPort}`;
    const etcdStart = {
      name: 'etcd',
      cmd: binPath('etcd'),
      groupsFile,
      logDir: logsDir,
      args: [
        '--name=tg',
        `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=tg=${peerUrl}`,
        '--initial-cluster-state=new',
        '--unsafe-no-fsync',
        '--log-level=warn',
        '--quota-backend-bytes=2147483648',
      ],
    };
    const etcd = startDaemon(etcdStart);
    components.set('etcd', {
      start: etcdStart,
      healthy: async () => {
        const r = await fetch(`${etcdUrl}/health`, { signal: AbortSignal.timeout(2000) });
        return ((await r.json()) as { health?: string }).health === 'true';
      },
    });
    daemons.push(etcd);
    watchExit(etcd);
    await waitFor(
      'etcd /health',
      timeoutMs,
      async () => {
        if (!etcd.isRunning()) throw new GiveUp('etcd exited');
        const r = await fetch(`${etcdUrl}/health`, { signal: AbortSignal.timeout(2000) });
        const j = (await r.json()) as { health?: string };
        return j.health === 'true' ? true : undefined;
      },
      100,
    );
    log(`etcd ready in ${secs(tEtcd)} (${etcdUrl})`);

    // kube-apiserver
    const tApi = Date.now();
    const server = `https://127.0.0.1:${apiPort}`;
    const auditLogPath = join(dir, 'audit.log');
    const auditPolicy = join(dir, 'audit-policy.yaml');
    writeFileSync(auditPolicy, AUDIT_POLICY);
    const apiArgs = [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      '--advertise-address=127.0.0.1',
      '--endpoint-reconciler-type=none',
      `--cert-dir=${join(dir, 'apiserver-certs')}`,
      `--tls-cert-file=${serving.cert}`,
      `--tls-private-key-file=${serving.key}`,
      `--client-ca-file=${ca.cert}`,
      '--authorization-mode=Node,RBAC',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${sa.pub}`,
      `--service-account-signing-key-file=${sa.key}`,
      '--service-cluster-ip-range=10.0.0.0/24',
      '--allow-privileged=true',
      '--profiling=false',
      `--audit-policy-file=${auditPolicy}`,
      `--audit-log-path=${auditLogPath}`,
      '--audit-log-maxsize=0',
      '--audit-log-maxbackup=0',
      // Aggregated API servers (metrics-server in the APIService scenarios) authenticate proxied
      // requests by this client certificate and the X-Remote-* headers.
      `--proxy-client-cert-file=${frontProxy.cert}`,
      `--proxy-client-key-file=${frontProxy.key}`,
      `--requestheader-client-ca-file=${ca.cert}`,
      '--requestheader-allowed-names=front-proxy-client',
      '--requestheader-username-headers=X-Remote-User',
      '--requestheader-group-headers=X-Remote-Group',
      '--requestheader-extra-headers-prefix=X-Remote-Extra-',
    ];
    if (opts.auditWebhook) {
      const cfg = join(dir, 'audit-webhook.kubeconfig');
      writeFileSync(
        cfg,
        kubeconfigYaml({
          server: opts.auditWebhook.url,
          caPem: opts.auditWebhook.caPem,
          user: 'kube-apiserver-audit',
          certPem: readFileSync(auditClient.cert, 'utf8'),
          keyPem: readFileSync(auditClient.key, 'utf8'),
        }),
      );
      apiArgs.push(`--audit-webhook-config-file=${cfg}`, '--audit-webhook-mode=batch', '--audit-webhook-batch-max-wait=1s');
    }
    if (nodePki) apiArgs.push(...nodeApiserverArgs(nodePki, ca));
    apiArgs.push(...(opts.apiserverArgs ?? []));
    const apiStart = { name: 'kube-apiserver', cmd: binPath('kube-apiserver'), args: apiArgs, logDir: logsDir, groupsFile };
    const apiserver = startDaemon(apiStart);
    daemons.push(apiserver);
    watchExit(apiserver);
    const caPem = ca.pem;
    client = kubeClient({ server, caPem, certFile: admin.cert, keyFile: admin.key });
    const c = client;
    components.set('kube-apiserver', {
      start: apiStart,
      healthy: async () => (await c.request('GET', '/readyz', { timeoutMs: 3000 })).status === 200,
    });
    await waitFor(
      'kube-apiserver /readyz',
      timeoutMs,
      async () => {
        if (!apiserver.isRunning()) throw new GiveUp('kube-apiserver exited');
        const r = await c.request('GET', '/readyz', { timeoutMs: 3000 });
        return r.status === 200 ? true : undefined;
      },
      200,
    );
    log(`kube-apiserver ready in ${secs(tApi)} (${server})`);

    // kubeconfigs
    const kubeconfigPath = join(dir, 'admin.kubeconfig');
    writeFileSync(
      kubeconfigPath,
      kubeconfigYaml({ server, caPem, user: 'admin', certPem: readFileSync(admin.cert, 'utf8'), keyPem: readFileSync(admin.key, 'utf8') }),
      { mode: 0o600 },
    );
    const kcmKubeconfig = join(dir, 'kube-controller-manager.kubeconfig');
    writeFileSync(
      kcmKubeconfig,
      kubeconfigYaml({ server, caPem, user: 'system:kube-controller-manager', certPem: readFileSync(kcm.cert, 'utf8'), keyPem: readFileSync(kcm.key, 'utf8') }),
      { mode: 0o600 },
    );

    // kube-controller-manager
    const tKcm = Date.now();
    const kcmDaemon = startDaemon({
      name: 'kube-controller-manager',
      cmd: binPath('kube-controller-manager'),
      groupsFile,
      logDir: logsDir,
      args: [
        `--kubeconfig=${kcmKubeconfig}`,
        `--authentication-kubeconfig=${kcmKubeconfig}`,
        `--authorization-kubeconfig=${kcmKubeconfig}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${kcmPort}`,
        `--cert-dir=${join(dir, 'kcm-certs')}`,
        `--controllers=${CONTROLLERS.join(',')}`,
        // The certificatesigningrequest-signing controller signs with the cluster CA, as kubeadm sets it up.
        `--cluster-signing-cert-file=${ca.cert}`,
        `--cluster-signing-key-file=${ca.key}`,
        '--use-service-account-credentials=true',
        `--service-account-private-key-file=${sa.key}`,
        `--root-ca-file=${ca.cert}`,
        '--leader-elect=false',
        '--profiling=false',
      ],
    });
    daemons.push(kcmDaemon);
    watchExit(kcmDaemon);
    // Ready when the serviceaccount controller has made default/default (proves kcm talks to the apiserver with its SA credentials).
    await waitFor(
      'kube-controller-manager (default/default ServiceAccount)',
      timeoutMs,
      async () => {
        if (!kcmDaemon.isRunning()) throw new GiveUp('kube-controller-manager exited');
        return (await c.get('/api/v1/namespaces/default/serviceaccounts/default')) ? true : undefined;
      },
      200,
    );
    log(`kube-controller-manager ready in ${secs(tKcm)}`);

    if (lock && nodePki) {
      node = await startNode({ dir, logsDir, groupsFile, server, apiPort, ca, pki: nodePki, client: c, lock, log, timeoutMs });
    }

    const env = toolEnv(home, kubeconfigPath);
    const exec = (cmd: string, args: string[], o: ExecOptions = {}) =>
      run(cmd, args, { env: { ...env, ...o.env }, timeoutMs: o.timeoutMs ?? 120_000, ...(o.input !== undefined ? { input: o.input } : {}) });
    const kubectlBin = existsSync(binPath('kubectl')) ? binPath('kubectl') : 'kubectl';

    const cp: ControlPlane = {
      kubeconfigPath,
      server,
      caPem,
      ca,
      dir,
      auditLogPath,
      client: c,
      ...(node ? { node } : {}),
      env,
      kubectl: (args, o) => exec(kubectlBin, args, o),
      helm: (version, args, o) => exec(binPath(version === 3 ? 'helm3' : 'helm4'), args, o),
      helmSdkUninstall: (args, o) => exec(binPath('helm-sdk-uninstall'), args, o),
      logs: () => ({ ...Object.fromEntries(daemons.map((d) => [d.name, d.logPath])), ...node?.logs() }),
      diagnostics,
      stop,
      async stopComponent(name) {
        const d = daemons.find((x) => x.name === name && x.isRunning());
        if (!d) return;
        stoppedOnPurpose.add(d);
        await d.stop(5000);
        log(`${name} stopped (fault injection)`);
      },
      async startComponent(name) {
        const spec = components.get(name);
        if (!spec) throw new Error(`${name} cannot be restarted`);
        if (daemons.some((x) => x.name === name && x.isRunning())) return;
        const t = Date.now();
        const d = startDaemon(spec.start);
        const i = daemons.findIndex((x) => x.name === name);
        if (i >= 0) daemons[i] = d;
        else daemons.push(d);
        watchExit(d);
        await waitFor(
          `${name} healthy again`,
          timeoutMs,
          async () => {
            if (!d.isRunning()) throw new GiveUp(`${name} exited`);
            return (await spec.healthy().catch(() => false)) ? true : undefined;
          },
          200,
        );
        log(`${name} started again in ${secs(t)}`);
      },
    };

    if (!opts.node && opts.hostHookJobs !== false) {
      hookJobs = startHookJobRunner({ client: c, server, caPem, dir: join(dir, 'hook-jobs'), log });
      cp.hookJobs = hookJobs;
    }
    if (node) await importBinaryImages(node, opts.olm && opts.olm !== 'none' ? ['kubectl', 'olm'] : ['kubectl'], log);
    if (opts.olm && opts.olm !== 'none') {
      const tOlm = Date.now();
      // With a node, olm-operator runs as its Pod; without one, as a host process its Deployment drives.
      olm = node ? startOlmPodWatcher({ client: c, log }) : startOlmSupervisor({ client: c, server, caPem, dir, logDir: logsDir, groupsFile, log });
      cp.olm = olm;
      await installOlm(cp, opts.olm, { log, timeoutMs });
      log(`OLM (${opts.olm}) ready in ${secs(tOlm)}`);
    }
    log(`control plane up in ${secs(t0)}; KUBECONFIG=${kubeconfigPath}`);
    return cp;
  } catch (err) {
    return fail(err);
  }
}
