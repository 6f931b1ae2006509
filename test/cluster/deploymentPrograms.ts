// Real third-party programs a scenario installs by chart, run as host processes supervised by
// their Deployments (olmSupervisor.ts): Deployment present -> the process runs as the pod
// template's ServiceAccount; Deployment deleted or scaled to 0 -> the process stops. So a
// `helm uninstall` of the chart really stops the program, as on a cluster with a kubelet.
//   - Flux's helm-controller (image ghcr.io/fluxcd/helm-controller): puts `finalizers.fluxcd.io`
//     on every HelmRelease and removes it only after its own cleanup.
//   - metrics-server (image registry.k8s.io/metrics-server/metrics-server): the real backend of
//     the aggregated APIService v1beta1.metrics.k8s.io.
// Each gets the host-only flags a container would not need: loopback ports and the kubeconfig of
// its ServiceAccount token (test/cluster/README.md, "Programs supervised by their Deployment").
import { cpSync, mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ControlPlane } from './controlPlane.ts';
import { startOlmSupervisor, type OlmSupervisor } from './olmSupervisor.ts';
import { binPath, fluxDataDir } from './paths.ts';
import { freePort } from './proc.ts';

export const HELM_CONTROLLER_IMAGE = 'ghcr.io/fluxcd/helm-controller';
export const METRICS_SERVER_IMAGE = 'registry.k8s.io/metrics-server/metrics-server';

/** helm-controller's host-only flags (exported for test/operators/supervisor.ts, which runs it too). */
export async function helmControllerHostArgs(): Promise<string[]> {
  return hostArgs[HELM_CONTROLLER_IMAGE]!('', '');
}

const hostArgs: Record<string, (kubeconfig: string, dir: string) => Promise<string[]>> = {
  [HELM_CONTROLLER_IMAGE]: async () => {
    const [metricsPort, healthPort] = await Promise.all([freePort(), freePort()]);
    return [
      `--metrics-addr=127.0.0.1:${metricsPort}`,
      `--health-addr=127.0.0.1:${healthPort}`,
      // One replica and no other candidate: waiting for a lease would only delay the start.
      '--enable-leader-election=false',
      // A SIGTERM mid-reconcile must not hold the supervisor's stop for the default 10 minutes.
      '--graceful-shutdown-timeout=5s',
    ];
  },
  // The chart's --secure-port is the loopback port the APIService points at (values.containerPort).
  [METRICS_SERVER_IMAGE]: async (kubeconfig, dir) => [
    `--kubeconfig=${kubeconfig}`,
    `--authentication-kubeconfig=${kubeconfig}`,
    `--authorization-kubeconfig=${kubeconfig}`,
    '--bind-address=127.0.0.1',
    `--cert-dir=${dir}`,
  ],
};

/** Supervises every Deployment running one of the programs above, in any namespace. */
export function startProgramSupervisor(cp: ControlPlane, log: (line: string) => void = () => {}): OlmSupervisor {
  const dir = join(cp.dir, 'programs');
  mkdirSync(dir, { recursive: true });
  return startOlmSupervisor({
    client: cp.client,
    server: cp.server,
    caPem: cp.caPem,
    dir,
    logDir: join(cp.dir, 'logs'),
    groupsFile: join(cp.dir, 'pgids'),
    label: 'program',
    log,
    binaries: {
      [HELM_CONTROLLER_IMAGE]: binPath('helm-controller'),
      [METRICS_SERVER_IMAGE]: binPath('metrics-server'),
    },
    hostArgs: ({ program, kubeconfig, dir: workDir }) => hostArgs[program]?.(kubeconfig, workDir) ?? [],
  });
}

/**
 * The flux-operator chart with Flux's CRDs in crds/, as the community chart ships them: the
 * committed templates plus the CRDs build-binaries.sh extracted from the pinned modules.
 */
export function fluxOperatorChart(chartDir: string, parentDir: string): string {
  const out = join(mkdtempSync(join(parentDir, 'flux-operator-')), 'flux-operator');
  cpSync(chartDir, out, { recursive: true });
  const crds = join(fluxDataDir(), 'crds');
  mkdirSync(join(out, 'crds'), { recursive: true });
  for (const f of readdirSync(crds).filter((n) => n.endsWith('.yaml'))) cpSync(join(crds, f), join(out, 'crds', f));
  return out;
}
