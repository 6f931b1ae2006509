// The ClusterView the guard runs with: watch caches for the hot path, bounded live reads for the
// rare one. Which caches exist follows from the finalizer registry: one metadata cache per guarded
// resource type and one Deployment cache per controller selector, plus the fixed set below.
//
//   namespaces            full (small objects; phase and deletionTimestamp are read)
//   helm-secrets          Secrets labelled owner=helm, metadata only  } indexed by release name
//   helm-configmaps       ConfigMaps labelled owner=helm, metadata only }
//   <resource>.<group>    each guarded resource type (e.g. CSVs), metadata only
//   deployments[<sel>]    Deployments matching each controller selector, full (status is read)
//   clusterrolebindings   full (subjects are read), indexed by ServiceAccount subject
//   clusterroles          metadata only (existence is all we ask)
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeConfig } from '@kubernetes/client-node';
import type { KubeObject, ObjectRef, PartialObjectMetadata, ResourceType } from '../k8s/types.ts';
import type { FinalizerGuard } from '../finalizers/guard.ts';
import { backoffDelayMs } from './backoff.ts';
import { Discovery } from './discovery.ts';
import { createKubeHttpClient, type KubeHttpClient } from './kubeHttp.ts';
import { canonicalLabelSelector } from '../k8s/labelSelector.ts';
import { LiveReader, type LiveReadCounters } from './liveReads.ts';
import { SILENT_LOGGER, type ClusterLogger } from './logger.ts';
import {
  createInformer,
  MetadataInformer,
  type CachedObject,
  type InformerChange,
  type InformerCounters,
  type InformerOptions,
  type InformerStatus,
} from './metadataInformer.ts';
import { objectKey } from './objectMeta.ts';
import { ObjectIndex } from './objectIndex.ts';
import { HELM_RECORD_SELECTOR, releaseRecordFromMeta, sortReleaseRecords } from './releaseRecords.ts';
import { UndecidedError, type ClusterView, type NamespaceState, type ReleaseRecordMeta } from './view.ts';

export interface KubeClusterViewOptions {
  kubeConfig: KubeConfig;
  finalizerGuards: readonly FinalizerGuard[];
  /** Overall budget of one live-read call. Default 2000. */
  liveTimeoutMs?: number;
  /** Requests in flight at once within one live-read call. Default 8. */
  liveConcurrency?: number;
  logger?: ClusterLogger;
  /** A discovery miss refreshes at most this often. Default 30000. */
  discoveryRefreshIntervalMs?: number;
  /** Tuning shared by every cache (tests shorten timeouts). */
  informer?: Pick<InformerOptions, 'backoff' | 'watchTimeoutSeconds' | 'pageSize' | 'notServedRetryMs' | 'healthyWatchMs'>;
}

/**
 * What /readyz reports. `synced` is isSynced(); each cache lists its own state so an operator can
 * see which one is behind and why (`lastError`, e.g. a 403 from missing RBAC).
 */
export interface ClusterViewReadiness {
  synced: boolean;
  /** Synced, and every cache is following the server now (none failing since its last success). */
  current: boolean;
  discovery: { loaded: boolean; resources: number; refreshes: number; lastError: string | undefined };
  caches: InformerStatus[];
}

/**
 * Monotonic counters for /metrics (Prometheus counters, except `objects` which is a gauge).
 * Totals sum every cache; `perCache` is keyed by cache name (see the file header for names).
 *   events      watch ADDED/MODIFIED/DELETED applied
 *   relists     lists after a cache's first (410 Gone, resource reappearing)
 *   reconnects  watches re-opened after the first (server timeout or dropped connection)
 *   expired     410 Gone answers seen
 *   failures    failed list/watch attempts
 *   live        live-read calls, failures (UndecidedError) and timeouts among them
 */
export interface ClusterViewCounters {
  events: number;
  relists: number;
  reconnects: number;
  expired: number;
  failures: number;
  perCache: Record<string, InformerCounters & { objects: number }>;
  live: LiveReadCounters;
  discoveryRefreshes: number;
}

export interface KubeClusterView extends ClusterView {
  /** Starts every cache and discovery in the background. */
  start(): void;
  /** Stops caches, aborts requests, clears timers and closes connections. */
  stop(): Promise<void>;
  /** Resolves true once isSynced(), false after `timeoutMs`. */
  waitForSync(timeoutMs: number): Promise<boolean>;
  readiness(): ClusterViewReadiness;
  counters(): ClusterViewCounters;
  /** The caches themselves, by name: for diagnostics and tests (e.g. provoking a 410). */
  caches(): ReadonlyMap<string, MetadataInformer<CachedObject>>;
}

/** Index key of a ServiceAccount subject. */
function serviceAccountKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

function subjectsOf(binding: KubeObject): string[] {
  const subjects = binding['subjects'];
  if (!Array.isArray(subjects)) return [];
  return subjects.flatMap((s: unknown) => {
    const subject = s as { kind?: unknown; namespace?: unknown; name?: unknown };
    return subject.kind === 'ServiceAccount' && typeof subject.namespace === 'string' && typeof subject.name === 'string'
      ? [serviceAccountKey(subject.namespace, subject.name)]
      : [];
  });
}

function guardCacheName(resource: Pick<ResourceType, 'group' | 'resource'>): string {
  return resource.group === '' ? resource.resource : `${resource.resource}.${resource.group}`;
}

const UNINSTALLING_KEY = 'status uninstalling';

export function createKubeClusterView(options: KubeClusterViewOptions): KubeClusterView {
  const logger = options.logger ?? SILENT_LOGGER;
  const client: KubeHttpClient = createKubeHttpClient(options.kubeConfig);
  const discovery = new Discovery({ client, logger, minRefreshIntervalMs: options.discoveryRefreshIntervalMs ?? 30_000 });
  const live = new LiveReader({
    client,
    discovery,
    timeoutMs: options.liveTimeoutMs ?? 2000,
    concurrency: options.liveConcurrency ?? 8,
  });
  const common = { client, logger, ...options.informer };
  const all = new Map<string, MetadataInformer<CachedObject>>();
  const register = <T extends CachedObject>(informer: MetadataInformer<T>): MetadataInformer<T> => {
    all.set(informer.name, informer as unknown as MetadataInformer<CachedObject>);
    return informer;
  };

  const namespaces = register(createInformer({ ...common, name: 'namespaces', resource: { group: '', version: 'v1', resource: 'namespaces' }, full: true }));
  const helmSecrets = register(
    createInformer({ ...common, name: 'helm-secrets', resource: { group: '', version: 'v1', resource: 'secrets' }, labelSelector: HELM_RECORD_SELECTOR }),
  );
  const helmConfigMaps = register(
    createInformer({ ...common, name: 'helm-configmaps', resource: { group: '', version: 'v1', resource: 'configmaps' }, labelSelector: HELM_RECORD_SELECTOR }),
  );
  const bindings = register(
    createInformer({
      ...common,
      name: 'clusterrolebindings',
      resource: { group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'clusterrolebindings' },
      full: true,
    }),
  );
  const roles = register(
    createInformer({ ...common, name: 'clusterroles', resource: { group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'clusterroles' } }),
  );

  // One cache per guarded resource type (keyed by group/resource: every version shows the same objects).
  const guarded = new Map<string, MetadataInformer<PartialObjectMetadata>>();
  // One cache per distinct controller selector, keyed by its canonical spelling.
  const deployments = new Map<string, MetadataInformer<KubeObject>>();
  for (const guard of options.finalizerGuards) {
    const name = guardCacheName(guard.resource);
    if (!guarded.has(name)) {
      const { group, version, resource } = guard.resource;
      guarded.set(name, register(createInformer({ ...common, name, resource: { group, version, resource } })));
    }
    const selector = canonicalLabelSelector(guard.controller.deploymentSelector);
    if (!deployments.has(selector)) {
      deployments.set(
        selector,
        register(
          createInformer({
            ...common,
            name: `deployments[${selector}]`,
            resource: { group: 'apps', version: 'v1', resource: 'deployments' },
            labelSelector: selector,
            full: true,
          }),
        ),
      );
    }
  }

  // Release records by release name, across both storage drivers; those saying `uninstalling` also
  // under one key that no release name can be (label values cannot contain a space).
  const records = new ObjectIndex<ReleaseRecordMeta>((r) => [r.release, ...(r.status === 'uninstalling' ? [UNINSTALLING_KEY] : [])]);
  const followRecords =
    (storage: 'Secret' | 'ConfigMap') =>
    (change: InformerChange<PartialObjectMetadata>): void => {
      const { name, namespace } = change.object.metadata;
      if (!name) return;
      const key = `${storage}:${objectKey(namespace, name)}`;
      const record = change.type === 'deleted' ? undefined : releaseRecordFromMeta(storage, change.object);
      if (record) records.set(key, record);
      else records.delete(key);
    };
  helmSecrets.on('change', followRecords('Secret'));
  helmConfigMaps.on('change', followRecords('ConfigMap'));

  const bindingsBySubject = new ObjectIndex<KubeObject>(subjectsOf);
  bindings.on('change', (change) => {
    const name = change.object.metadata?.name;
    if (!name) return;
    if (change.type === 'deleted') bindingsBySubject.delete(name);
    else bindingsBySubject.set(name, change.object);
  });

  function requireSynced(...informers: Array<Pick<MetadataInformer<CachedObject>, 'name' | 'hasSynced' | 'status'>>): void {
    for (const informer of informers) {
      if (!informer.hasSynced()) {
        const { lastError } = informer.status();
        throw new UndecidedError('cache-unsynced', `cluster cache "${informer.name}" has not synced yet${lastError ? ` (${lastError})` : ''}`);
      }
    }
  }

  let stopController: AbortController | undefined;
  let stopped = false;
  let discoveryLoop: Promise<void> | undefined;

  /** First discovery load, retried with backoff: isNamespaced and live reads need it. */
  async function loadDiscovery(stop: AbortSignal): Promise<void> {
    for (let attempt = 0; !stop.aborted && !(await discovery.refresh()); attempt++) {
      try {
        await sleep(backoffDelayMs(attempt, options.informer?.backoff), undefined, { signal: stop });
      } catch {
        return;
      }
    }
  }

  const view: KubeClusterView = {
    start() {
      // Stopping closes the connection pools and cancels discovery for good: a view is single-use.
      if (stopped) throw new Error('cluster view was stopped; create a new one');
      if (stopController) return;
      stopController = new AbortController();
      discoveryLoop = loadDiscovery(stopController.signal);
      for (const informer of all.values()) informer.start();
    },

    async stop() {
      stopped = true;
      stopController?.abort();
      discovery.stop();
      await Promise.all([...all.values()].map((informer) => informer.stop()));
      await discoveryLoop;
      stopController = undefined;
      client.close();
    },

    async waitForSync(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (const informer of all.values()) {
        if (!(await informer.waitForSync(Math.max(0, deadline - Date.now())))) return false;
      }
      // Discovery has no event to wait on; poll it briefly (it loads in parallel with the caches).
      while (!discovery.isLoaded() && Date.now() < deadline) await sleep(Math.min(50, Math.max(0, deadline - Date.now())));
      return view.isSynced();
    },

    isSynced() {
      return discovery.isLoaded() && [...all.values()].every((informer) => informer.hasSynced());
    },

    getNamespace(name): NamespaceState | undefined {
      requireSynced(namespaces);
      const ns = namespaces.get(undefined, name);
      if (!ns) return undefined;
      const state: NamespaceState = { name, labels: { ...ns.metadata?.labels } };
      if (ns.metadata?.deletionTimestamp) state.deletionTimestamp = ns.metadata.deletionTimestamp;
      const phase = (ns['status'] as { phase?: unknown } | undefined)?.phase;
      if (typeof phase === 'string') state.phase = phase;
      return state;
    },

    listObjectMeta(type, namespace) {
      const informer = guarded.get(guardCacheName(type));
      if (!informer) throw new UndecidedError('internal', `resource ${guardCacheName(type)} is not watched (not in the finalizer registry)`);
      requireSynced(informer);
      return informer.list(namespace);
    },

    listDeployments(labelSelector) {
      let informer: MetadataInformer<KubeObject> | undefined;
      try {
        informer = deployments.get(canonicalLabelSelector(labelSelector));
      } catch (err) {
        throw new UndecidedError('internal', `invalid Deployment selector "${labelSelector}": ${err instanceof Error ? err.message : String(err)}`);
      }
      if (!informer) throw new UndecidedError('internal', `Deployments matching "${labelSelector}" are not watched (no finalizer guard uses that selector)`);
      requireSynced(informer);
      return informer.list();
    },

    clusterRoleBindingsFor(serviceAccountNamespace, serviceAccountName) {
      requireSynced(bindings);
      return bindingsBySubject.get(serviceAccountKey(serviceAccountNamespace, serviceAccountName));
    },

    clusterRoleExists(name) {
      requireSynced(roles);
      return roles.get(undefined, name) !== undefined;
    },

    releaseRecords(release) {
      requireSynced(helmSecrets, helmConfigMaps);
      return sortReleaseRecords(records.get(release).filter((r) => r.release === release));
    },

    uninstallingRecords() {
      requireSynced(helmSecrets, helmConfigMaps);
      return sortReleaseRecords(records.get(UNINSTALLING_KEY));
    },

    liveReleaseRecords: (release) => live.releaseRecords(release),
    liveDeployment: (namespace, name) => live.deployment(namespace, name),
    liveObjectsState: (refs: ObjectRef[]) => live.objectsState(refs),
    liveObjects: (refs: ObjectRef[]) => live.objects(refs),
    liveReleaseRecord: (record) => live.releaseRecord(record),

    withDeadline(deadline) {
      return {
        ...view,
        liveReleaseRecords: (release) => live.releaseRecords(release, deadline),
        liveDeployment: (namespace, name) => live.deployment(namespace, name, deadline),
        liveObjectsState: (refs: ObjectRef[]) => live.objectsState(refs, deadline),
        liveObjects: (refs: ObjectRef[]) => live.objects(refs, deadline),
        liveReleaseRecord: (record) => live.releaseRecord(record, deadline),
      };
    },

    isNamespaced(apiVersion, kind) {
      if (!discovery.isLoaded()) throw new UndecidedError('cache-unsynced', 'API discovery has not loaded yet');
      const found = discovery.lookup(apiVersion, kind);
      if (found) return found.namespaced;
      // Maybe a kind added since the last refresh: look again in the background (throttled).
      void discovery.refreshIfStale();
      return undefined;
    },

    readiness() {
      const caches = [...all.values()].map((informer) => informer.status());
      const synced = view.isSynced();
      return {
        synced,
        current: synced && caches.every((c) => c.failingSinceMs === undefined),
        discovery: discovery.status(),
        caches,
      };
    },

    counters() {
      const totals = { events: 0, relists: 0, reconnects: 0, expired: 0, failures: 0 };
      const perCache: ClusterViewCounters['perCache'] = {};
      for (const informer of all.values()) {
        const { counters, count } = informer.status();
        perCache[informer.name] = { ...counters, objects: count };
        totals.events += counters.events;
        totals.relists += counters.relists;
        totals.reconnects += counters.reconnects;
        totals.expired += counters.expired;
        totals.failures += counters.failures;
      }
      return { ...totals, perCache, live: live.stats(), discoveryRefreshes: discovery.status().refreshes };
    },

    caches: () => all,
  };
  return view;
}
