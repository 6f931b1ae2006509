import { describe, expect, it } from 'vitest';
import { review } from '../../test/support/admissionRequests.ts';
import { bareCluster, namespace } from '../../test/support/clusterState.ts';
import { decide } from '../../test/support/decide.ts';
import type { ClusterSnapshot } from '../cluster/snapshotView.ts';
import type { KubeObject } from '../k8s/types.ts';
import type { Mode } from '../admission/modes.ts';

// The shape of Flux: helm-controller's finalizer on a HelmRelease in an app namespace, its
// ServiceAccount granted its own API groups by name (as the flux2 manifests do).
const helmController = (status: Record<string, unknown>, replicas = 1): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: {
    namespace: 'flux-system',
    name: 'helm-controller',
    annotations: { 'meta.helm.sh/release-name': 'flux', 'meta.helm.sh/release-namespace': 'flux-system' },
  },
  spec: { replicas, template: { spec: { serviceAccountName: 'helm-controller' } } },
  status,
});

function fluxCluster(controller: KubeObject | undefined, rules = [{ apiGroups: ['helm.toolkit.fluxcd.io'], resources: ['*'], verbs: ['*'] }]): ClusterSnapshot {
  return bareCluster(['apps', 'flux-system'], {
    deployments: controller ? [controller] : [],
    finalized: [
      {
        group: 'helm.toolkit.fluxcd.io',
        version: 'v2',
        resource: 'helmreleases',
        kind: 'HelmRelease',
        namespace: 'apps',
        name: 'podinfo',
        finalizers: ['finalizers.fluxcd.io'],
      },
      {
        group: '',
        version: 'v1',
        resource: 'persistentvolumeclaims',
        kind: 'PersistentVolumeClaim',
        namespace: 'apps',
        name: 'data',
        finalizers: ['kubernetes.io/pvc-protection'],
      },
    ],
    grants: [
      { serviceAccount: { namespace: 'flux-system', name: 'helm-controller' }, via: 'ClusterRoleBinding crd-controller -> ClusterRole crd-controller', rules },
    ],
  });
}

const deleteApps = () => review('DELETE', namespace('apps'));
const modes = (mode: Mode) => ({ modes: { 'inferred-finalizers': mode } });

describe('inferred-finalizers: DELETE namespace', () => {
  it('is silent while the inferred controller runs', async () => {
    const { response, decisions } = await decide(deleteApps(), fluxCluster(helmController({ availableReplicas: 1 })), modes('warn'));
    expect(response.allowed).toBe(true);
    expect(response.warnings).toBeUndefined();
    expect(decisions.filter((d) => d.policy === 'inferred-finalizers').map((d) => d.verdict)).toEqual(['allow']);
  });

  it('warns (warn mode) when the inferred controller is scaled to 0, naming objects, finalizer, controller, why, and the fix', async () => {
    const { response } = await decide(deleteApps(), fluxCluster(helmController({}, 0)), modes('warn'));
    expect(response.allowed).toBe(true);
    const warning = (response.warnings ?? []).join('\n');
    expect(warning).toContain('[inferred-finalizers]');
    expect(warning).toContain('HelmRelease apps/podinfo');
    expect(warning).toContain('finalizers.fluxcd.io');
    expect(warning).toContain('Deployment flux-system/helm-controller (Helm release flux-system/flux)');
    expect(warning).not.toContain('pvc-protection');
  });

  it('denies in enforce, with the inference and the remedy in the message', async () => {
    const { response } = await decide(deleteApps(), fluxCluster(helmController({}, 0)), modes('enforce'));
    expect(response.allowed).toBe(false);
    const msg = response.status?.message ?? '';
    expect(msg).toContain('ServiceAccount flux-system/helm-controller may update them (ClusterRoleBinding crd-controller -> ClusterRole crd-controller)');
    expect(msg).toContain('has no available replicas');
    expect(msg).toContain('kubectl patch helmreleases.helm.toolkit.fluxcd.io podinfo -n apps --type=json');
  });

  it('only warns, even in enforce, when it is not sure: no workload runs as the ServiceAccount', async () => {
    const { response } = await decide(deleteApps(), fluxCluster(undefined), modes('enforce'));
    expect(response.allowed).toBe(true);
    expect((response.warnings ?? []).join('\n')).toContain('no workload runs as the ServiceAccount');
  });

  it('says nothing when it cannot name a controller (cluster-admin only) or a read fails, and is never undecided', async () => {
    const admin = await decide(deleteApps(), fluxCluster(helmController({}, 0), [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }]), modes('enforce'));
    expect(admin.response.allowed).toBe(true);
    expect(admin.response.warnings).toBeUndefined();
    const failing = await decide(deleteApps(), fluxCluster(helmController({}, 0)), {
      ...modes('enforce'),
      undecided: 'deny',
      live: { failWith: 'connection refused' },
    });
    expect(failing.decisions.filter((d) => d.policy === 'inferred-finalizers').map((d) => d.verdict)).toEqual(['allow']);
  });
});
