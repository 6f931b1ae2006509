// A source.toolkit.fluxcd.io/v1 HelmChart whose artifact is published the way source-controller
// publishes one, without running source-controller (test/cluster/README.md, "Flux's
// helm-controller"): the object is created, then its status (artifact, observedGeneration,
// observedChartName, Ready and ArtifactInStorage conditions) is written through the status
// subresource. helm-controller reads only that status to decide the chart is ready and where to
// download it.
import type { ControlPlane } from '../controlPlane.ts';
import type { ChartArtifact } from './chartArtifact.ts';

export const SOURCE_API = '/apis/source.toolkit.fluxcd.io/v1';

export interface HelmChartObject {
  metadata: { name: string; namespace: string; generation?: number; uid?: string };
  status?: { observedGeneration?: number; artifact?: { url?: string; digest?: string } };
}

const helmChartPath = (namespace: string, name?: string) => `${SOURCE_API}/namespaces/${namespace}/helmcharts${name ? `/${name}` : ''}`;

/** Seconds precision, as metav1.Time serialises. */
const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

/** Creates the HelmChart `namespace/name` for `artifact` and marks it ready with that artifact. */
export async function publishHelmChart(cp: ControlPlane, namespace: string, name: string, artifact: ChartArtifact): Promise<HelmChartObject> {
  const created = await cp.client.request<HelmChartObject & { message?: string }>('POST', helmChartPath(namespace), {
    body: {
      apiVersion: 'source.toolkit.fluxcd.io/v1',
      kind: 'HelmChart',
      metadata: { name, namespace },
      // The HelmRepository is never reconciled (no source-controller); the spec documents where the chart would come from.
      spec: {
        chart: artifact.chartName,
        version: artifact.revision,
        sourceRef: { kind: 'HelmRepository', name: 'loopback-charts' },
        interval: '10m',
        reconcileStrategy: 'ChartVersion',
      },
    },
  });
  if (created.status !== 201) throw new Error(`creating HelmChart ${namespace}/${name}: ${created.status} ${created.text.slice(0, 300)}`);
  const generation = created.body.metadata.generation ?? 1;
  const at = now();
  const summary = `pulled '${artifact.chartName}' chart with version '${artifact.revision}'`;
  const status = {
    observedGeneration: generation,
    observedChartName: artifact.chartName,
    url: artifact.url.replace(/[^/]+$/, 'latest.tar.gz'),
    artifact: { path: artifact.path, url: artifact.url, revision: artifact.revision, digest: artifact.digest, lastUpdateTime: at, size: artifact.size },
    conditions: [
      { type: 'Ready', status: 'True', reason: 'ChartPullSucceeded', message: summary, observedGeneration: generation, lastTransitionTime: at },
      { type: 'ArtifactInStorage', status: 'True', reason: 'ChartPullSucceeded', message: summary, observedGeneration: generation, lastTransitionTime: at },
    ],
  };
  const patched = await cp.client.request<HelmChartObject>('PATCH', `${helmChartPath(namespace, name)}/status`, {
    body: { status },
    contentType: 'application/merge-patch+json',
  });
  if (patched.status !== 200) throw new Error(`setting HelmChart ${namespace}/${name} status: ${patched.status} ${patched.text.slice(0, 300)}`);
  return patched.body;
}

export async function deleteHelmChart(cp: ControlPlane, namespace: string, name: string): Promise<void> {
  const r = await cp.client.request('DELETE', helmChartPath(namespace, name));
  if (r.status >= 300 && r.status !== 404) throw new Error(`deleting HelmChart ${namespace}/${name}: ${r.status} ${r.text.slice(0, 300)}`);
}
