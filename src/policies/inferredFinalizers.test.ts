import { describe, expect, it } from 'vitest';
import { review } from '../../test/support/admissionRequests.ts';
import { bareCluster, namespace, releaseSecret } from '../../test/support/clusterState.ts';
import { decide } from '../../test/support/decide.ts';
import type { ClusterSnapshot } from '../../test/support/snapshotView.ts';
import type { ServiceAccountGrant } from '../cluster/view.ts';
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

const REMEMBERED_FLUX = {
  finalizer: 'finalizers.fluxcd.io',
  group: 'helm.toolkit.fluxcd.io',
  resource: 'helmreleases',
  kind: 'HelmRelease',
  controllers: [{ kind: 'Deployment', namespace: 'flux-system', name: 'helm-controller', serviceAccount: 'helm-controller' }],
  release: { namespace: 'flux-system', name: 'flux' },
  basis: 'rbac' as const,
  firstLearnedMs: Date.parse('2026-12-01T00:00:00Z'),
  lastSeenRunningMs: Date.parse('2026-12-05T00:00:00Z'),
};

describe('inferred-finalizers: the memory of whose finalizer it is', () => {
  it('remembers the controller it sees running, with its release', async () => {
    const { learned } = await decide(deleteApps(), fluxCluster(helmController({ availableReplicas: 1 })), modes('warn'));
    expect(
      learned.map((e) => [e.finalizer, e.resource, e.controllers.map((c) => `${c.kind} ${c.namespace}/${c.name} as ${c.serviceAccount}`), e.release]),
    ).toEqual([
      ['finalizers.fluxcd.io', 'helmreleases', ['Deployment flux-system/helm-controller as helm-controller'], { namespace: 'flux-system', name: 'flux' }],
    ]);
  });

  it('once the operator is uninstalled (RBAC and workload gone), a remembered controller makes the namespace DELETE a violation', async () => {
    const uninstalled = { ...fluxCluster(undefined, []), grants: [], remembered: [REMEMBERED_FLUX] };
    const denied = await decide(deleteApps(), uninstalled, modes('enforce'));
    expect(denied.response.allowed).toBe(false);
    const msg = denied.response.status?.message ?? '';
    expect(msg).toContain('namespace apps');
    expect(msg).toContain('Deployment flux-system/helm-controller (Helm release flux-system/flux)');
    expect(msg).toContain('was uninstalled');
    expect(msg).toContain('last seen running 2026-12-05T00:00:00.000Z');
    expect(msg).toContain('Reinstall the operator (Helm release flux-system/flux');
    // Without the memory it cannot name anyone: silence, as before.
    const forgotten = await decide(deleteApps(), { ...uninstalled, remembered: [] }, modes('enforce'));
    expect(forgotten.response.allowed).toBe(true);
    expect(forgotten.response.warnings).toBeUndefined();
  });

  it('a remembered controller that still runs but lost its rights cannot remove anything', async () => {
    const rbacGone = { ...fluxCluster(helmController({ availableReplicas: 1 }), []), grants: [], remembered: [REMEMBERED_FLUX] };
    const { response } = await decide(deleteApps(), rbacGone, modes('enforce'));
    expect(response.allowed).toBe(false);
    expect(response.status?.message ?? '').toContain('no longer holds the rights to update these objects');
  });

  it('the memory never overrides a controller inference finds running', async () => {
    const reinstalled = {
      ...fluxCluster(helmController({ availableReplicas: 1 })),
      remembered: [{ ...REMEMBERED_FLUX, controllers: [{ ...REMEMBERED_FLUX.controllers[0]!, name: 'old-name' }] }],
    };
    const { response } = await decide(deleteApps(), reinstalled, modes('enforce'));
    expect(response.allowed).toBe(true);
    expect(response.warnings).toBeUndefined();
  });
});

// The shape of Argo CD (its manifests/install.yaml): the application-controller StatefulSet, which
// removes resources-finalizer.argocd.argoproj.io, holds `*` on `*`; argocd-server and the
// notifications controller hold update on applications by name. Only the objects' field manager
// says which one reconciles them.
function argoCluster(controllerReplicas: number): ClusterSnapshot {
  const workload = (kind: string, name: string, replicas: number): KubeObject => ({
    apiVersion: 'apps/v1',
    kind,
    metadata: { namespace: 'argocd', name },
    spec: { replicas, template: { spec: { serviceAccountName: name, containers: [{ name, command: [name] }] } } },
    status: { availableReplicas: replicas, readyReplicas: replicas },
  });
  const apps = { apiGroups: ['argoproj.io'], resources: ['applications'], verbs: ['get', 'list', 'watch', 'update', 'patch'] };
  return bareCluster(['argocd', 'team'], {
    deployments: [
      workload('StatefulSet', 'argocd-application-controller', controllerReplicas),
      workload('Deployment', 'argocd-server', 1),
      workload('Deployment', 'argocd-notifications-controller', 1),
    ],
    finalized: [
      {
        group: 'argoproj.io',
        version: 'v1alpha1',
        resource: 'applications',
        kind: 'Application',
        namespace: 'team',
        name: 'guestbook',
        finalizers: ['resources-finalizer.argocd.argoproj.io'],
        statusManagers: ['argocd-application-controller'],
        finalizerManagers: { 'resources-finalizer.argocd.argoproj.io': ['kubectl-client-side-apply'] },
      },
    ],
    grants: [
      {
        serviceAccount: { namespace: 'argocd', name: 'argocd-application-controller' },
        via: 'ClusterRoleBinding argocd-application-controller -> ClusterRole argocd-application-controller',
        rules: [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }],
      },
      { serviceAccount: { namespace: 'argocd', name: 'argocd-server' }, via: 'ClusterRoleBinding argocd-server -> ClusterRole argocd-server', rules: [apps] },
      {
        serviceAccount: { namespace: 'argocd', name: 'argocd-notifications-controller' },
        via: 'ClusterRoleBinding argocd-notifications-controller -> ClusterRole argocd-notifications-controller',
        rules: [apps],
      },
    ],
  });
}

describe('inferred-finalizers: the right controller, not a bystander', () => {
  const deleteTeam = () => review('DELETE', namespace('team'));

  it('names the StatefulSet the field manager names, though only bystanders may update the objects by name', async () => {
    const { response } = await decide(deleteTeam(), argoCluster(0), modes('enforce'));
    expect(response.allowed).toBe(false);
    const msg = response.status?.message ?? '';
    expect(msg).toContain('StatefulSet argocd/argocd-application-controller');
    expect(msg).toContain('field manager argocd-application-controller');
    expect(msg).not.toContain('Deployment argocd/argocd-server is');
  });

  it('is silent while that StatefulSet runs', async () => {
    const { response, learned } = await decide(deleteTeam(), argoCluster(1), modes('enforce'));
    expect(response.allowed).toBe(true);
    expect(response.warnings).toBeUndefined();
    expect(learned[0]?.controllers.map((c) => c.name)).toEqual(['argocd-application-controller']);
    expect(learned[0]?.basis).toBe('field-manager');
  });
});

// An operator's controller (Deployment ops/widget-operator, ServiceAccount widget-operator, granted
// its own group by a ClusterRoleBinding) and Widgets carrying its finalizer.
function widgetCluster(
  opts: {
    widgetsDeleting?: boolean;
    uninstalling?: boolean;
    crdInTemplates?: boolean;
    moreRules?: ServiceAccountGrant['rules'];
    moreGrants?: ServiceAccountGrant[];
  } = {},
): ClusterSnapshot {
  const operator: KubeObject = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { namespace: 'ops', name: 'widget-operator', annotations: { 'meta.helm.sh/release-name': 'widgets', 'meta.helm.sh/release-namespace': 'ops' } },
    spec: { replicas: 1, template: { spec: { serviceAccountName: 'widget-operator' } } },
    status: { availableReplicas: 1 },
  };
  const widget = (ns: string, name: string) => ({
    group: 'example.com',
    version: 'v1',
    resource: 'widgets',
    kind: 'Widget',
    namespace: ns,
    name,
    finalizers: ['widgets.example.com/cleanup'],
    ...(opts.widgetsDeleting ? { deletionTimestamp: '2026-12-06T00:00:00Z' } : {}),
  });
  const manifest = [
    '---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: widget-operator\n',
    '---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: widget-operator\n',
    ...(opts.crdInTemplates ? ['---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\n'] : []),
  ].join('');
  const records = opts.uninstalling ? [releaseSecret('ops', 'widgets', 1, 'uninstalling', manifest)] : [];
  return bareCluster(['ops', 'team-a', 'team-b'], {
    deployments: [operator],
    finalized: [widget('team-a', 'w1'), widget('team-b', 'w2')],
    grants: [
      {
        serviceAccount: { namespace: 'ops', name: 'widget-operator' },
        via: 'ClusterRoleBinding widget-operator -> ClusterRole widget-operator',
        rules: [{ apiGroups: ['example.com'], resources: ['widgets'], verbs: ['get', 'list', 'watch', 'update', 'patch'] }, ...(opts.moreRules ?? [])],
        binding: { kind: 'ClusterRoleBinding', name: 'widget-operator' },
        role: { kind: 'ClusterRole', name: 'widget-operator' },
      },
      ...(opts.moreGrants ?? []),
    ],
    releaseRecords: records,
  });
}

const deploymentOf = (snapshot: ClusterSnapshot): KubeObject => snapshot.deployments[0]!;

describe('inferred-finalizers: removing the controller', () => {
  it('warns when deleting the operator leaves Widgets with its finalizer and nobody to remove it', async () => {
    const cluster = widgetCluster();
    const { response, learned } = await decide(review('DELETE', deploymentOf(cluster)), cluster, modes('enforce'));
    expect(response.allowed).toBe(true);
    const warning = (response.warnings ?? []).join('\n');
    expect(warning).toContain('Deleting Deployment ops/widget-operator leaves 2 Widgets with widgets.example.com/cleanup');
    // What it learned at this moment (its RBAC still exists) outlives the uninstall.
    expect(learned.map((e) => e.controllers[0]?.name)).toEqual(['widget-operator']);
  });

  it('denies while Widgets are being deleted and wait for it', async () => {
    const cluster = widgetCluster({ widgetsDeleting: true });
    const { response } = await decide(review('DELETE', deploymentOf(cluster)), cluster, modes('enforce'));
    expect(response.allowed).toBe(false);
    expect(response.status?.message ?? '').toContain('wait for it to remove widgets.example.com/cleanup');
  });

  it('holds the operator back while its own uninstall deletes the Widgets CRD (templates/), and only then', async () => {
    const cluster = widgetCluster({ uninstalling: true, crdInTemplates: true });
    const held = await decide(review('DELETE', deploymentOf(cluster)), cluster, modes('enforce'));
    expect(held.response.allowed).toBe(false);
    expect(held.response.status?.message ?? '').toContain('held back');
    expect(held.response.status?.message ?? '').toContain('helm uninstall widgets -n ops');
    // The ClusterRoleBinding that gives it its rights is held back the same way.
    const binding: KubeObject = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'widget-operator', annotations: { 'meta.helm.sh/release-name': 'widgets', 'meta.helm.sh/release-namespace': 'ops' } },
      subjects: [{ kind: 'ServiceAccount', namespace: 'ops', name: 'widget-operator' }],
    };
    expect((await decide(review('DELETE', binding), cluster, modes('enforce'))).response.allowed).toBe(false);
    // CRDs kept in crds/ are not deleted by the uninstall: the Widgets are stranded, a warning.
    const kept = widgetCluster({ uninstalling: true, crdInTemplates: false });
    const strands = await decide(review('DELETE', deploymentOf(kept)), kept, modes('enforce'));
    expect(strands.response.allowed).toBe(true);
    expect((strands.response.warnings ?? []).join('\n')).toContain('leaves 2 Widgets');
  });

  it('holds back with it the RoleBinding and Role of its leader-election Lease (Kueue’s chart), and only inside that uninstall', async () => {
    // A controller-runtime manager that cannot renew its Lease exits within 10 s, and restarted
    // without the Role it never leads again: held back without it, the controller finalizes nothing.
    const owned = { 'meta.helm.sh/release-name': 'widgets', 'meta.helm.sh/release-namespace': 'ops' };
    const lease: ServiceAccountGrant = {
      serviceAccount: { namespace: 'ops', name: 'widget-operator' },
      via: 'RoleBinding ops/widget-leader-election -> Role widget-leader-election',
      rules: [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] }],
      binding: { kind: 'RoleBinding', namespace: 'ops', name: 'widget-leader-election' },
      role: { kind: 'Role', name: 'widget-leader-election' },
    };
    const binding = (annotations?: Record<string, string>): KubeObject => ({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { namespace: 'ops', name: 'widget-leader-election', ...(annotations ? { annotations } : {}) },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'widget-leader-election' },
      subjects: [{ kind: 'ServiceAccount', namespace: 'ops', name: 'widget-operator' }],
    });
    const role: KubeObject = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { namespace: 'ops', name: 'widget-leader-election', annotations: owned },
    };
    const uninstalling = widgetCluster({ uninstalling: true, crdInTemplates: true, moreGrants: [lease] });
    for (const obj of [binding(owned), role]) {
      const { response } = await decide(review('DELETE', obj), uninstalling, modes('enforce'));
      expect(response.allowed, obj.kind).toBe(false);
      expect(response.status?.message ?? '', obj.kind).toContain('held back');
      expect(response.status?.message ?? '', obj.kind).toContain('helm uninstall widgets -n ops');
    }
    const warned = await decide(review('DELETE', binding(owned)), uninstalling, modes('warn'));
    expect(warned.response.allowed).toBe(true);
    expect((warned.response.warnings ?? []).join('\n')).toContain('] not held back: 2 Widgets may hang in Terminating, as this uninstall removes');
    // The uninstall run again before its objects are gone: they are Terminating, and the controller
    // still finalizes them, so its Lease rights stay until they are gone.
    const rerun = widgetCluster({ uninstalling: true, crdInTemplates: true, widgetsDeleting: true, moreGrants: [lease] });
    const early = await decide(review('DELETE', binding(owned)), rerun, modes('enforce'));
    expect(early.response.allowed).toBe(false);
    expect(early.response.status?.message ?? '').toContain('takes rights from');
    expect(early.response.status?.message ?? '').toContain('team-a/w1');
    // No uninstall, CRDs in crds/ (nothing it finalizes is deleted), or a binding no release owns: the
    // controller keeps its update rights and nothing of it is being deleted, so nothing is said.
    const quiet: Array<[string, ClusterSnapshot, KubeObject]> = [
      ['no uninstall', widgetCluster({ moreGrants: [lease] }), binding(owned)],
      ['CRD in crds/', widgetCluster({ uninstalling: true, crdInTemplates: false, moreGrants: [lease] }), binding(owned)],
      ['not the release’s', uninstalling, binding()],
      ['another release’s', uninstalling, binding({ 'meta.helm.sh/release-name': 'rbac-extras', 'meta.helm.sh/release-namespace': 'ops' })],
    ];
    for (const [what, cluster, obj] of quiet) {
      const { response } = await decide(review('DELETE', obj), cluster, modes('enforce'));
      expect(response.allowed, what).toBe(true);
      expect(response.warnings ?? [], what).toEqual([]);
    }
  });

  it('a manager that may update dozens of types (a batch scheduler: Kueue) is still held back: built-in groups are not listed', async () => {
    // The shape of Kueue's manager role: the job kinds of many frameworks, most not served
    // where it runs, plus pods, events and leases it updates as a matter of course.
    const frameworks = ['kubeflow.org', 'ray.io', 'jobset.x-k8s.io', 'leaderworkerset.x-k8s.io', 'sparkoperator.k8s.io'];
    const moreRules: ServiceAccountGrant['rules'] = [
      { apiGroups: [''], resources: ['pods', 'pods/status', 'configmaps', 'secrets', 'events'], verbs: ['get', 'list', 'update', 'patch'] },
      { apiGroups: ['batch', 'apps'], resources: ['jobs', 'statefulsets'], verbs: ['get', 'list', 'update', 'patch'] },
      { apiGroups: ['events.k8s.io', 'coordination.k8s.io'], resources: ['events', 'leases'], verbs: ['create', 'update', 'patch'] },
      ...frameworks.map((g) => ({ apiGroups: [g], resources: ['jobs', 'trainjobs', 'clusters', 'services'], verbs: ['get', 'list', 'update', 'patch'] })),
    ];
    const cluster = widgetCluster({ uninstalling: true, crdInTemplates: true, moreRules });
    const held = await decide(review('DELETE', deploymentOf(cluster)), cluster, modes('enforce'));
    expect(held.response.allowed).toBe(false);
    expect(held.response.status?.message ?? '').toContain('held back');
  });

  it('a grant of `*` within the operator’s group (Flux’s) reaches its every type, each object counted once', async () => {
    const rules = [
      { apiGroups: ['helm.toolkit.fluxcd.io'], resources: ['*'], verbs: ['*'] },
      { apiGroups: ['helm.toolkit.fluxcd.io'], resources: ['helmreleases'], verbs: ['update'] },
    ];
    const cluster = fluxCluster(helmController({ availableReplicas: 1 }), rules);
    const { response } = await decide(review('DELETE', cluster.deployments[0]!), cluster, modes('enforce'));
    expect(response.allowed).toBe(true);
    expect((response.warnings ?? []).join('\n')).toContain('leaves HelmRelease apps/podinfo with finalizers.fluxcd.io');
  });

  it('an ordinary workload costs no live read beyond its grants', async () => {
    const cluster = widgetCluster();
    const app: KubeObject = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { namespace: 'team-a', name: 'web' },
      spec: { replicas: 1, template: { spec: { serviceAccountName: 'default' } } },
    };
    const { response, liveCalls } = await decide(review('DELETE', app), cluster, modes('enforce'));
    expect(response.allowed).toBe(true);
    expect(response.warnings).toBeUndefined();
    expect(liveCalls).toBe(1);
  });
});
