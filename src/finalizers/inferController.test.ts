// The inference rules on small, named cases. The same rules meet a real operator (Flux's
// helm-controller and its chart's RBAC) in test/integration/scenariosOperators.test.ts.
import { describe, expect, it } from 'vitest';
import type { FinalizedObject, RbacRule, ServiceAccountGrant } from '../k8s/rbac.ts';
import type { KubeObject } from '../k8s/types.ts';
import { OLM_CSV_CLEANUP_GUARD } from '../olm/finalizerGuards.ts';
import { candidateControllers, grantsUpdateByName, inferController, sameOrganization, unknownFinalizers, updatableTypes } from './inferController.ts';

const hr = (name: string, finalizers: string[]): FinalizedObject => ({
  group: 'helm.toolkit.fluxcd.io',
  version: 'v2',
  resource: 'helmreleases',
  kind: 'HelmRelease',
  namespace: 'apps',
  name,
  finalizers,
});
const grant = (ns: string, name: string, rules: RbacRule[], via = `ClusterRoleBinding ${name} -> ClusterRole ${name}`): ServiceAccountGrant => ({
  serviceAccount: { namespace: ns, name },
  via,
  rules,
});
const FLUX_RULES: RbacRule[] = [{ apiGroups: ['helm.toolkit.fluxcd.io'], resources: ['*'], verbs: ['*'] }];
const deployment = (ns: string, name: string, sa: string, status: Record<string, unknown>, spec: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { namespace: ns, name },
  spec: { replicas: 1, ...spec, template: { spec: { serviceAccountName: sa } } },
  status,
});

describe('which finalizers inference is for', () => {
  it('skips those the control plane removes and those a guard covers; a finalizer without a domain is unsure', () => {
    const csv: FinalizedObject = {
      ...hr('x', []),
      group: 'operators.coreos.com',
      version: 'v1alpha1',
      resource: 'clusterserviceversions',
      kind: 'ClusterServiceVersion',
      finalizers: ['operators.coreos.com/csv-cleanup'],
    };
    const { known, unsure } = unknownFinalizers(
      [
        csv,
        hr('a', ['finalizers.fluxcd.io', 'foregroundDeletion']),
        hr('b', ['finalizers.fluxcd.io']),
        hr('c', ['kubernetes.io/pvc-protection', 'cleanup']),
        hr('d', ['snapshot.storage.kubernetes.io/x']),
      ],
      [OLM_CSV_CLEANUP_GUARD],
    );
    expect(known.map((u) => [u.finalizer, u.objects.map((o) => o.name)])).toEqual([['finalizers.fluxcd.io', ['a', 'b']]]);
    expect(unsure.map((u) => u.finalizer).sort()).toEqual(['cleanup', 'snapshot.storage.kubernetes.io/x']);
  });
});

describe('candidate controllers', () => {
  it('take a rule that names the group (resources by name, or * within a named group) and a verb that writes', () => {
    expect(
      grantsUpdateByName({ apiGroups: ['helm.toolkit.fluxcd.io'], resources: ['helmreleases'], verbs: ['patch'] }, 'helm.toolkit.fluxcd.io', 'helmreleases'),
    ).toBe(true);
    expect(grantsUpdateByName(FLUX_RULES[0] as RbacRule, 'helm.toolkit.fluxcd.io', 'helmreleases')).toBe(true);
    expect(grantsUpdateByName({ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }, 'helm.toolkit.fluxcd.io', 'helmreleases')).toBe(false);
    expect(grantsUpdateByName({ apiGroups: [''], resources: ['*'], verbs: ['*'] }, '', 'configmaps')).toBe(false);
    expect(
      grantsUpdateByName(
        { apiGroups: ['helm.toolkit.fluxcd.io'], resources: ['helmreleases'], verbs: ['get', 'list', 'watch'] },
        'helm.toolkit.fluxcd.io',
        'helmreleases',
      ),
    ).toBe(false);
    expect(grantsUpdateByName({ apiGroups: [''], resources: ['configmaps'], verbs: ['update'], resourceNames: ['leader'] }, '', 'configmaps')).toBe(false);
  });

  it('updatableTypes wants exactly the types some rule grants update of by name (the sweep lists no others)', () => {
    const rules: RbacRule[] = [
      FLUX_RULES[0] as RbacRule,
      { apiGroups: ['*'], resources: ['*'], verbs: ['*'] },
      { apiGroups: [''], resources: ['*'], verbs: ['*'] },
      { apiGroups: [''], resources: ['configmaps'], verbs: ['update'], resourceNames: ['leader'] },
      { apiGroups: [''], resources: ['secrets'], verbs: ['patch'] },
      { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'list'] },
    ];
    const wanted = updatableTypes([grant('flux-system', 'helm-controller', rules.slice(0, 3)), grant('op', 'op', rules.slice(3))]);
    const types = [
      { group: 'helm.toolkit.fluxcd.io', resource: 'helmreleases' },
      { group: 'helm.toolkit.fluxcd.io', resource: 'helmcharts' },
      { group: 'example.io', resource: 'widgets' },
      { group: '', resource: 'configmaps' },
      { group: '', resource: 'secrets' },
      { group: '', resource: 'pods' },
      { group: 'apps', resource: 'deployments' },
    ];
    expect(types.filter(wanted)).toEqual(types.filter((t) => rules.some((r) => grantsUpdateByName(r, t.group, t.resource))));
    expect(types.filter(wanted).map((t) => t.resource)).toEqual(['helmreleases', 'helmcharts', 'secrets']);
    expect(updatableTypes([])({ group: '', resource: 'secrets' })).toBe(false);
  });

  it('belong with the finalizer: same organization as the resource group, or a group the ServiceAccount is granted', () => {
    expect(sameOrganization('apps.victoriametrics.com', 'operator.victoriametrics.com')).toBe(true);
    expect(sameOrganization('finalizers.fluxcd.io', 'helm.toolkit.fluxcd.io')).toBe(true);
    expect(sameOrganization('finalizers.fluxcd.io', '')).toBe(false);
    const cm: FinalizedObject = {
      group: '',
      version: 'v1',
      resource: 'configmaps',
      kind: 'ConfigMap',
      namespace: 'apps',
      name: 'vm-config',
      finalizers: ['apps.victoriametrics.com/finalizer'],
    };
    const [u] = unknownFinalizers([cm], []).known;
    const leaderElection = grant('kube-system', 'some-controller', [{ apiGroups: [''], resources: ['configmaps'], verbs: ['update'] }]);
    const vmOperator = grant('vm', 'vm-operator', [
      { apiGroups: [''], resources: ['configmaps'], verbs: ['update', 'patch'] },
      { apiGroups: ['operator.victoriametrics.com'], resources: ['vmsingles'], verbs: ['*'] },
    ]);
    const clusterAdmin = grant('flux-system', 'kustomize-controller', [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }]);
    expect(candidateControllers(u!, [leaderElection, vmOperator, clusterAdmin]).map((c) => c.serviceAccount)).toEqual([
      { namespace: 'vm', name: 'vm-operator' },
    ]);
  });
});

describe('inferController', () => {
  const [u] = unknownFinalizers([hr('podinfo', ['finalizers.fluxcd.io'])], []).known;
  const grants = [grant('flux-system', 'helm-controller', FLUX_RULES)];
  const notTerminating = (_ns: string) => false;
  const infer = (workloads: KubeObject[], deleted = 'apps', terminating: (ns: string) => boolean = notTerminating) =>
    inferController(u!, grants, (ns) => workloads.filter((w) => w.metadata?.namespace === ns), deleted, terminating);

  it('is unsure without a candidate (a controller bound to cluster-admin only)', () => {
    expect(
      inferController(u!, [grant('flux-system', 'helm-controller', [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }])], () => [], 'apps', notTerminating)
        .verdict,
    ).toBe('unsure');
  });
  it('is alive with an available replica, or one coming back (a rollout)', () => {
    expect(infer([deployment('flux-system', 'helm-controller', 'helm-controller', { availableReplicas: 1 })]).verdict).toBe('alive');
    expect(infer([deployment('flux-system', 'helm-controller', 'helm-controller', { conditions: [{ type: 'Progressing', status: 'True' }] })]).verdict).toBe(
      'alive',
    );
  });
  it('is dead when scaled to 0, being deleted, stuck, or its namespace is Terminating', () => {
    expect(infer([deployment('flux-system', 'helm-controller', 'helm-controller', {}, { replicas: 0 })]).verdict).toBe('dead');
    expect(
      infer([
        deployment('flux-system', 'helm-controller', 'helm-controller', {
          conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }],
        }),
      ]).verdict,
    ).toBe('dead');
    const alive = deployment('flux-system', 'helm-controller', 'helm-controller', { availableReplicas: 1 });
    expect(infer([{ ...alive, metadata: { ...alive.metadata, deletionTimestamp: '2026-12-01T00:00:00Z' } }]).verdict).toBe('dead');
    expect(infer([alive], 'apps', (ns) => ns === 'flux-system').verdict).toBe('dead');
  });
  it('is removed-by-request when its only live controller is in the namespace being deleted', () => {
    expect(infer([deployment('flux-system', 'helm-controller', 'helm-controller', { availableReplicas: 1 })], 'flux-system').verdict).toBe(
      'removed-by-request',
    );
  });
  it('is not-running when no workload runs as the candidate ServiceAccount', () => {
    expect(infer([deployment('flux-system', 'source-controller', 'source-controller', { availableReplicas: 1 })]).verdict).toBe('not-running');
  });
});
