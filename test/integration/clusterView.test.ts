// The watch-cache ClusterView against a real kube-apiserver (+ etcd, kube-controller-manager) on
// loopback: sync, metadata-only caching, events, indexes, live reads, discovery, deadlines, and a
// relist after a real 410 Gone from the API server's watch cache.
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKubeClusterView, type KubeClusterView } from '../../src/cluster/kubeClusterView.ts';
import { UndecidedError } from '../../src/cluster/view.ts';
import type { ResourceType } from '../../src/k8s/types.ts';
import type { FinalizerGuard } from '../../src/finalizers/guard.ts';
import { startControlPlane, type ControlPlane } from '../cluster/controlPlane.ts';
import { controlPlaneForFile } from '../cluster/fileCluster.ts';
import type { KubeClient } from '../cluster/kubeClient.ts';

const WIDGETS: ResourceType = { group: 'tg.example.com', version: 'v1', resource: 'widgets', kind: 'Widget', namespaced: true };
// Its CRD is created only after the view started: the cache must pick the type up when it appears.
const GADGETS: ResourceType = { group: 'tg.example.com', version: 'v1', resource: 'gadgets', kind: 'Gadget', namespaced: true };
const FINALIZER = 'tg.example.com/cleanup';
const PAYLOAD_MARKER = 'RELEASE-PAYLOAD-MUST-NOT-BE-CACHED';

const guard = (resource: ResourceType, selector: string): FinalizerGuard => ({
  finalizer: FINALIZER,
  resource,
  controller: { displayName: 'test controller', deploymentSelector: selector, requireClusterRoleBinding: true },
});

async function until<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function crd(resource: ResourceType): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${resource.resource}.${resource.group}` },
    spec: {
      group: resource.group,
      scope: 'Namespaced',
      names: { plural: resource.resource, singular: resource.kind.toLowerCase(), kind: resource.kind, listKind: `${resource.kind}List` },
      versions: [
        { name: resource.version, served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } },
      ],
    },
  };
}

async function createCrd(client: KubeClient, resource: ResourceType): Promise<void> {
  await client.must('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', { body: crd(resource) });
  await until(`CRD ${resource.resource} established`, async () => {
    const got = await client.get<{ status?: { conditions?: Array<{ type: string; status: string }> } }>(
      `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${resource.resource}.${resource.group}`,
    );
    return got?.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
  });
  // Established does not mean served by every handler yet; wait until a list answers.
  await until(
    `${resource.resource} served`,
    async () => (await client.request('GET', `/apis/${resource.group}/${resource.version}/${resource.resource}`)).status === 200,
  );
}

function releaseSecret(namespace: string, release: string, version: number, status: string): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'helm.sh/release.v1',
    metadata: { name: `sh.helm.release.v1.${release}.v${version}`, namespace, labels: { owner: 'helm', name: release, status, version: String(version) } },
    // Stands in for base64(gzip(release JSON)); large enough that caching it would show.
    data: { release: Buffer.from(`${PAYLOAD_MARKER}${'x'.repeat(64 * 1024)}`).toString('base64') },
  };
}

describe('KubeClusterView on a real control plane', () => {
  let cp: ControlPlane;
  let client: KubeClient;
  let kubeConfig: KubeConfig;
  let view: KubeClusterView;

  beforeAll(async () => {
    cp = await controlPlaneForFile({ log: () => {} });
    client = cp.client;
    kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(cp.kubeconfigPath);

    await createCrd(client, WIDGETS);
    for (const ns of ['tg-a', 'tg-b', 'tg-doomed']) {
      await client.must('POST', '/api/v1/namespaces', { body: { metadata: { name: ns, labels: { team: 'guard' } } } });
    }
    await client.must('POST', '/api/v1/namespaces/tg-a/secrets', { body: releaseSecret('tg-a', 'web', 1, 'superseded') });
    await client.must('POST', '/api/v1/namespaces/tg-a/secrets', { body: releaseSecret('tg-a', 'web', 2, 'deployed') });
    await client.must('POST', '/api/v1/namespaces/tg-b/configmaps', {
      body: {
        metadata: { name: 'sh.helm.release.v1.web.v1', namespace: 'tg-b', labels: { owner: 'helm', name: 'web', status: 'uninstalling', version: '1' } },
        data: { release: PAYLOAD_MARKER },
      },
    });
    await client.must('POST', '/api/v1/namespaces/tg-a/secrets', {
      body: { metadata: { name: 'not-helm' }, data: { token: Buffer.from(PAYLOAD_MARKER).toString('base64') } },
    });
    await client.must('POST', '/apis/apps/v1/namespaces/tg-a/deployments', {
      body: {
        metadata: { name: 'olm-operator', labels: { app: 'olm-operator' } },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'olm-operator' } },
          template: {
            metadata: { labels: { app: 'olm-operator' } },
            spec: { serviceAccountName: 'olm-operator-sa', containers: [{ name: 'olm', image: 'example.invalid/olm:1' }] },
          },
        },
      },
    });
    await client.must('POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', { body: { metadata: { name: 'tg-olm-role' }, rules: [] } });
    await client.must('POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
      body: {
        metadata: { name: 'tg-olm-binding' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'tg-olm-role' },
        subjects: [
          { kind: 'ServiceAccount', namespace: 'tg-a', name: 'olm-operator-sa' },
          { kind: 'User', name: 'someone' },
        ],
      },
    });
    await client.must('POST', '/apis/tg.example.com/v1/namespaces/tg-a/widgets', {
      body: { apiVersion: 'tg.example.com/v1', kind: 'Widget', metadata: { name: 'w1', finalizers: [FINALIZER] }, spec: { big: PAYLOAD_MARKER } },
    });

    view = createKubeClusterView({
      kubeConfig,
      finalizerGuards: [guard(WIDGETS, 'app=olm-operator'), guard(GADGETS, 'app == olm-operator')],
      liveTimeoutMs: 5000,
      informer: { backoff: { initialMs: 50, maxMs: 1000, jitter: 0.5 }, notServedRetryMs: 200, pageSize: 2 },
    });
    view.start();
    expect(await view.waitForSync(30_000)).toBe(true);
  });

  afterAll(async () => {
    await view?.stop();
    await cp?.stop();
  });

  it('syncs every cache and negotiates metadata-only lists where it should', () => {
    const readiness = view.readiness();
    expect(readiness.synced).toBe(true);
    expect(readiness.discovery.loaded).toBe(true);
    const byName = Object.fromEntries(readiness.caches.map((c) => [c.name, c]));
    expect(Object.keys(byName).sort()).toEqual([
      'apiservices',
      'clusterrolebindings',
      'clusterroles',
      'customresourcedefinitions',
      'deployments[app=olm-operator]',
      'gadgets.tg.example.com',
      'helm-configmaps',
      'helm-secrets',
      'mutatingwebhookconfigurations',
      'namespaces',
      'rolebindings',
      'roles',
      'validatingwebhookconfigurations',
      'widgets.tg.example.com',
    ]);
    for (const name of ['helm-secrets', 'helm-configmaps', 'widgets.tg.example.com']) {
      expect(byName[name]?.lastListKind, name).toBe('PartialObjectMetadataList');
    }
    expect(byName['namespaces']?.lastListKind).toBe('NamespaceList');
    // Whole: inference reads their rules (ARCHITECTURE.md §1E).
    expect(byName['clusterroles']?.lastListKind).toBe('ClusterRoleList');
    expect(byName['deployments[app=olm-operator]']?.lastListKind).toBe('DeploymentList');
    // GADGETS has no CRD yet: served as an honest empty set, not as "unsynced".
    expect(byName['gadgets.tg.example.com']).toMatchObject({ synced: true, notServed: true, count: 0 });
  });

  it('keeps metadata only: no Secret data, no CR spec, no unlabelled Secrets', () => {
    const secrets = view.caches().get('helm-secrets');
    const cached = secrets?.get('tg-a', 'sh.helm.release.v1.web.v2');
    expect(cached).toMatchObject({ metadata: { name: 'sh.helm.release.v1.web.v2', labels: { status: 'deployed' } } });
    expect(cached).not.toHaveProperty('data');
    // Slimmed to what a record is read for (cluster/releaseRecords.ts): no uid, no managedFields.
    expect(Object.keys(cached?.metadata ?? {}).sort()).toEqual(['labels', 'name', 'namespace', 'resourceVersion']);
    expect(secrets?.get('tg-a', 'not-helm')).toBeUndefined();
    const everything = JSON.stringify([...view.caches().values()].map((c) => c.list()));
    expect(everything).not.toContain(PAYLOAD_MARKER);
    expect(everything).not.toContain(Buffer.from(PAYLOAD_MARKER).toString('base64').slice(0, 20));
    expect(view.listObjectMeta(WIDGETS, 'tg-a')).toEqual([
      expect.objectContaining({ metadata: expect.objectContaining({ name: 'w1', namespace: 'tg-a', finalizers: [FINALIZER] }) }),
    ]);
    expect(view.listObjectMeta(WIDGETS, 'tg-b')).toEqual([]);
  });

  it('indexes release records by name across Secrets and ConfigMaps, and follows add/update/delete', async () => {
    const summary = () => view.releaseRecords('web').map((r) => `${r.storage}:${r.namespace}:v${r.version}:${r.status}`);
    expect(summary()).toEqual(['Secret:tg-a:v1:superseded', 'Secret:tg-a:v2:deployed', 'ConfigMap:tg-b:v1:uninstalling']);
    expect(view.releaseRecords('nope')).toEqual([]);

    await client.must('POST', '/api/v1/namespaces/tg-a/secrets', { body: releaseSecret('tg-a', 'web', 3, 'pending-upgrade') });
    await until('v3 added', () => summary().includes('Secret:tg-a:v3:pending-upgrade'));
    await client.must('PATCH', '/api/v1/namespaces/tg-a/secrets/sh.helm.release.v1.web.v3', {
      body: { metadata: { labels: { status: 'uninstalling' } } },
      contentType: 'application/merge-patch+json',
    });
    await until('v3 updated', () => summary().includes('Secret:tg-a:v3:uninstalling'));
    await client.must('DELETE', '/api/v1/namespaces/tg-a/secrets/sh.helm.release.v1.web.v3');
    await until('v3 deleted', () => !summary().some((s) => s.includes('v3')));
    expect(view.counters().perCache['helm-secrets']?.events).toBeGreaterThanOrEqual(3);
  });

  it('reads namespaces, controller Deployments, ClusterRoleBindings and ClusterRoles from the caches', async () => {
    expect(view.getNamespace('tg-a')).toMatchObject({ name: 'tg-a', phase: 'Active', labels: { team: 'guard' } });
    expect(view.getNamespace('tg-a')?.deletionTimestamp).toBeUndefined();
    expect(view.getNamespace('does-not-exist')).toBeUndefined();

    expect(view.listDeployments('app=olm-operator').map((d) => `${d.metadata?.namespace}/${d.metadata?.name}`)).toEqual(['tg-a/olm-operator']);
    expect(view.listDeployments('app==olm-operator')).toHaveLength(1); // same cache, other spelling
    expect(view.listDeployments('app=olm-operator', 'tg-a')).toHaveLength(1);
    expect(view.listDeployments('app=olm-operator', 'tg-b')).toEqual([]);
    expect(() => view.listDeployments('app=other')).toThrow(UndecidedError);

    expect(view.clusterRoleBindingsFor('tg-a', 'olm-operator-sa').map((b) => b.metadata?.name)).toEqual(['tg-olm-binding']);
    expect(view.clusterRoleBindingsFor('tg-b', 'olm-operator-sa')).toEqual([]);
    expect(view.clusterRoleExists('tg-olm-role')).toBe(true);
    expect(view.clusterRoleExists('cluster-admin')).toBe(true);

    await client.must('DELETE', '/apis/rbac.authorization.k8s.io/v1/clusterroles/tg-olm-role');
    await client.must('DELETE', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/tg-olm-binding');
    await until('role and binding gone', () => !view.clusterRoleExists('tg-olm-role') && view.clusterRoleBindingsFor('tg-a', 'olm-operator-sa').length === 0);
  });

  it('sees a namespace go Terminating and a finalizer-bearing object inside it start deleting', async () => {
    await client.must('POST', '/apis/tg.example.com/v1/namespaces/tg-doomed/widgets', {
      body: { apiVersion: 'tg.example.com/v1', kind: 'Widget', metadata: { name: 'stuck', finalizers: [FINALIZER] } },
    });
    await until('widget cached', () => view.listObjectMeta(WIDGETS, 'tg-doomed').length === 1);
    await client.must('DELETE', '/api/v1/namespaces/tg-doomed');
    const ns = await until('namespace Terminating', () => {
      const state = view.getNamespace('tg-doomed');
      return state?.deletionTimestamp && state.phase === 'Terminating' ? state : undefined;
    });
    expect(ns.deletionTimestamp).toMatch(/^\d{4}-/);
    // The namespace controller deletes the widget; its finalizer keeps it, now with a deletionTimestamp.
    const stuck = await until('widget deleting', () => view.listObjectMeta(WIDGETS, 'tg-doomed').find((w) => w.metadata.deletionTimestamp));
    expect(stuck.metadata.finalizers).toEqual([FINALIZER]);
    expect(await view.liveObjectsState([{ apiVersion: 'tg.example.com/v1', kind: 'Widget', namespace: 'tg-doomed', name: 'stuck' }])).toEqual(['deleting']);
  });

  it('holds only the guarded objects that carry the finalizer, and follows one gaining and losing it', async () => {
    const path = '/apis/tg.example.com/v1/namespaces/tg-b/widgets';
    const widgets = view.caches().get('widgets.tg.example.com');
    await client.must('POST', path, { body: { apiVersion: 'tg.example.com/v1', kind: 'Widget', metadata: { name: 'plain' } } });
    await client.must('POST', path, { body: { apiVersion: 'tg.example.com/v1', kind: 'Widget', metadata: { name: 'marker' } } });
    // The marker carries the finalizer from the start: once it is cached, the watch has passed `plain`.
    await client.must('PATCH', `${path}/marker`, { body: { metadata: { finalizers: [FINALIZER] } }, contentType: 'application/merge-patch+json' });
    await until('marker cached', () => widgets?.get('tg-b', 'marker') !== undefined);
    expect(widgets?.get('tg-b', 'plain')).toBeUndefined();

    await client.must('PATCH', `${path}/plain`, { body: { metadata: { finalizers: [FINALIZER] } }, contentType: 'application/merge-patch+json' });
    await until('plain cached once it carries the finalizer', () => widgets?.get('tg-b', 'plain') !== undefined);
    await client.must('PATCH', `${path}/plain`, { body: { metadata: { finalizers: null } }, contentType: 'application/merge-patch+json' });
    await until('plain gone from the cache once it no longer carries it', () => widgets?.get('tg-b', 'plain') === undefined);
    expect(view.listObjectMeta(WIDGETS, 'tg-b').map((w) => w.metadata.name)).toEqual(['marker']);

    await client.must('PATCH', `${path}/marker`, { body: { metadata: { finalizers: null } }, contentType: 'application/merge-patch+json' });
    await client.must('DELETE', `${path}/marker`);
    await client.must('DELETE', `${path}/plain`);
    await until('tg-b empty again', () => view.listObjectMeta(WIDGETS, 'tg-b').length === 0);
  });

  it('answers live reads: release records, Deployments, object states', async () => {
    expect((await view.liveReleaseRecords('web')).map((r) => `${r.storage}:${r.namespace}:v${r.version}:${r.status}`)).toEqual(
      view.releaseRecords('web').map((r) => `${r.storage}:${r.namespace}:v${r.version}:${r.status}`),
    );
    expect(await view.liveReleaseRecords('nobody')).toEqual([]);

    const deployment = await view.liveDeployment('tg-a', 'olm-operator');
    expect(deployment?.metadata?.name).toBe('olm-operator');
    expect(deployment?.['status']).toBeDefined();
    expect(await view.liveDeployment('tg-a', 'missing')).toBeUndefined();

    expect(
      await view.liveObjectsState([
        { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'tg-a', name: 'olm-operator' },
        { apiVersion: 'v1', kind: 'ConfigMap', namespace: 'tg-a', name: 'missing' },
        { apiVersion: 'v1', kind: 'Namespace', name: 'tg-a' },
        { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', name: 'tg-olm-role' }, // deleted above
        { apiVersion: 'nope.example.com/v1', kind: 'Unknown', namespace: 'tg-a', name: 'x' },
        { apiVersion: 'tg.example.com/v1', kind: 'Widget', namespace: 'tg-a', name: 'w1' },
      ]),
    ).toEqual(['exists', 'gone', 'exists', 'gone', 'gone', 'exists']);
    await expect(view.liveObjectsState([{ apiVersion: 'v1', kind: 'ConfigMap', name: 'no-namespace' }])).rejects.toBeInstanceOf(UndecidedError);
  });

  it('reads what the namespace checks need live: a sweep finding every finalizer-bearing object, grants, workloads, APIServices, webhook configurations', async () => {
    await client.must('POST', '/api/v1/namespaces/tg-a/configmaps', { body: { metadata: { name: 'held', finalizers: ['example.io/keep'] } } });
    const sweep = await view.liveFinalizedObjects!('tg-a');
    expect(sweep.unlisted).toEqual([]);
    expect(sweep.objects.map((o) => `${o.kind}/${o.name}:${o.finalizers.join(',')}`).sort()).toEqual([
      'ConfigMap/held:example.io/keep',
      `Widget/w1:${FINALIZER}`,
    ]);
    const grants = await view.liveServiceAccountGrants!('tg-a');
    const nsController = grants.find(
      (g) => g.via === 'ClusterRoleBinding system:controller:namespace-controller -> ClusterRole system:controller:namespace-controller',
    );
    expect(nsController?.serviceAccount).toEqual({ namespace: 'kube-system', name: 'namespace-controller' });
    expect(nsController?.rules).toContainEqual(expect.objectContaining({ apiGroups: [''], resources: ['namespaces'] }));
    // tg-olm-binding's ClusterRole was deleted above: a binding to nothing grants nothing.
    expect(grants.filter((g) => g.via.startsWith('ClusterRoleBinding tg-olm-binding'))).toEqual([]);
    expect((await view.liveWorkloads!('tg-a')).map((w) => `${w.kind}/${w.metadata?.name}`)).toEqual(['Deployment/olm-operator']);
    expect((await view.liveApiServices!()).some((a) => a.metadata?.name === 'v1.apps')).toBe(true);
    const hook = {
      metadata: { name: 'tg-probe-hook' },
      webhooks: [
        {
          name: 'probe.tg.example.com',
          failurePolicy: 'Ignore',
          sideEffects: 'None',
          admissionReviewVersions: ['v1'],
          clientConfig: { service: { namespace: 'tg-a', name: 'nothing' } },
          namespaceSelector: { matchLabels: { 'tg-never': 'true' } },
          rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['UPDATE'], resources: ['configmaps'] }],
        },
      ],
    };
    await client.must('POST', '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations', { body: hook });
    expect((await view.liveWebhookConfigurations!()).map((c) => `${c.kind}/${c.metadata?.name}`)).toContain('ValidatingWebhookConfiguration/tg-probe-hook');
    // A review's first pass reads them (and APIServices) from the view's own watch caches, as the live list shapes them (ARCHITECTURE.md §3).
    const firstPass = view.forReview({ freshness: 'watch-cache' });
    await until('the webhook configuration cache to see tg-probe-hook', async () =>
      (await firstPass.liveWebhookConfigurations!()).some((c) => c.kind === 'ValidatingWebhookConfiguration' && c.metadata?.name === 'tg-probe-hook'),
    );
    expect((await firstPass.liveApiServices!()).find((a) => a.metadata?.name === 'v1.apps')?.kind).toBe('APIService');
    await client.must('DELETE', '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/tg-probe-hook');
    await until('the webhook configuration cache to drop tg-probe-hook', async () =>
      (await firstPass.liveWebhookConfigurations!()).every((c) => c.metadata?.name !== 'tg-probe-hook'),
    );
    await client.must('PATCH', '/api/v1/namespaces/tg-a/configmaps/held', {
      body: { metadata: { finalizers: null } },
      contentType: 'application/merge-patch+json',
    });
    await client.must('DELETE', '/api/v1/namespaces/tg-a/configmaps/held');
  });

  it('answers isNamespaced from discovery', () => {
    expect(view.isNamespaced('v1', 'ConfigMap')).toBe(true);
    expect(view.isNamespaced('v1', 'Namespace')).toBe(false);
    expect(view.isNamespaced('rbac.authorization.k8s.io/v1', 'ClusterRoleBinding')).toBe(false);
    expect(view.isNamespaced('tg.example.com/v1', 'Widget')).toBe(true);
    expect(view.isNamespaced('nope.example.com/v1', 'Unknown')).toBeUndefined();
  });

  it('turns a live read that overruns its deadline into UndecidedError', async () => {
    const hurried = createKubeClusterView({ kubeConfig, finalizerGuards: [], liveTimeoutMs: 1, liveConcurrency: 1 });
    try {
      // Not started: discovery has not loaded, so even the first step cannot finish within 1 ms.
      const refs = Array.from({ length: 50 }, (_, i) => ({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'tg-a', name: `cm-${i}` }));
      const err = await hurried.liveObjectsState(refs).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UndecidedError);
      expect((err as UndecidedError).reason).toMatch(/timed out after 1 ms/);
      await expect(hurried.liveReleaseRecords('web')).rejects.toThrow(/timed out after 1 ms/);
      expect(hurried.counters().live).toMatchObject({ calls: 2, timeouts: 2 });
    } finally {
      await hurried.stop();
    }
  });

  it('is undecided, naming the cache, before it has synced', async () => {
    const cold = createKubeClusterView({ kubeConfig, finalizerGuards: [guard(WIDGETS, 'app=olm-operator')] });
    try {
      expect(cold.isSynced()).toBe(false);
      expect(() => cold.getNamespace('tg-a')).toThrow(/cluster cache "namespaces" has not synced/);
      expect(() => cold.releaseRecords('web')).toThrow(/"helm-secrets" has not synced/);
      expect(() => cold.listObjectMeta(WIDGETS)).toThrow(UndecidedError);
      expect(() => cold.listObjectMeta(GADGETS)).toThrow(/not watched/);
      expect(() => cold.isNamespaced('v1', 'ConfigMap')).toThrow(/discovery/);
    } finally {
      await cold.stop();
    }
  });

  it('picks up a guarded resource type whose CRD appears after start', async () => {
    await createCrd(client, GADGETS);
    await client.must('POST', '/apis/tg.example.com/v1/namespaces/tg-b/gadgets', {
      body: { apiVersion: 'tg.example.com/v1', kind: 'Gadget', metadata: { name: 'g1', finalizers: [FINALIZER] } },
    });
    const gadgets = await until('gadget cached', () => {
      const list = view.listObjectMeta(GADGETS, 'tg-b');
      return list.length === 1 ? list : undefined;
    });
    expect(gadgets[0]?.metadata.name).toBe('g1');
    expect(view.readiness().caches.find((c) => c.name === 'gadgets.tg.example.com')?.notServed).toBe(false);
  });
});

// A real 410: with the watch cache off for Secrets (their watches go straight to etcd, which sends
// no bookmarks by default) and the API server compacting etcd every 2 s, a quiet watch that the
// server ends after `timeoutSeconds` reconnects from a resourceVersion that no longer exists. The
// API server answers with an ERROR event, code 410 "Expired"; the cache must relist and carry on.
describe('KubeClusterView after etcd compaction (410 Gone)', () => {
  let cp: ControlPlane;
  let view: KubeClusterView;

  beforeAll(async () => {
    cp = await startControlPlane({ log: () => {}, apiserverArgs: ['--watch-cache-sizes=secrets#0', '--etcd-compaction-interval=2s'] });
    await cp.client.must('POST', '/api/v1/namespaces', { body: { metadata: { name: 'tg-c' } } });
    await cp.client.must('POST', '/api/v1/namespaces/tg-c/secrets', { body: releaseSecret('tg-c', 'web', 1, 'deployed') });
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(cp.kubeconfigPath);
    view = createKubeClusterView({
      kubeConfig,
      finalizerGuards: [],
      informer: { watchTimeoutSeconds: 2, backoff: { initialMs: 50, maxMs: 1000, jitter: 0.5 }, healthyWatchMs: 1000 },
    });
    view.start();
    expect(await view.waitForSync(30_000)).toBe(true);
  });

  afterAll(async () => {
    await view?.stop();
    await cp?.stop();
  });

  it('relists when its reconnecting watch is answered 410, and keeps following changes', async () => {
    const secrets = view.caches().get('helm-secrets');
    if (!secrets) throw new Error('helm-secrets cache missing');
    // Unrelated writes move etcd's revision on, so each compaction passes the cache's resourceVersion.
    let i = 0;
    await until(
      'a 410 and the relist it causes',
      async () => {
        await cp.client.must('POST', '/api/v1/namespaces/tg-c/configmaps', { body: { metadata: { name: `bump-${i++}` } } });
        const c = secrets.status().counters;
        return c.expired >= 1 && c.relists >= 1;
      },
      60_000,
    );
    expect(view.releaseRecords('web').map((r) => `${r.namespace}:v${r.version}`)).toEqual(['tg-c:v1']);

    await cp.client.must('POST', '/api/v1/namespaces/tg-c/secrets', { body: releaseSecret('tg-c', 'web', 2, 'pending-upgrade') });
    await until('record after the relist', () => view.releaseRecords('web').length === 2);
    const live = await view.liveReleaseRecords('web');
    expect(live.map((r) => `${r.namespace}:v${r.version}:${r.status}`)).toEqual(['tg-c:v1:deployed', 'tg-c:v2:pending-upgrade']);
    expect(view.releaseRecords('web')).toEqual(live);
    expect(view.counters().expired).toBeGreaterThanOrEqual(1);
    expect(view.readiness().synced).toBe(true);
  });
});
