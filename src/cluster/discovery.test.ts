// Discovery (and LiveReader's use of it) against an injected HTTP client with a scripted server:
// aggregated discovery, the per-group-version fallback, a kind that is not served and later appears
// (a CRD installed after the guard started), failures, and a refresh cut by its deadline. The
// documents have the shape kube-apiserver serves (apidiscovery.k8s.io/v2 APIGroupDiscoveryList,
// APIVersions, APIGroupList, APIResourceList); test/integration/clusterView.test.ts reads the real ones.
import { describe, expect, it } from 'vitest';
import { Discovery, restPath } from './discovery.ts';
import { KubeApiError, type KubeHttpClient, type KubeRequest } from './kubeHttp.ts';
import { LiveReader } from './liveReads.ts';
import { UndecidedError } from './view.ts';

interface ServedResource {
  resource: string;
  kind: string;
  scope: 'Namespaced' | 'Cluster';
}
type Groups = Record<string, Record<string, ServedResource[]>>; // group -> version -> resources

const CORE: Groups = {
  '': {
    v1: [
      { resource: 'namespaces', kind: 'Namespace', scope: 'Cluster' },
      { resource: 'secrets', kind: 'Secret', scope: 'Namespaced' },
    ],
  },
};
const APPS: Groups = { apps: { v1: [{ resource: 'deployments', kind: 'Deployment', scope: 'Namespaced' }] } };
const WIDGETS: Groups = { 'example.com': { v1: [{ resource: 'widgets', kind: 'Widget', scope: 'Namespaced' }] } };

function aggregated(groups: Groups) {
  return {
    kind: 'APIGroupDiscoveryList',
    apiVersion: 'apidiscovery.k8s.io/v2',
    items: Object.entries(groups).map(([group, versions]) => ({
      metadata: { name: group },
      versions: Object.entries(versions).map(([version, resources]) => ({
        version,
        resources: [
          ...resources.map((r) => ({
            resource: r.resource,
            responseKind: { group: '', version: '', kind: r.kind },
            scope: r.scope,
            verbs: ['get', 'list', 'watch'],
          })),
          // Subresources come nested in the real document and must never become a kind of their own.
          { resource: `${resources[0]?.resource ?? 'x'}/status`, responseKind: { kind: resources[0]?.kind ?? 'X' }, scope: 'Namespaced' },
        ],
      })),
    })),
  };
}

/** A scripted API server: `served()` is what it serves at the moment of each request. */
function server(served: () => { core: Groups; groups: Groups; aggregated: boolean; failing?: Set<string> }) {
  const paths: string[] = [];
  const client: KubeHttpClient = {
    getJson<T>(req: KubeRequest): Promise<T> {
      paths.push(req.path);
      const now = served();
      const answer = (): unknown => {
        if (now.failing?.has(req.path))
          throw new KubeApiError(503, `GET ${req.path}: HTTP 503: the server is currently unable to handle the request`, 'ServiceUnavailable');
        if (req.path === '/api') return now.aggregated ? aggregated(now.core) : { kind: 'APIVersions', versions: Object.keys(now.core[''] ?? {}) };
        if (req.path === '/apis') {
          if (now.aggregated) return aggregated(now.groups);
          return {
            kind: 'APIGroupList',
            groups: Object.entries(now.groups).map(([g, vs]) => ({
              name: g,
              versions: Object.keys(vs).map((v) => ({ groupVersion: `${g}/${v}`, version: v })),
            })),
          };
        }
        const [, prefix, a, b] = /^\/(api|apis)\/([^/]+)(?:\/([^/]+))?$/.exec(req.path) ?? [];
        const [group, version] = prefix === 'api' ? ['', a] : [a, b];
        const resources = now.core[group ?? '']?.[version ?? ''] ?? now.groups[group ?? '']?.[version ?? ''];
        if (resources)
          return {
            kind: 'APIResourceList',
            groupVersion: req.path,
            resources: resources.map((r) => ({ name: r.resource, kind: r.kind, namespaced: r.scope === 'Namespaced' })),
          };
        throw new KubeApiError(404, `GET ${req.path}: HTTP 404: the server could not find the requested resource`, 'NotFound');
      };
      return new Promise<T>((resolve, reject) => {
        if (req.signal?.aborted) {
          reject(new Error('aborted'));
          return;
        }
        setImmediate(() => {
          try {
            resolve(answer() as T);
          } catch (e) {
            reject(e as Error);
          }
        });
      });
    },
    openStream: () => Promise.reject(new Error('not used')),
    sendJson: () => Promise.reject(new Error('this test makes no writes')),
    close: () => {},
  };
  return { client, paths };
}

describe('Discovery', () => {
  it('aggregated discovery: two requests, scope and resource per apiVersion/kind, no subresources', async () => {
    const { client, paths } = server(() => ({ core: CORE, groups: APPS, aggregated: true }));
    const d = new Discovery({ client });
    expect(await d.refresh()).toBe(true);
    expect(paths.sort()).toEqual(['/api', '/apis']);
    expect(d.lookup('v1', 'Namespace')).toEqual({ group: '', version: 'v1', resource: 'namespaces', kind: 'Namespace', namespaced: false });
    expect(d.lookup('apps/v1', 'Deployment')).toMatchObject({ resource: 'deployments', namespaced: true });
    expect(d.status().resources).toBe(3);
    expect(restPath(d.lookup('apps/v1', 'Deployment') ?? CORE_MISSING, 'olm', 'olm-operator')).toBe('/apis/apps/v1/namespaces/olm/deployments/olm-operator');
  });

  it('without aggregated discovery: one document per group-version, and one that fails is skipped', async () => {
    const { client, paths } = server(() => ({ core: CORE, groups: { ...APPS, ...WIDGETS }, aggregated: false, failing: new Set(['/apis/example.com/v1']) }));
    const d = new Discovery({ client });
    expect(await d.refresh()).toBe(true);
    expect(paths.sort()).toEqual(['/api', '/api/v1', '/apis', '/apis/apps/v1', '/apis/example.com/v1']);
    expect(d.lookup('apps/v1', 'Deployment')).toMatchObject({ namespaced: true });
    expect(d.lookup('example.com/v1', 'Widget')).toBeUndefined();
  });

  it('a failed refresh keeps the last map and says why; concurrent callers share one request', async () => {
    let failing = false;
    const { client, paths } = server(() => ({ core: CORE, groups: APPS, aggregated: true, ...(failing ? { failing: new Set(['/apis']) } : {}) }));
    const d = new Discovery({ client });
    await Promise.all([d.refresh(), d.refresh(), d.refresh()]);
    expect(paths).toHaveLength(2);
    failing = true;
    expect(await d.refresh()).toBe(false);
    expect(d.status()).toMatchObject({ loaded: true, resources: 3, refreshes: 1, lastError: expect.stringContaining('HTTP 503') });
    expect(d.lookup('apps/v1', 'Deployment')).toBeDefined();
  });

  it('a refresh that outlasts its deadline fails, and a stopped discovery sends nothing more', async () => {
    const hanging: KubeHttpClient = {
      getJson: <T>(req: KubeRequest) =>
        new Promise<T>((_, reject) => req.signal?.addEventListener('abort', () => reject(new Error('aborted')), { once: true })),
      openStream: () => Promise.reject(new Error('not used')),
      sendJson: () => Promise.reject(new Error('this test makes no writes')),
      close: () => {},
    };
    const d = new Discovery({ client: hanging, refreshTimeoutMs: 30 });
    expect(await d.refresh()).toBe(false);
    expect(d.status().lastError).toBe('aborted');
    const pending = d.refresh();
    d.stop();
    expect(await pending).toBe(false);
    expect(await d.refresh()).toBe(false);
  });
});

const CORE_MISSING = { group: '', version: 'v1', resource: 'missing', namespaced: false };

describe('LiveReader and discovery: a kind that is not served, then is', () => {
  it('a Widget is gone while its kind is not served; once the CRD is served (after the throttle) the object is read', async () => {
    let clock = 0;
    let crdInstalled = false;
    const { client, paths } = server(() => ({ core: CORE, groups: crdInstalled ? { ...APPS, ...WIDGETS } : APPS, aggregated: true }));
    const objects: KubeHttpClient = {
      ...client,
      getJson<T>(req: KubeRequest): Promise<T> {
        if (req.path.includes('/widgets/')) {
          paths.push(req.path);
          return Promise.resolve({ apiVersion: 'meta.k8s.io/v1', kind: 'PartialObjectMetadata', metadata: { name: 'w', namespace: 'ns' } } as T);
        }
        return client.getJson<T>(req);
      },
    };
    const discovery = new Discovery({ client: objects, minRefreshIntervalMs: 30_000, now: () => clock });
    const live = new LiveReader({ client: objects, discovery, timeoutMs: 10_000, concurrency: 2 });
    const widget = { apiVersion: 'example.com/v1', kind: 'Widget', name: 'w', namespace: 'ns' };

    expect(await live.objectsState([widget])).toEqual(['gone']);
    crdInstalled = true;
    clock += 1_000; // within the throttle: the miss does not refresh again
    expect(await live.objectsState([widget])).toEqual(['gone']);
    expect(paths.filter((p) => p === '/apis')).toHaveLength(1);
    clock += 30_000;
    expect(await live.objectsState([widget])).toEqual(['exists']);
    expect(paths.filter((p) => p === '/apis')).toHaveLength(2);
    expect(paths).toContain('/apis/example.com/v1/namespaces/ns/widgets/w');
  });

  it('a miss while discovery cannot be refreshed is undecided (lookup-failed), never gone', async () => {
    const { client } = server(() => ({ core: CORE, groups: APPS, aggregated: true, failing: new Set(['/api']) }));
    const live = new LiveReader({ client, discovery: new Discovery({ client }), timeoutMs: 10_000, concurrency: 2 });
    const err = await live.objectsState([{ apiVersion: 'example.com/v1', kind: 'Widget', name: 'w', namespace: 'ns' }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UndecidedError);
    expect(err).toMatchObject({ kind: 'lookup-failed' });
  });
});

/** `client`, with every list in namespace `ns` answered by `items` and recorded in `listed`. */
function namespaceLists(client: KubeHttpClient, items: unknown[]): { lists: KubeHttpClient; listed: string[] } {
  const listed: string[] = [];
  const lists: KubeHttpClient = {
    ...client,
    getJson<T>(req: KubeRequest): Promise<T> {
      if (!req.path.includes('/namespaces/ns/')) return client.getJson<T>(req);
      listed.push(req.path);
      return Promise.resolve({ kind: 'PartialObjectMetadataList', metadata: {}, items } as T);
    },
  };
  return { lists, listed };
}

describe('Discovery follows the types of a running cluster (operators installed after the guard)', () => {
  it('after markStale the next sweep waits for the refresh and lists the new type, throttle or not', async () => {
    let crdInstalled = false;
    const { client, paths } = server(() => ({ core: CORE, groups: crdInstalled ? { ...APPS, ...WIDGETS } : APPS, aggregated: true }));
    const { lists, listed } = namespaceLists(client, []);
    // A throttle no test outlives: only markStale can make it refresh.
    const discovery = new Discovery({ client: lists, minRefreshIntervalMs: 3_600_000, staleDebounceMs: 60_000 });
    const live = new LiveReader({ client: lists, discovery, timeoutMs: 10_000, concurrency: 2 });
    await discovery.refresh();
    await live.finalizedObjects('ns');
    expect(listed.some((p) => p.includes('/widgets'))).toBe(false);

    crdInstalled = true;
    discovery.markStale();
    expect(discovery.isStale()).toBe(true);
    listed.length = 0;
    await live.finalizedObjects('ns');
    expect(listed).toContain('/apis/example.com/v1/namespaces/ns/widgets');
    expect(discovery.isStale()).toBe(false);
    expect(paths.filter((p) => p === '/apis')).toHaveLength(2);
    discovery.stop();
  });

  it('a sweep for types none of which is served makes no call while discovery is current, and lists the type once its CRD appears', async () => {
    let crdInstalled = false;
    const { client } = server(() => ({ core: CORE, groups: crdInstalled ? { ...APPS, ...WIDGETS } : APPS, aggregated: true }));
    const { lists, listed } = namespaceLists(client, [{ metadata: { name: 'w', namespace: 'ns', finalizers: ['example.com/f'] } }]);
    const discovery = new Discovery({ client: lists, minRefreshIntervalMs: 3_600_000, staleDebounceMs: 60_000 });
    const live = new LiveReader({ client: lists, discovery, timeoutMs: 10_000, concurrency: 2 });
    await discovery.refresh();
    const asked: string[] = [];
    const widgetsOnly = {
      key: 'widgets',
      wanted: (t: { group: string; resource: string }) => {
        asked.push(t.resource);
        return t.group === 'example.com';
      },
    };
    expect(await live.finalizedObjects('ns', widgetsOnly)).toEqual({ objects: [], unlisted: [] });
    expect(await live.finalizedObjects('ns', widgetsOnly)).toEqual({ objects: [], unlisted: [] });
    expect(listed).toEqual([]);
    expect(live.stats().calls).toBe(0);
    // The same SweepTypes object over the same types: its predicate ran once per type, not per sweep.
    expect(asked.sort()).toEqual(['deployments', 'secrets']);

    crdInstalled = true;
    discovery.markStale();
    const sweep = await live.finalizedObjects('ns', widgetsOnly);
    expect(listed).toEqual(['/apis/example.com/v1/namespaces/ns/widgets']);
    expect(sweep.objects.map((o) => `${o.resource}/${o.name}`)).toEqual(['widgets/w']);
    expect(live.stats().calls).toBe(1);
    discovery.stop();
  });

  it('a CRD that discovery does not list yet keeps it stale and is looked for again, a bounded number of times', async () => {
    let published = false;
    const { client, paths } = server(() => ({ core: CORE, groups: published ? { ...APPS, ...WIDGETS } : APPS, aggregated: true }));
    const d = new Discovery({ client, expectedResources: () => ['widgets.example.com'], maxMissingRetries: 3 });
    expect(await d.refresh()).toBe(true);
    expect(d.isStale()).toBe(true);
    published = true;
    expect(await d.fresh()).toBe(true);
    expect(d.lookup('example.com/v1', 'Widget')).toBeDefined();
    expect(d.isStale()).toBe(false);

    // Never published (a CRD that does not become Established): retries stop, the map is used.
    const never = server(() => ({ core: CORE, groups: APPS, aggregated: true }));
    const d2 = new Discovery({ client: never.client, expectedResources: () => ['widgets.example.com'], maxMissingRetries: 2 });
    await d2.refresh();
    await d2.fresh();
    await d2.fresh();
    expect(d2.isStale()).toBe(false);
    expect(never.paths.filter((p) => p === '/apis').length).toBeLessThanOrEqual(3);
    expect(paths.filter((p) => p === '/apis')).toHaveLength(2);
    d.stop();
    d2.stop();
  });

  it('fresh() gives up when its signal fires and keeps the last map', async () => {
    const { client } = server(() => ({ core: CORE, groups: APPS, aggregated: true }));
    const d = new Discovery({ client, staleDebounceMs: 60_000 });
    await d.refresh();
    d.markStale();
    expect(await d.fresh(AbortSignal.abort())).toBe(false);
    expect(d.lookup('apps/v1', 'Deployment')).toBeDefined();
    d.stop();
  });
});
