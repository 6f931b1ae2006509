// HelmRelease objects (helm.toolkit.fluxcd.io/v2) for the real helm-controller: create one that
// points at a HelmChart through spec.chartRef, wait until helm-controller reports the release
// installed, delete it and wait until helm-controller has uninstalled it and dropped its
// finalizer (test/cluster/README.md, "Flux's helm-controller").
import type { ControlPlane } from '../controlPlane.ts';
import { GiveUp, waitFor } from '../proc.ts';

export const HELM_API = '/apis/helm.toolkit.fluxcd.io/v2';

export interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

export interface HelmReleaseObject {
  metadata: { name: string; namespace: string; generation?: number; deletionTimestamp?: string; finalizers?: string[] };
  status?: {
    observedGeneration?: number;
    storageNamespace?: string;
    conditions?: Condition[];
    history?: Array<{ name?: string; namespace?: string; version?: number; status?: string }>;
  };
}

export interface HelmReleaseSpec {
  namespace: string;
  name: string;
  /** A HelmChart in `namespace`. */
  chartRef: string;
  targetNamespace?: string;
  storageNamespace?: string;
}

const hrPath = (namespace: string, name?: string) => `${HELM_API}/namespaces/${namespace}/helmreleases${name ? `/${name}` : ''}`;

/** Helm's release name for a HelmRelease without spec.releaseName: `[targetNamespace-]name`. */
export function releaseNameOf(s: HelmReleaseSpec): string {
  return s.targetNamespace ? `${s.targetNamespace}-${s.name}` : s.name;
}

export function describeHelmRelease(o: HelmReleaseObject | undefined): string {
  if (!o) return 'HelmRelease gone';
  const c = (o.status?.conditions ?? []).map((x) => `${x.type}=${x.status}${x.reason ? ` ${x.reason}` : ''}${x.message ? `: ${x.message}` : ''}`).join('; ');
  return `HelmRelease ${o.metadata.namespace}/${o.metadata.name} gen ${o.metadata.generation} observed ${o.status?.observedGeneration ?? '-'}${o.metadata.deletionTimestamp ? ' (deleting)' : ''}: ${c || 'no conditions'}`;
}

export async function getHelmRelease(cp: ControlPlane, namespace: string, name: string): Promise<HelmReleaseObject | undefined> {
  return cp.client.get<HelmReleaseObject>(hrPath(namespace, name));
}

/**
 * Creates the HelmRelease. Install waits are off: without a kubelet the chart's Deployment never
 * becomes Available (test/cluster/README.md); the uninstall still waits for its objects to go.
 */
export async function createHelmRelease(cp: ControlPlane, s: HelmReleaseSpec): Promise<void> {
  const spec: Record<string, unknown> = {
    interval: '10m',
    chartRef: { kind: 'HelmChart', name: s.chartRef },
    install: { disableWait: true, disableWaitForJobs: true, remediation: { retries: 0 } },
    upgrade: { disableWait: true, disableWaitForJobs: true },
    uninstall: { timeout: '60s' },
    ...(s.targetNamespace ? { targetNamespace: s.targetNamespace } : {}),
    ...(s.storageNamespace ? { storageNamespace: s.storageNamespace } : {}),
  };
  const r = await cp.client.request('POST', hrPath(s.namespace), {
    body: { apiVersion: 'helm.toolkit.fluxcd.io/v2', kind: 'HelmRelease', metadata: { name: s.name, namespace: s.namespace }, spec },
  });
  if (r.status !== 201) throw new Error(`creating HelmRelease ${s.namespace}/${s.name}: ${r.status} ${r.text.slice(0, 300)}`);
}

const terminalFailure = /InstallFailed|ArtifactFailed|UninstallFailed|InitFailed|ValuesError|RESTClientError|AccessDenied/;

/** Waits until helm-controller marks the HelmRelease Ready for its current generation; gives up at once on a failure reason. */
export async function waitHelmReleaseReady(cp: ControlPlane, namespace: string, name: string, timeoutMs: number): Promise<HelmReleaseObject> {
  return waitFor(
    `HelmRelease ${namespace}/${name} Ready`,
    timeoutMs,
    async () => {
      const o = await getHelmRelease(cp, namespace, name);
      const ready = o?.status?.conditions?.find((c) => c.type === 'Ready');
      if (ready?.status === 'False' && terminalFailure.test(ready.reason ?? '')) throw new GiveUp(describeHelmRelease(o));
      return o && ready?.status === 'True' && o.status?.observedGeneration === o.metadata.generation ? o : undefined;
    },
    250,
  ).catch((e: unknown) => {
    if (e instanceof GiveUp) throw e;
    return getHelmRelease(cp, namespace, name).then((o) => {
      throw new Error(`${e instanceof Error ? e.message : String(e)}; last: ${describeHelmRelease(o)}`);
    });
  });
}

/**
 * Deletes the HelmRelease as a user would (`kubectl delete helmrelease`) and waits until it is gone
 * (helm-controller removes its finalizer after the uninstall).
 */
export async function deleteHelmReleaseAndWait(cp: ControlPlane, namespace: string, name: string, timeoutMs: number): Promise<void> {
  const r = await cp.kubectl(['delete', 'helmrelease', name, '-n', namespace, '--wait=false']);
  if (r.code !== 0) throw new Error(`kubectl delete helmrelease ${name} -n ${namespace}: ${r.stdout}${r.stderr}`);
  let last: HelmReleaseObject | undefined;
  await waitFor(
    `HelmRelease ${namespace}/${name} gone`,
    timeoutMs,
    async () => {
      last = await getHelmRelease(cp, namespace, name);
      return last ? undefined : true;
    },
    250,
  ).catch((e: unknown) => {
    throw new Error(`${e instanceof Error ? e.message : String(e)}; last: ${describeHelmRelease(last)}`);
  });
}
