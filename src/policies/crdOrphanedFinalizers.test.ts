import { describe, expect, it } from 'vitest';
import { review } from '../../test/support/admissionRequests.ts';
import { bareCluster, csv, olmCluster } from '../../test/support/clusterState.ts';
import { decide } from '../../test/support/decide.ts';
import type { ClusterSnapshot } from '../../test/support/snapshotView.ts';
import type { KubeObject } from '../k8s/types.ts';
import type { Mode } from '../admission/modes.ts';

// A CRD as kube-apiserver sends it in oldObject (the fields the policy reads).
function crd(group: string, plural: string, kind: string, opts: { deleting?: boolean } = {}): KubeObject {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${group}`, ...(opts.deleting ? { deletionTimestamp: '2026-12-06T00:00:00Z' } : {}) },
    spec: {
      group,
      names: { plural, kind, singular: kind.toLowerCase(), listKind: `${kind}List` },
      scope: 'Cluster',
      versions: [
        { name: 'v1beta1', served: true, storage: false },
        { name: 'v1', served: true, storage: true },
      ],
    },
  };
}

// Kueue's shape: ClusterQueues (cluster-scoped) carrying kueue.x-k8s.io/resource-in-use, removed by
// the kueue-controller-manager Deployment, granted its group by a ClusterRoleBinding.
function queueCluster(replicas: number | undefined): ClusterSnapshot {
  return bareCluster(['kueue-system'], {
    deployments:
      replicas === undefined
        ? []
        : [
            {
              apiVersion: 'apps/v1',
              kind: 'Deployment',
              metadata: { namespace: 'kueue-system', name: 'kueue-controller-manager' },
              spec: { replicas, template: { spec: { serviceAccountName: 'kueue-controller-manager' } } },
              status: { availableReplicas: replicas },
            },
          ],
    finalized: [
      {
        group: 'kueue.x-k8s.io',
        version: 'v1',
        resource: 'clusterqueues',
        kind: 'ClusterQueue',
        namespace: '',
        name: 'cluster-queue',
        finalizers: ['kueue.x-k8s.io/resource-in-use'],
      },
    ],
    grants: [
      {
        serviceAccount: { namespace: 'kueue-system', name: 'kueue-controller-manager' },
        via: 'ClusterRoleBinding kueue-manager-rolebinding -> ClusterRole kueue-manager-role',
        rules: [{ apiGroups: ['kueue.x-k8s.io'], resources: ['clusterqueues'], verbs: ['get', 'list', 'watch', 'update', 'patch'] }],
      },
    ],
  });
}

const deleteQueues = (opts: { deleting?: boolean } = {}) => review('DELETE', crd('kueue.x-k8s.io', 'clusterqueues', 'ClusterQueue', opts));
const modes = (mode: Mode) => ({ modes: { 'crd-orphaned-finalizers': mode } });

describe('crd-orphaned-finalizers', () => {
  it('is silent while the controller of the objects’ finalizer runs', async () => {
    const { response, decisions } = await decide(deleteQueues(), queueCluster(1), modes('enforce'));
    expect(response.allowed).toBe(true);
    expect(response.warnings).toBeUndefined();
    expect(decisions.find((d) => d.policy === 'crd-orphaned-finalizers')?.verdict).toBe('allow');
  });

  it('denies in enforce when the controller is stopped, naming the CRD, the objects, the finalizer, the controller and the fix', async () => {
    const { response } = await decide(deleteQueues(), queueCluster(0), modes('enforce'));
    expect(response.allowed).toBe(false);
    const msg = response.status?.message ?? '';
    expect(msg).toContain('deleting CRD clusterqueues.kueue.x-k8s.io would leave ClusterQueue cluster-queue Terminating forever');
    expect(msg).toContain('kueue.x-k8s.io/resource-in-use');
    expect(msg).toContain('Deployment kueue-system/kueue-controller-manager');
    expect(msg).toContain('kubectl patch clusterqueues.kueue.x-k8s.io cluster-queue --type=json');
  });

  it('warns in its default mode (warn), and only warns when no workload runs as the controller’s ServiceAccount', async () => {
    const warned = await decide(deleteQueues(), queueCluster(0), modes('warn'));
    expect(warned.response.allowed).toBe(true);
    expect((warned.response.warnings ?? []).join('\n')).toContain('[crd-orphaned-finalizers]');
    const notRunning = await decide(deleteQueues(), queueCluster(undefined), modes('enforce'));
    expect(notRunning.response.allowed).toBe(true);
    expect((notRunning.response.warnings ?? []).join('\n')).toContain('no workload runs as the ServiceAccount');
  });

  it('a controller uninstalled (no RBAC, no workload) is named from the memory', async () => {
    const cluster = {
      ...queueCluster(undefined),
      grants: [],
      remembered: [
        {
          finalizer: 'kueue.x-k8s.io/resource-in-use',
          group: 'kueue.x-k8s.io',
          resource: 'clusterqueues',
          kind: 'ClusterQueue',
          controllers: [{ kind: 'Deployment', namespace: 'kueue-system', name: 'kueue-controller-manager', serviceAccount: 'kueue-controller-manager' }],
          release: { namespace: 'kueue-system', name: 'kueue' },
          basis: 'rbac' as const,
          firstLearnedMs: 0,
          lastSeenRunningMs: Date.parse('2026-12-06T10:00:00Z'),
        },
      ],
    };
    const { response } = await decide(deleteQueues(), cluster, modes('enforce'));
    expect(response.allowed).toBe(false);
    expect(response.status?.message ?? '').toContain('was uninstalled');
    expect(response.status?.message ?? '').toContain('Helm release kueue-system/kueue');
  });

  it('never judges a CRD already being deleted again', async () => {
    const { response, liveCalls } = await decide(deleteQueues({ deleting: true }), queueCluster(0), modes('enforce'));
    expect(response.allowed).toBe(true);
    expect(liveCalls).toBe(0);
  });

  it('a guarded finalizer (OLM csv-cleanup) is judged by its guard', async () => {
    const cluster = { ...olmCluster(), deployments: [] as KubeObject[] };
    const finalized = [csv('px-operator', 'pixie-operator.v0.1.0')].map((o) => ({
      group: 'operators.coreos.com',
      version: 'v1alpha1',
      resource: 'clusterserviceversions',
      kind: 'ClusterServiceVersion',
      namespace: o.metadata.namespace ?? '',
      name: o.metadata.name ?? '',
      finalizers: o.metadata.finalizers ?? [],
    }));
    const { response } = await decide(
      review('DELETE', crd('operators.coreos.com', 'clusterserviceversions', 'ClusterServiceVersion')),
      { ...cluster, finalized },
      modes('enforce'),
    );
    expect(response.allowed).toBe(false);
    expect(response.status?.message ?? '').toContain('OLM olm-operator is gone');
  });
});
