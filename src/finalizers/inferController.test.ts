// The inference rules on small, named cases. The same rules meet a real operator (Flux's
// helm-controller and its chart's RBAC) in test/integration/scenariosOperators.test.ts.
import fc from 'fast-check';
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

  it('updatableTypes wants the types a candidate could update: by name, and by a ServiceAccount with an organization group', () => {
    const rules: RbacRule[] = [
      FLUX_RULES[0] as RbacRule,
      { apiGroups: ['*'], resources: ['*'], verbs: ['*'] },
      { apiGroups: [''], resources: ['*'], verbs: ['*'] },
      { apiGroups: [''], resources: ['configmaps'], verbs: ['update'], resourceNames: ['leader'] },
      { apiGroups: [''], resources: ['secrets'], verbs: ['patch'] },
      { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'list'] },
    ];
    // kube-controller-manager's controllers: core and Kubernetes-project groups only.
    const controllerManager: RbacRule[] = [
      { apiGroups: ['', 'apps'], resources: ['pods', 'replicasets'], verbs: ['update', 'patch'] },
      { apiGroups: ['networking.k8s.io'], resources: ['ingresses'], verbs: ['update'] },
    ];
    const wanted = updatableTypes([
      grant('flux-system', 'helm-controller', rules.slice(0, 3)),
      grant('op', 'op', rules.slice(3)),
      grant('kube-system', 'replicaset-controller', controllerManager),
    ]);
    const types = [
      { group: 'helm.toolkit.fluxcd.io', resource: 'helmreleases' },
      { group: 'helm.toolkit.fluxcd.io', resource: 'helmcharts' },
      { group: 'example.io', resource: 'widgets' },
      { group: '', resource: 'configmaps' },
      { group: '', resource: 'secrets' },
      { group: '', resource: 'pods' },
      { group: 'apps', resource: 'replicasets' },
      { group: 'networking.k8s.io', resource: 'ingresses' },
    ];
    // '*' names nothing, in the core group or as a group (grantsUpdateByName); `op` may patch
    // Secrets but holds no organization group, and neither do kube-controller-manager's controllers.
    expect(types.filter(wanted).map((t) => `${t.group}/${t.resource}`)).toEqual(['helm.toolkit.fluxcd.io/helmreleases', 'helm.toolkit.fluxcd.io/helmcharts']);
    // The same Secrets rule in a ServiceAccount that also holds its own group: its Secrets' finalizers may be its own.
    const withOwnGroup = updatableTypes([grant('op', 'op', [...rules.slice(3), { apiGroups: ['ops.example.com'], resources: ['widgets'], verbs: ['get'] }])]);
    expect(types.filter(withOwnGroup).map((t) => `${t.group}/${t.resource}`)).toEqual(['/secrets']);
    expect(updatableTypes([])({ group: '', resource: 'secrets' })).toBe(false);
  });

  it('updatableTypes never leaves out a type with a candidate controller (any grants, any finalizers)', () => {
    const groups = ['', 'apps', 'networking.k8s.io', 'example.com', 'ops.example.com', 'fluxcd.io', 'helm.toolkit.fluxcd.io', 'cluster.x-k8s.io', '*'];
    const resources = ['configmaps', 'widgets', 'helmreleases', 'machines', '*'];
    const finalizers = [
      'example.com/cleanup',
      'finalizers.fluxcd.io',
      'addon.k8s.io/x',
      'Storage.Kubernetes.io',
      'cluster.x-k8s.io',
      'cleanup',
      'widgets.ops.example.com/protect',
    ];
    const rule = fc.record({
      apiGroups: fc.subarray(groups, { minLength: 1 }),
      resources: fc.subarray(resources, { minLength: 1 }),
      verbs: fc.subarray(['get', 'update', 'patch', '*'], { minLength: 1 }),
      resourceNames: fc.option(fc.constant(['leader']), { nil: undefined }),
    });
    const grantArb = fc.record({ sa: fc.constantFrom('a', 'b', 'c'), rules: fc.array(rule, { maxLength: 3 }) });
    const object = fc.record({
      group: fc.constantFrom(...groups.filter((g) => g !== '*')),
      resource: fc.constantFrom(...resources.filter((r) => r !== '*')),
      finalizers: fc.subarray(finalizers, { minLength: 1 }),
    });
    fc.assert(
      fc.property(fc.array(grantArb, { maxLength: 4 }), fc.array(object, { maxLength: 6 }), (grantSpecs, objects) => {
        const grants = grantSpecs.map((g, i) =>
          grant(
            'ops',
            g.sa,
            g.rules.map(({ resourceNames, ...r }) => (resourceNames ? { ...r, resourceNames: [...resourceNames] } : r)),
            `binding ${i}`,
          ),
        );
        const swept: FinalizedObject[] = objects.map((o, i) => ({ ...o, version: 'v1', kind: o.resource, namespace: 'apps', name: `o${i}` }));
        const wanted = updatableTypes(grants);
        for (const u of unknownFinalizers(swept, []).known) {
          if (candidateControllers(u, grants).length > 0) expect(wanted(u), `${u.finalizer} on ${u.group}/${u.resource}`).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
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
    inferController(u!, grants, (ns) => workloads.filter((w) => w.metadata?.namespace === ns), { deletedNamespace: deleted }, terminating);

  it('is unsure without a candidate (a controller bound to cluster-admin only)', () => {
    expect(
      inferController(
        u!,
        [grant('flux-system', 'helm-controller', [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }])],
        () => [],
        { deletedNamespace: 'apps' },
        notTerminating,
      ).verdict,
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
