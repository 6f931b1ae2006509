// Flux's helm-controller, built from its Go module at the pinned version (build-binaries.sh), as a
// host process against the loopback control plane (test/cluster/README.md, "Flux's
// helm-controller"): its CRDs and the source-controller CRDs it watches, the identity Flux gives
// it (a ServiceAccount bound to cluster-admin), leader election off, every namespace watched,
// metrics and health on free 127.0.0.1 ports. It stops with the cluster: on stop(), on process
// exit (proc.ts), through the cluster's watchdog (its process group is listed in the cluster's
// groups file), and when the cluster's dir disappears or its API server stays unreachable.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ControlPlane } from '../controlPlane.ts';
import { kubeconfigYaml } from '../kubeClient.ts';
import { binPath, fluxDataDir, versions } from '../paths.ts';
import { applyCrdDir } from '../crds.ts';
import { freePort, GiveUp, startDaemon, tail, waitFor } from '../proc.ts';
import { stopWithCluster } from '../stopWithCluster.ts';

export const FLUX_NAMESPACE = 'flux-system';
export const HELM_CONTROLLER_SA = 'helm-controller';

/** The groups file controlPlane.ts hands its watchdog; listing the controller there makes a SIGKILLed test clean it up too. */
const clusterGroupsFile = (cp: ControlPlane) => join(cp.dir, 'pgids');

export interface HelmController {
  pid: number | undefined;
  logPath: string;
  /** Milliseconds from spawn to /readyz answering 200 with the HelmRelease workers started. */
  readyInMs: number;
  isRunning(): boolean;
  logTail(lines?: number): string;
  stop(): Promise<void>;
}

export interface StartHelmControllerOptions {
  log?: (line: string) => void;
  timeoutMs?: number;
}

/** Server-side applies Flux's CRDs and waits until every one is Established. */
export async function applyFluxCrds(cp: ControlPlane, timeoutMs = 60_000): Promise<string[]> {
  return applyCrdDir(cp, 'Flux', join(fluxDataDir(), 'crds'), timeoutMs);
}

/** flux-system, the controller's ServiceAccount and its cluster-admin binding, as Flux installs them. */
async function applyIdentity(cp: ControlPlane): Promise<void> {
  const input = [
    `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${FLUX_NAMESPACE}\n`,
    `apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: ${HELM_CONTROLLER_SA}\n  namespace: ${FLUX_NAMESPACE}\n`,
    [
      'apiVersion: rbac.authorization.k8s.io/v1',
      'kind: ClusterRoleBinding',
      'metadata:',
      `  name: cluster-reconciler-${FLUX_NAMESPACE}`,
      'roleRef:',
      '  apiGroup: rbac.authorization.k8s.io',
      '  kind: ClusterRole',
      '  name: cluster-admin',
      'subjects:',
      '- kind: ServiceAccount',
      `  name: ${HELM_CONTROLLER_SA}`,
      `  namespace: ${FLUX_NAMESPACE}`,
      '',
    ].join('\n'),
  ].join('---\n');
  const r = await cp.kubectl(['apply', '-f', '-'], { input });
  if (r.code !== 0) throw new Error(`creating helm-controller's identity failed:\n${r.stdout}\n${r.stderr}`);
}

async function serviceAccountToken(cp: ControlPlane): Promise<string> {
  const r = await cp.client.request<{ status?: { token?: string }; message?: string }>(
    'POST',
    `/api/v1/namespaces/${FLUX_NAMESPACE}/serviceaccounts/${HELM_CONTROLLER_SA}/token`,
    {
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 86_400 } },
    },
  );
  const token = r.body?.status?.token;
  if (r.status !== 201 || !token)
    throw new Error(`TokenRequest ${FLUX_NAMESPACE}/${HELM_CONTROLLER_SA}: ${r.status} ${r.body?.message ?? r.text.slice(0, 200)}`);
  return token;
}

/** helm-controller's log says when its HelmRelease workers run (caches synced, watches started). */
function workersStarted(logPath: string): boolean {
  return readFileSync(logPath, 'utf8')
    .split('\n')
    .some((l) => {
      if (!l.includes('Starting workers')) return false;
      try {
        return (JSON.parse(l) as { controller?: string }).controller === 'helmrelease';
      } catch {
        return false;
      }
    });
}

async function httpStatus(url: string): Promise<number> {
  const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
  await r.arrayBuffer();
  return r.status;
}

/**
 * Installs the CRDs and identity, then runs helm-controller until stop(). Resolves once its
 * health endpoint answers and its HelmRelease workers run.
 */
export async function startHelmController(cp: ControlPlane, o: StartHelmControllerOptions = {}): Promise<HelmController> {
  const log = o.log ?? ((l: string) => process.stderr.write(`[flux] ${l}\n`));
  const timeoutMs = o.timeoutMs ?? 60_000;
  const bin = binPath('helm-controller');
  if (!existsSync(bin) || !existsSync(join(fluxDataDir(), '.complete'))) {
    throw new Error(`helm-controller or Flux CRDs missing (${bin}, ${fluxDataDir()}): run \`npm run build:binaries\` first`);
  }
  await applyFluxCrds(cp, timeoutMs);
  await applyIdentity(cp);
  const dir = join(cp.dir, 'helm-controller');
  mkdirSync(join(dir, 'home'), { recursive: true });
  const kubeconfig = join(dir, 'kubeconfig');
  const user = `system:serviceaccount:${FLUX_NAMESPACE}:${HELM_CONTROLLER_SA}`;
  writeFileSync(kubeconfig, kubeconfigYaml({ server: cp.server, caPem: cp.caPem, user, token: await serviceAccountToken(cp), namespace: FLUX_NAMESPACE }), {
    mode: 0o600,
  });
  const [metricsPort, healthPort] = await Promise.all([freePort(), freePort()]);
  const t0 = Date.now();
  const daemon = startDaemon({
    name: 'helm-controller',
    cmd: bin,
    args: [
      '--watch-all-namespaces=true',
      '--enable-leader-election=false',
      `--metrics-addr=127.0.0.1:${metricsPort}`,
      `--health-addr=127.0.0.1:${healthPort}`,
      '--log-encoding=json',
      '--log-level=info',
      // A SIGTERM mid-reconcile must not hold stop() for the default 10 minutes.
      '--graceful-shutdown-timeout=5s',
      // The artifact server is local: a refused download fails fast instead of retrying 9 times.
      '--http-retry=2',
    ],
    logDir: join(cp.dir, 'logs'),
    ...(existsSync(clusterGroupsFile(cp)) ? { groupsFile: clusterGroupsFile(cp) } : {}),
    // controller-runtime reads KUBECONFIG; RUNTIME_NAMESPACE is the namespace the Deployment would run in.
    env: { PATH: process.env.PATH, HOME: join(dir, 'home'), KUBECONFIG: kubeconfig, RUNTIME_NAMESPACE: FLUX_NAMESPACE },
  });
  const cancelWatch = stopWithCluster(cp, daemon, 'helm-controller', log);
  try {
    await waitFor(
      'helm-controller /readyz and its HelmRelease workers started',
      timeoutMs,
      async () => {
        if (!daemon.isRunning()) throw new GiveUp(`helm-controller exited:\n${tail(daemon.logPath, 30)}`);
        if ((await httpStatus(`http://127.0.0.1:${healthPort}/readyz`).catch(() => 0)) !== 200) return undefined;
        return workersStarted(daemon.logPath) ? true : undefined;
      },
      200,
    );
  } catch (e) {
    cancelWatch();
    await daemon.stop(2000);
    throw new Error(`${e instanceof Error ? e.message : String(e)}\n----- helm-controller log\n${tail(daemon.logPath, 40)}`, { cause: e });
  }
  const readyInMs = Date.now() - t0;
  log(`helm-controller ${versions().HELM_CONTROLLER_VERSION} ready in ${(readyInMs / 1000).toFixed(1)}s (pid ${daemon.child.pid}, as ${user})`);
  return {
    pid: daemon.child.pid,
    logPath: daemon.logPath,
    readyInMs,
    isRunning: () => daemon.isRunning(),
    logTail: (lines = 40) => tail(daemon.logPath, lines),
    async stop() {
      cancelWatch();
      await daemon.stop(5000);
    },
  };
}
