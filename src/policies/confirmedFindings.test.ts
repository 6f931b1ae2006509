// The three namespace-DELETE checks that read live look through kube-apiserver's watch cache
// first and confirm any finding with consistent reads. The watch cache's lag is modelled by
// LiveState.watchCache: what a list with resourceVersion=0 answers right after a teardown's
// earlier DELETEs, before the cache has seen them.
import { describe, expect, it } from 'vitest';
import { review } from '../../test/support/admissionRequests.ts';
import { bareCluster, configMapWebhook, namespace } from '../../test/support/clusterState.ts';
import { decide } from '../../test/support/decide.ts';
import type { FinalizedObject } from '../cluster/view.ts';
import type { KubeObject } from '../k8s/types.ts';

const METRICS_API: KubeObject = {
  apiVersion: 'apiregistration.k8s.io/v1',
  kind: 'APIService',
  metadata: { name: 'v1beta1.metrics.k8s.io' },
  spec: { service: { namespace: 'metrics', name: 'metrics-server' }, group: 'metrics.k8s.io', version: 'v1beta1' },
  status: { conditions: [{ type: 'Available', status: 'True', reason: 'Passed' }] },
};
const HOOK = configMapWebhook({ namespace: 'op', name: 'gone' });
const STATE: FinalizedObject = {
  group: '',
  version: 'v1',
  resource: 'configmaps',
  kind: 'ConfigMap',
  namespace: 'metrics',
  name: 'state',
  finalizers: ['example.io/keep'],
};
const RELEASE: FinalizedObject = {
  group: 'helm.toolkit.fluxcd.io',
  version: 'v2',
  resource: 'helmreleases',
  kind: 'HelmRelease',
  namespace: 'metrics',
  name: 'podinfo',
  finalizers: ['finalizers.fluxcd.io'],
};
const FLUX_GRANT = {
  serviceAccount: { namespace: 'flux-system', name: 'helm-controller' },
  via: 'ClusterRoleBinding crd-controller -> ClusterRole crd-controller',
  rules: [{ apiGroups: ['helm.toolkit.fluxcd.io'], resources: ['*'], verbs: ['*'] }],
};
const SCALED_DOWN: KubeObject = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { namespace: 'flux-system', name: 'helm-controller' },
  spec: { replicas: 0, template: { spec: { serviceAccountName: 'helm-controller' } } },
  status: {},
};

const enforceAll = { 'apiservice-backends': 'enforce', 'webhook-backends': 'enforce', 'inferred-finalizers': 'enforce' } as const;
const deleteMetrics = () => review('DELETE', namespace('metrics'));

describe('namespace-DELETE checks: watch cache first, findings confirmed consistently', () => {
  it('a namespace the watch cache finds nothing in is answered without a single consistent read', async () => {
    const { response, liveCalls, watchCacheCalls } = await decide(deleteMetrics(), bareCluster(['metrics']), {
      modes: enforceAll,
      live: { watchCache: {} },
    });
    expect(response.allowed).toBe(true);
    expect(watchCacheCalls).toBeGreaterThan(0);
    expect(liveCalls).toBe(0);
  });

  it('what the teardown removed a moment ago but the watch cache still shows is never flagged', async () => {
    // The uninstall deleted the APIService, the webhook configuration and the last finalized
    // object before the namespace; etcd has none of them any more.
    const now = bareCluster(['metrics', 'flux-system'], { deployments: [SCALED_DOWN], grants: [FLUX_GRANT] });
    const { response, liveCalls } = await decide(deleteMetrics(), now, {
      modes: enforceAll,
      live: { watchCache: { apiServices: [METRICS_API], webhookConfigurations: [HOOK], finalized: [STATE, RELEASE] } },
    });
    expect(response.allowed).toBe(true);
    expect(response.warnings).toBeUndefined();
    expect(liveCalls).toBeGreaterThan(0);
  });

  it('what both show is flagged, from the consistent reads', async () => {
    const now = bareCluster(['metrics', 'flux-system'], {
      deployments: [SCALED_DOWN],
      grants: [FLUX_GRANT],
      apiServices: [METRICS_API],
      webhookConfigurations: [HOOK],
      finalized: [STATE, RELEASE],
    });
    const { response } = await decide(deleteMetrics(), now, {
      modes: enforceAll,
      live: { watchCache: { apiServices: [METRICS_API], webhookConfigurations: [HOOK], finalized: [STATE, RELEASE] } },
    });
    expect(response.allowed).toBe(false);
    const message = response.status?.message ?? '';
    expect(message).toContain('APIService v1beta1.metrics.k8s.io -> Service metrics/metrics-server');
    expect(message).toContain('configmap-policy');
    expect(message).toContain('helm-controller');
  });

  it("the trade-off: what was created within the watch cache's lag before the DELETE is not seen", async () => {
    const now = bareCluster(['metrics'], { apiServices: [METRICS_API] });
    const { response, liveCalls } = await decide(deleteMetrics(), now, {
      modes: { 'apiservice-backends': 'enforce' },
      live: { watchCache: { apiServices: [] } },
    });
    expect(response.allowed).toBe(true);
    expect(liveCalls).toBe(0);
  });
});
