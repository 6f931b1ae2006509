// The view's first pass of a namespace DELETE (ARCHITECTURE.md §3): APIServices and webhook
// configurations come from the guard's own watch caches, no request at all, while the confirming
// pass lists them live and consistently, so a finding never stands on a cache's lag. The API server
// is a scripted HTTP client (bodies shaped like the real one's; test/integration/clusterView.test.ts
// reads the same paths from a real control plane); what its lists answer changes after the caches
// have listed, which is a cache lagging behind the server.
import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { review as admissionReview } from '../../test/support/admissionRequests.ts';
import { configMapWebhook, namespace } from '../../test/support/clusterState.ts';
import { TEST_SETTINGS } from '../../test/support/decide.ts';
import { apiServiceBackends } from '../policies/apiServiceBackends.ts';
import { webhookBackends } from '../policies/webhookBackends.ts';
import type { KubeObject } from '../k8s/types.ts';
import { createKubeClusterView, type KubeClusterView } from './kubeClusterView.ts';
import { KubeApiError, type KubeHttpClient, type KubeRequest } from './kubeHttp.ts';
import type { ReviewContext } from './view.ts';

const APISERVICES = '/apis/apiregistration.k8s.io/v1/apiservices';
const VALIDATING = '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations';
const MUTATING = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations';
const RBAC = '/apis/rbac.authorization.k8s.io/v1';

const metricsApi = (serviceNamespace: string): KubeObject => ({
  metadata: { name: 'v1beta1.metrics.k8s.io', resourceVersion: '1' },
  spec: { service: { namespace: serviceNamespace, name: 'metrics-server' }, group: 'metrics.k8s.io', version: 'v1beta1' },
  status: { conditions: [{ type: 'Available', status: 'True', reason: 'Passed' }] },
});

/** As a list item: no kind or apiVersion (the API server leaves them off list items). */
const item = (o: KubeObject): KubeObject => {
  const { apiVersion: _a, kind: _k, ...rest } = o;
  return { ...rest, metadata: { resourceVersion: '1', ...o.metadata } };
};

interface Request {
  path: string;
  resourceVersion: unknown;
}

/** The API server: `lists` answers list paths (changed by a test to make the caches lag), discovery of the core group, Services by name. */
function scriptedApiServer() {
  const lists = new Map<string, KubeObject[]>();
  const services = new Set<string>();
  const requests: Request[] = [];
  const discovery: Record<string, unknown> = {
    '/api': { kind: 'APIVersions', versions: ['v1'] },
    '/apis': { kind: 'APIGroupList', groups: [] },
    '/api/v1': {
      kind: 'APIResourceList',
      groupVersion: 'v1',
      resources: [
        { name: 'configmaps', kind: 'ConfigMap', namespaced: true, verbs: ['get', 'list', 'watch'] },
        { name: 'services', kind: 'Service', namespaced: true, verbs: ['get', 'list', 'watch'] },
        { name: 'namespaces', kind: 'Namespace', namespaced: false, verbs: ['get', 'list', 'watch'] },
      ],
    },
  };
  const client: KubeHttpClient = {
    async getJson<T>(req: KubeRequest): Promise<T> {
      requests.push({ path: req.path, resourceVersion: req.query?.['resourceVersion'] });
      if (req.path in discovery) return discovery[req.path] as T;
      const service = /^\/api\/v1\/namespaces\/([^/]+)\/services\/([^/]+)$/.exec(req.path);
      if (service) {
        const key = `${service[1]}/${service[2]}`;
        if (services.has(key)) return { apiVersion: 'v1', kind: 'Service', metadata: { namespace: service[1], name: service[2] } } as T;
        throw new KubeApiError(404, `GET ${req.path}: HTTP 404`, 'NotFound');
      }
      return { kind: 'List', metadata: { resourceVersion: '1' }, items: (lists.get(req.path) ?? []).map(item) } as T;
    },
    async openStream(req: KubeRequest): Promise<IncomingMessage> {
      // Watches stay open and quiet: the caches keep what they listed.
      const stream = new PassThrough();
      req.signal?.addEventListener('abort', () => stream.destroy(), { once: true });
      return stream as unknown as IncomingMessage;
    },
    sendJson: () => Promise.reject(new Error('this test makes no writes')),
    close: () => {},
  };
  return { client, lists, services, requests };
}

let view: KubeClusterView | undefined;
afterEach(async () => {
  await view?.stop();
  view = undefined;
});

async function started(api: ReturnType<typeof scriptedApiServer>): Promise<KubeClusterView> {
  view = createKubeClusterView({ kubeConfig: new KubeConfig(), client: api.client, finalizerGuards: [] });
  view.start();
  expect(await view.waitForSync(5000)).toBe(true);
  return view;
}

const FIRST_PASS: ReviewContext = { freshness: 'watch-cache' };
/** What the engine gives a policy (admission/engine.ts): consistent terms; confirmedFindings derives the first pass from them. */
const REVIEW: ReviewContext = { freshness: 'consistent' };
const listsOf = (requests: Request[], path: string) => requests.filter((r) => r.path === path);

describe('KubeClusterView: the first pass reads APIServices and webhook configurations from its watch caches', () => {
  it('makes no list request for them once the caches are synced; the consistent pass lists them live', async () => {
    const api = scriptedApiServer();
    api.lists.set(APISERVICES, [metricsApi('metrics')]);
    api.lists.set(VALIDATING, [configMapWebhook({ namespace: 'op', name: 'hook' })]);
    const v = await started(api);
    expect(v.readiness().caches.map((c) => c.name)).toEqual(
      expect.arrayContaining(['apiservices', 'validatingwebhookconfigurations', 'mutatingwebhookconfigurations']),
    );
    api.requests.length = 0;

    const fast = v.forReview(FIRST_PASS);
    const apiServices = await fast.liveApiServices!();
    const hooks = await fast.liveWebhookConfigurations!();
    expect(api.requests).toEqual([]);
    expect(apiServices.map((a) => [a.kind, a.metadata?.name])).toEqual([['APIService', 'v1beta1.metrics.k8s.io']]);
    // Kind set as the live read sets it: the policies tell a validating webhook from a mutating one by it.
    expect(hooks.map((h) => [h.apiVersion, h.kind, h.metadata?.name])).toEqual([
      ['admissionregistration.k8s.io/v1', 'ValidatingWebhookConfiguration', 'configmap-policy'],
    ]);

    const consistent = v.forReview({ freshness: 'consistent' });
    await consistent.liveApiServices!();
    await consistent.liveWebhookConfigurations!();
    expect(api.requests.map((r) => [r.path, r.resourceVersion]).sort()).toEqual([
      [MUTATING, undefined],
      [VALIDATING, undefined],
      [APISERVICES, undefined],
    ]);
  });

  it('apiservice-backends: a cache still holding an APIService the live read no longer finds gives no finding', async () => {
    const api = scriptedApiServer();
    api.lists.set(APISERVICES, [metricsApi('metrics')]);
    api.lists.set('/api/v1/namespaces', [namespace('metrics')]);
    const v = await started(api);
    const request = admissionReview('DELETE', namespace('metrics')).request!;
    const evaluate = () => apiServiceBackends.evaluate({ request, view: v.forReview(REVIEW), review: REVIEW, settings: TEST_SETTINGS });

    // Cache and server agree: the finding stands, read again consistently.
    api.requests.length = 0;
    expect((await evaluate()).map((f) => f.code)).toEqual(['namespace-deletes-apiservice-backend']);
    expect(listsOf(api.requests, APISERVICES)).toEqual([{ path: APISERVICES, resourceVersion: undefined }]);

    // The APIService is gone on the server, the cache has not seen it yet: the consistent read clears it.
    api.lists.set(APISERVICES, []);
    api.requests.length = 0;
    expect(await evaluate()).toEqual([]);
    expect(listsOf(api.requests, APISERVICES)).toEqual([{ path: APISERVICES, resourceVersion: undefined }]);

    // Nothing in the cache: no finding, and no list at all.
    const empty = scriptedApiServer();
    empty.lists.set('/api/v1/namespaces', [namespace('metrics')]);
    await v.stop();
    const w = await started(empty);
    empty.requests.length = 0;
    expect(await apiServiceBackends.evaluate({ request, view: w.forReview(REVIEW), review: REVIEW, settings: TEST_SETTINGS })).toEqual([]);
    expect(listsOf(empty.requests, APISERVICES)).toEqual([]);
  });

  it('webhook-backends: a cache whose webhook names a Service that is gone, while the live configuration names one that exists, gives no finding', async () => {
    const api = scriptedApiServer();
    api.lists.set('/api/v1/namespaces', [namespace('apps')]);
    api.lists.set('/api/v1/namespaces/apps/configmaps', [
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'apps', name: 'state', finalizers: ['example.io/keep'] } },
    ]);
    api.lists.set(VALIDATING, [configMapWebhook({ namespace: 'op', name: 'old-hook' })]);
    api.services.add('op/new-hook');
    const v = await started(api);
    const request = admissionReview('DELETE', namespace('apps')).request!;
    const evaluate = () => webhookBackends.evaluate({ request, view: v.forReview(REVIEW), review: REVIEW, settings: TEST_SETTINGS });

    // Cache and server agree that the webhook's Service is gone: the violation stands on the consistent read.
    api.requests.length = 0;
    expect((await evaluate()).map((f) => f.code)).toEqual(['namespace-finalizers-behind-dead-webhook']);
    expect(listsOf(api.requests, VALIDATING)).toEqual([{ path: VALIDATING, resourceVersion: undefined }]);

    // The configuration was moved to a Service that exists; the cache still has the old one.
    api.lists.set(VALIDATING, [configMapWebhook({ namespace: 'op', name: 'new-hook' })]);
    api.requests.length = 0;
    expect(await evaluate()).toEqual([]);
    // One list of each kind, by the confirming pass only, consistent.
    expect([...listsOf(api.requests, VALIDATING), ...listsOf(api.requests, MUTATING)]).toEqual([
      { path: VALIDATING, resourceVersion: undefined },
      { path: MUTATING, resourceVersion: undefined },
    ]);
  });
});

describe("KubeClusterView: the first pass reads a namespace's RoleBindings and Roles from its watch caches", () => {
  const binding: KubeObject = {
    metadata: { namespace: 'apps', name: 'operator', labels: { team: 'a' }, annotations: { note: 'kept out of the cache' } },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'widgets-writer' },
    subjects: [
      { kind: 'User', name: 'alice' },
      { kind: 'ServiceAccount', name: 'operator' },
    ],
  };
  const role: KubeObject = {
    metadata: { namespace: 'apps', name: 'widgets-writer' },
    rules: [{ apiGroups: ['example.io'], resources: ['widgets'], verbs: ['update'] }],
  };

  it('grants from the caches with no request, slimmed to ServiceAccount subjects and rules; the consistent pass lists them live', async () => {
    const api = scriptedApiServer();
    api.lists.set(`${RBAC}/rolebindings`, [binding]);
    api.lists.set(`${RBAC}/roles`, [role]);
    // What the confirming pass lists: one namespace's, live.
    api.lists.set(`${RBAC}/namespaces/apps/rolebindings`, [binding]);
    api.lists.set(`${RBAC}/namespaces/apps/roles`, [role]);
    const v = await started(api);
    const cached = v.caches().get('rolebindings')?.list('apps') ?? [];
    expect(cached.map((b) => [b.metadata, (b as { subjects?: unknown }).subjects])).toEqual([
      [{ namespace: 'apps', name: 'operator', resourceVersion: '1' }, [{ kind: 'ServiceAccount', name: 'operator' }]],
    ]);
    api.requests.length = 0;

    const grant = { serviceAccount: { namespace: 'apps', name: 'operator' }, via: 'RoleBinding apps/operator -> Role widgets-writer', rules: role['rules'] };
    expect(await v.forReview(FIRST_PASS).liveServiceAccountGrants!('apps')).toEqual([expect.objectContaining(grant)]);
    expect(await v.forReview(FIRST_PASS).liveServiceAccountGrants!('elsewhere')).toEqual([]);
    expect(api.requests).toEqual([]);

    // The server no longer has the binding (the cache has not seen it go): only the consistent pass knows.
    api.lists.set(`${RBAC}/namespaces/apps/rolebindings`, []);
    expect(await v.forReview(REVIEW).liveServiceAccountGrants!('apps')).toEqual([]);
    expect(api.requests.map((r) => [r.path, r.resourceVersion]).sort()).toEqual([
      [`${RBAC}/namespaces/apps/rolebindings`, undefined],
      [`${RBAC}/namespaces/apps/roles`, undefined],
    ]);
  });
});
