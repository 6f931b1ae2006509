// The ClusterView the guard runs with: watch caches for the hot path, bounded live reads for the
// rare one. Which caches exist follows from the finalizer registry: one metadata cache per guarded
// resource type and one Deployment cache per controller selector, plus the fixed set below.
//
//   namespaces            full, slimmed to name, labels, deletionTimestamp and phase (the fields read)
//   helm-secrets          Secrets labelled owner=helm, metadata only  } indexed by release name
//   helm-configmaps       ConfigMaps labelled owner=helm, metadata only }
//   <resource>.<group>    each guarded resource type (e.g. CSVs), metadata only
//   deployments[<sel>]    Deployments matching each controller selector, full (status is read)
//   clusterrolebindings   full (subjects are read), indexed by ServiceAccount subject
//   clusterroles          full (existence, and rules for inferring a finalizer's controller)
//   rolebindings, roles   every namespace's, slimmed to roleRef and ServiceAccount subjects, and
//                         rules: the first pass of a namespace's grants (inferred-finalizers),
//                         which listed them live on every namespace DELETE (ARCHITECTURE.md §3)
//   customresourcedefinitions  metadata only: a type added or removed refreshes discovery, so a
//                         namespace sweep lists the types of operators installed after the guard
//   apiservices           full (small): the same for aggregated APIs; also the first pass of
//                         apiservice-backends (ARCHITECTURE.md §3)
//   validatingwebhookconfigurations, mutatingwebhookconfigurations  full (small): the first pass
//                         of webhook-backends (ARCHITECTURE.md §3)
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeConfig } from '@kubernetes/client-node';
import type { KubeObject, ObjectRef, PartialObjectMetadata, ResourceType } from '../k8s/types.ts';
import { carriesGuardedFinalizer, type FinalizerGuard } from '../finalizers/guard.ts';
import { backoffDelayMs } from './backoff.ts';
import { Discovery } from './discovery.ts';
import { createKubeHttpClient, type KubeHttpClient } from './kubeHttp.ts';
import { canonicalLabelSelector } from '../k8s/labelSelector.ts';
import { serviceAccountGrants, slimBinding, slimRole } from '../k8s/rbac.ts';
import { LiveReader, type LiveReadCounters } from './liveReads.ts';
import { SILENT_LOGGER, type ClusterLogger } from './logger.ts';
import { createInformer, MetadataInformer, type CachedObject, type InformerCounters, type InformerOptions, type InformerStatus } from './metadataInformer.ts';
import { FinalizerMemoryStore, MEMORY_LABEL } from './finalizerMemoryStore.ts';
import { slimNamespace } from './objectMeta.ts';
import type { MemoryLimits, RememberedController } from '../finalizers/memory.ts';
import { ObjectIndex } from './objectIndex.ts';
import { HELM_RECORD_SELECTOR, slimReleaseRecordObject, sortReleaseRecords } from './releaseRecords.ts';
import { ReleaseRecordIndex } from './releaseRecordIndex.ts';
import { namespaceState } from './namespaceState.ts';
import {
  overlayView,
  UndecidedError,
  type ClusterView,
  type NamespaceState,
  type NamespaceSweep,
  type ReviewContext,
  type ServiceAccountGrant,
} from './view.ts';

export interface KubeClusterViewOptions {
  kubeConfig: KubeConfig;
  finalizerGuards: readonly FinalizerGuard[];
  /** The HTTP client to the API server (tests script one); default: one made from kubeConfig. */
  client?: KubeHttpClient;
  /** Overall budget of one live-read call. Default 2000. */
  liveTimeoutMs?: number;
  /** Requests in flight at once within one live-read call. Default 8. */
  liveConcurrency?: number;
  logger?: ClusterLogger;
  /** A discovery miss refreshes at most this often. Default 30000. */
  discoveryRefreshIntervalMs?: number;
  /** Tuning shared by every cache (tests shorten timeouts). */
  informer?: Pick<InformerOptions, 'backoff' | 'watchTimeoutSeconds' | 'pageSize' | 'notServedRetryMs' | 'healthyWatchMs'>;
  /** The finalizer memory's ConfigMap (ARCHITECTURE.md §1F); without it nothing is remembered. */
  memory?: { namespace: string; name: string; limits: MemoryLimits; flushDelayMs?: number };
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
  /** Where what reviews learn about finalizers' controllers is written (undefined without `memory`). */
  memory(): FinalizerMemoryStore | undefined;
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

/** The caches of one view (see the file header), by role, and all of them by name. */
interface ViewCaches {
  all: Map<string, MetadataInformer<CachedObject>>;
  namespaces: MetadataInformer<KubeObject>;
  helmSecrets: MetadataInformer<PartialObjectMetadata>;
  helmConfigMaps: MetadataInformer<PartialObjectMetadata>;
  bindings: MetadataInformer<KubeObject>;
  roles: MetadataInformer<KubeObject>;
  /** Every namespace's RoleBindings and Roles, slimmed (k8s/rbac.ts): the first pass of a namespace's grants. */
  namespaceBindings: MetadataInformer<KubeObject>;
  namespaceRoles: MetadataInformer<KubeObject>;
  crds: MetadataInformer<PartialObjectMetadata>;
  apiServices: MetadataInformer<KubeObject>;
  /** Webhook configurations by kind: the first pass of webhook-backends reads them (ARCHITECTURE.md §3). */
  webhookConfigurations: ReadonlyArray<{ kind: WebhookConfigurationKind; informer: MetadataInformer<KubeObject> }>;
  /** The finalizer memory's ConfigMap (by label), when the view has a memory. */
  memory: MetadataInformer<KubeObject> | undefined;
  /** One per guarded resource type, keyed by group/resource: every version shows the same objects. */
  guarded: Map<string, MetadataInformer<PartialObjectMetadata>>;
  /** One per distinct controller selector, keyed by its canonical spelling. */
  deployments: Map<string, MetadataInformer<KubeObject>>;
}

/** Both release-record caches: every record (label owner=helm), slimmed to what is read of it. */
const HELM_RECORDS = { labelSelector: HELM_RECORD_SELECTOR, slim: slimReleaseRecordObject } as const;

type WebhookConfigurationKind = 'ValidatingWebhookConfiguration' | 'MutatingWebhookConfiguration';
/** rememberedControllers() without a memory: one array, so what policies derive from it is derived once. */
const NOTHING_REMEMBERED: readonly RememberedController[] = [];
const WEBHOOK_CONFIGURATION_KINDS: readonly WebhookConfigurationKind[] = ['ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration'];

type SharedInformerOptions = Pick<
  InformerOptions,
  'client' | 'logger' | 'backoff' | 'watchTimeoutSeconds' | 'pageSize' | 'notServedRetryMs' | 'healthyWatchMs'
>;

function createViewCaches(common: SharedInformerOptions, finalizerGuards: readonly FinalizerGuard[], withMemory: boolean): ViewCaches {
  const all = new Map<string, MetadataInformer<CachedObject>>();
  const register = <T extends CachedObject>(informer: MetadataInformer<T>): MetadataInformer<T> => {
    all.set(informer.name, informer as unknown as MetadataInformer<CachedObject>);
    return informer;
  };
  const core = (resource: string) => ({ group: '', version: 'v1', resource });
  const rbac = (resource: string) => ({ group: 'rbac.authorization.k8s.io', version: 'v1', resource });
  const caches: ViewCaches = {
    all,
    namespaces: register(createInformer({ ...common, name: 'namespaces', resource: core('namespaces'), full: true, slim: slimNamespace })),
    helmSecrets: register(createInformer({ ...common, ...HELM_RECORDS, name: 'helm-secrets', resource: core('secrets') })),
    helmConfigMaps: register(createInformer({ ...common, ...HELM_RECORDS, name: 'helm-configmaps', resource: core('configmaps') })),
    bindings: register(createInformer({ ...common, name: 'clusterrolebindings', resource: rbac('clusterrolebindings'), full: true })),
    roles: register(createInformer({ ...common, name: 'clusterroles', resource: rbac('clusterroles'), full: true })),
    namespaceBindings: register(createInformer({ ...common, name: 'rolebindings', resource: rbac('rolebindings'), full: true, slim: slimBinding })),
    namespaceRoles: register(createInformer({ ...common, name: 'roles', resource: rbac('roles'), full: true, slim: slimRole })),
    crds: register(
      createInformer({
        ...common,
        name: 'customresourcedefinitions',
        resource: { group: 'apiextensions.k8s.io', version: 'v1', resource: 'customresourcedefinitions' },
      }),
    ),
    apiServices: register(
      createInformer({
        ...common,
        name: 'apiservices',
        resource: { group: 'apiregistration.k8s.io', version: 'v1', resource: 'apiservices' },
        full: true,
      }),
    ),
    webhookConfigurations: WEBHOOK_CONFIGURATION_KINDS.map((kind) => {
      const resource = `${kind.toLowerCase()}s`;
      return {
        kind,
        informer: register(
          createInformer({ ...common, name: resource, resource: { group: 'admissionregistration.k8s.io', version: 'v1', resource }, full: true }),
        ),
      };
    }),
    memory: withMemory
      ? register(createInformer({ ...common, name: 'finalizer-memory', resource: core('configmaps'), labelSelector: MEMORY_LABEL, full: true }))
      : undefined,
    guarded: new Map(),
    deployments: new Map(),
  };
  for (const guard of finalizerGuards) {
    const name = guardCacheName(guard.resource);
    if (!caches.guarded.has(name)) {
      const { group, version, resource } = guard.resource;
      const guardsOfType = finalizerGuards.filter((g) => guardCacheName(g.resource) === name);
      const keep = (o: CachedObject): boolean => guardsOfType.some((g) => carriesGuardedFinalizer(o, g));
      caches.guarded.set(name, register(createInformer({ ...common, name, resource: { group, version, resource }, keep })));
    }
    const labelSelector = canonicalLabelSelector(guard.controller.deploymentSelector);
    if (!caches.deployments.has(labelSelector)) {
      const resource = { group: 'apps', version: 'v1', resource: 'deployments' };
      caches.deployments.set(
        labelSelector,
        register(createInformer({ ...common, name: `deployments[${labelSelector}]`, resource, labelSelector, full: true })),
      );
    }
  }
  return caches;
}

/** Release records of both storage drivers, indexed as their caches change. */
function indexReleaseRecords(caches: ViewCaches): ReleaseRecordIndex[] {
  const secrets = new ReleaseRecordIndex('Secret');
  const configMaps = new ReleaseRecordIndex('ConfigMap');
  caches.helmSecrets.on('change', (change) => secrets.follow(change));
  caches.helmConfigMaps.on('change', (change) => configMaps.follow(change));
  return [secrets, configMaps];
}

function indexBindingsBySubject(caches: ViewCaches): ObjectIndex<KubeObject> {
  const bySubject = new ObjectIndex<KubeObject>(subjectsOf);
  caches.bindings.on('change', (change) => {
    const name = change.object.metadata?.name;
    if (!name) return;
    if (change.type === 'deleted') bySubject.delete(name);
    else bySubject.set(name, change.object);
  });
  return bySubject;
}

/**
 * A value computed from caches once per change of any of them instead of on every review: hot
 * paths read small, rarely changing caches whole (the cluster's RBAC, APIServices, webhook
 * configurations), and rebuilding what they derive from them on each review was most of what a
 * cache-only namespace DELETE allocated.
 */
function derivedFromCaches<V>(informers: ReadonlyArray<Pick<MetadataInformer<CachedObject>, 'on'>>, compute: () => V): () => V {
  let value: { v: V } | undefined;
  const forget = (): void => {
    value = undefined;
  };
  for (const informer of informers) informer.on('change', forget);
  return () => (value ??= { v: compute() }).v;
}

/** What hot paths read whole from the small caches, each derived once per change. */
interface CacheDerived {
  /** What every ClusterRoleBinding grants (a cluster's system roles carry hundreds of rules). */
  clusterGrants: () => ServiceAccountGrant[];
  apiServices: () => KubeObject[];
  webhookConfigurations: () => KubeObject[];
}

function cacheDerived(caches: ViewCaches): CacheDerived {
  const webhookInformers = caches.webhookConfigurations.map((c) => c.informer);
  return {
    clusterGrants: derivedFromCaches([caches.bindings, caches.roles], () =>
      serviceAccountGrants(caches.bindings.list(), (_kind, name) => caches.roles.get(undefined, name)),
    ),
    apiServices: derivedFromCaches([caches.apiServices], () =>
      caches.apiServices.list().map((o) => ({ ...o, apiVersion: 'apiregistration.k8s.io/v1', kind: 'APIService' })),
    ),
    webhookConfigurations: derivedFromCaches(webhookInformers, () =>
      caches.webhookConfigurations.flatMap(({ kind, informer }) => informer.list().map((o) => ({ ...o, apiVersion: 'admissionregistration.k8s.io/v1', kind }))),
    ),
  };
}

function requireSynced(...informers: Array<Pick<MetadataInformer<CachedObject>, 'name' | 'hasSynced' | 'status'>>): void {
  for (const informer of informers) {
    if (!informer.hasSynced()) {
      const { lastError } = informer.status();
      throw new UndecidedError('cache-unsynced', `cluster cache "${informer.name}" has not synced yet${lastError ? ` (${lastError})` : ''}`);
    }
  }
}

type CacheReads = Pick<
  ClusterView,
  'getNamespace' | 'listObjectMeta' | 'listDeployments' | 'clusterRoleBindingsFor' | 'clusterRoleExists' | 'releaseRecords' | 'uninstallingRecords'
>;

/** The hot path: answers from the caches only, undecided while the cache asked is not synced. */
function cacheReads(caches: ViewCaches): CacheReads {
  const records = indexReleaseRecords(caches);
  const bindingsBySubject = indexBindingsBySubject(caches);
  const { namespaces, helmSecrets, helmConfigMaps } = caches;
  return {
    getNamespace(name): NamespaceState | undefined {
      requireSynced(namespaces);
      const ns = namespaces.get(undefined, name);
      return ns ? namespaceState(ns) : undefined;
    },

    listObjectMeta(type, namespace) {
      const informer = caches.guarded.get(guardCacheName(type));
      if (!informer) throw new UndecidedError('internal', `resource ${guardCacheName(type)} is not watched (not in the finalizer registry)`);
      requireSynced(informer);
      return informer.list(namespace);
    },

    listDeployments(labelSelector, namespace) {
      let informer: MetadataInformer<KubeObject> | undefined;
      try {
        informer = caches.deployments.get(canonicalLabelSelector(labelSelector));
      } catch (err) {
        throw new UndecidedError('internal', `invalid Deployment selector "${labelSelector}": ${err instanceof Error ? err.message : String(err)}`);
      }
      if (!informer) throw new UndecidedError('internal', `Deployments matching "${labelSelector}" are not watched (no finalizer guard uses that selector)`);
      requireSynced(informer);
      return informer.list(namespace);
    },

    clusterRoleBindingsFor(serviceAccountNamespace, serviceAccountName) {
      requireSynced(caches.bindings);
      return bindingsBySubject.get(serviceAccountKey(serviceAccountNamespace, serviceAccountName));
    },

    clusterRoleExists(name) {
      requireSynced(caches.roles);
      return caches.roles.get(undefined, name) !== undefined;
    },

    releaseRecords(release) {
      requireSynced(helmSecrets, helmConfigMaps);
      return sortReleaseRecords(records.flatMap((index) => index.records(release)));
    },

    uninstallingRecords() {
      requireSynced(helmSecrets, helmConfigMaps);
      return sortReleaseRecords(records.flatMap((index) => index.uninstallingRecords()));
    },
  };
}

type LiveReads = Required<
  Pick<
    ClusterView,
    | 'liveReleaseRecords'
    | 'liveDeployment'
    | 'liveObjectsState'
    | 'liveObjects'
    | 'liveReleaseRecord'
    | 'liveFinalizedObjects'
    | 'liveServiceAccountGrants'
    | 'liveWorkloads'
    | 'liveFinalizedObjectsOfType'
    | 'liveApiServices'
    | 'liveWebhookConfigurations'
  >
>;

/** The rare path: bounded reads from the API server, for one review when given (then a namespace is swept once). */
function liveReads(live: LiveReader, caches: ViewCaches, cached: CacheDerived, review?: ReviewContext): LiveReads {
  const sweeps = new Map<string, Promise<NamespaceSweep>>();
  const terms: ReviewContext = review ?? { freshness: 'consistent' };
  return {
    liveReleaseRecords: (release) => live.releaseRecords(release, terms),
    liveDeployment: (namespace, name) => live.deployment(namespace, name, terms),
    liveObjectsState: (refs: ObjectRef[]) => live.objectsState(refs, terms),
    liveObjects: (refs: ObjectRef[]) => live.objects(refs, terms),
    liveReleaseRecord: (record) => live.releaseRecord(record, terms),
    liveFinalizedObjects: (namespace, types) => {
      if (!review) return live.finalizedObjects(namespace, types, terms);
      // One sweep per namespace and filter per review: a policy may read it more than once.
      const key = `${namespace}\n${types?.key ?? '*'}`;
      let sweep = sweeps.get(key);
      if (!sweep) {
        sweep = live.finalizedObjects(namespace, types, terms);
        sweeps.set(key, sweep);
      }
      return sweep;
    },
    // Always consistent (LiveReader.workloads): this read only happens once a sweep has found a finalizer to explain.
    liveWorkloads: (namespace) => live.workloads(namespace, terms),
    liveFinalizedObjectsOfType: (type) => live.finalizedObjectsOfType(type, terms),
    // APIServices and webhook configurations are small, cluster-scoped and rarely change: a review's
    // first pass (freshness `watch-cache`) reads them from the guard's own watch caches, no request
    // at all, while they follow the server; the confirming pass lists them live and consistently, so
    // a finding never stands on a cache's lag (ARCHITECTURE.md §3, policies/confirmedFindings.ts).
    liveApiServices: () => (firstPassFromCache(terms, [caches.apiServices]) ? Promise.resolve(cached.apiServices()) : live.apiServices(terms)),
    liveWebhookConfigurations: () =>
      firstPassFromCache(
        terms,
        caches.webhookConfigurations.map((c) => c.informer),
      )
        ? Promise.resolve(cached.webhookConfigurations())
        : live.webhookConfigurations(terms),
    // A namespace's RoleBindings and Roles: the first pass reads them from the guard's caches like
    // the webhook configurations above (a finding's confirming pass lists them consistently).
    async liveServiceAccountGrants(namespace) {
      requireSynced(caches.bindings, caches.roles);
      const { namespaceBindings, namespaceRoles } = caches;
      const local = firstPassFromCache(terms, [namespaceBindings, namespaceRoles])
        ? { roleBindings: namespaceBindings.list(namespace), roles: namespaceRoles.list(namespace) }
        : await live.namespaceRbac(namespace, terms);
      const roleOf = (kind: 'ClusterRole' | 'Role', name: string): KubeObject | undefined =>
        kind === 'ClusterRole' ? caches.roles.get(undefined, name) : local.roles.find((r) => r.metadata?.name === name);
      const own = serviceAccountGrants(local.roleBindings, roleOf);
      // Most namespaces grant nothing of their own: then the cluster's grants, the same array review
      // after review, so what policies derive from it is derived once (memoByObject).
      return own.length === 0 ? cached.clusterGrants() : [...cached.clusterGrants(), ...own];
    },
  };
}

/**
 * Whether a review's first pass may answer from these caches: only a first pass (a finding is then
 * read again consistently), and only from caches that have listed and follow the server now (a
 * cache whose watch is failing may lag by more than kube-apiserver's own watch cache: then the
 * first pass lists from that one, as before).
 */
function firstPassFromCache(review: ReviewContext, informers: ReadonlyArray<MetadataInformer<KubeObject>>): boolean {
  return review.freshness === 'watch-cache' && informers.every((i) => i.hasSynced() && i.status().failingSinceMs === undefined);
}

function sumCounters(all: ViewCaches['all'], live: LiveReader, discovery: Discovery): ClusterViewCounters {
  const totals = { events: 0, relists: 0, reconnects: 0, expired: 0, failures: 0 };
  const perCache: ClusterViewCounters['perCache'] = {};
  for (const informer of all.values()) {
    const { counters, count } = informer.status();
    perCache[informer.name] = { ...counters, objects: count };
    for (const k of Object.keys(totals) as Array<keyof typeof totals>) totals[k] += counters[k];
  }
  return { ...totals, perCache, live: live.stats(), discoveryRefreshes: discovery.status().refreshes };
}

export function createKubeClusterView(options: KubeClusterViewOptions): KubeClusterView {
  const logger = options.logger ?? SILENT_LOGGER;
  const client: KubeHttpClient = options.client ?? createKubeHttpClient(options.kubeConfig);
  const caches = createViewCaches({ client, logger, ...options.informer }, options.finalizerGuards, options.memory !== undefined);
  const { all } = caches;
  const cached = cacheDerived(caches);
  const discovery = new Discovery({
    client,
    logger,
    minRefreshIntervalMs: options.discoveryRefreshIntervalMs ?? 30_000,
    // A CRD's name is `plural.group`: once it exists, discovery should list it.
    expectedResources: () => caches.crds.list().flatMap((c) => (c.metadata.name && !c.metadata.deletionTimestamp ? [c.metadata.name] : [])),
  });
  const live = new LiveReader({
    client,
    discovery,
    timeoutMs: options.liveTimeoutMs ?? 2000,
    concurrency: options.liveConcurrency ?? 8,
    onForbidden: (read) =>
      logger.warn(
        { read },
        "the API server refused a read the guard's RBAC does not grant: the policies that need it are silent (or undecided) about it (counted in teardown_guard_live_read_forbidden_total; first occurrence of each read only)",
      ),
  });
  // Operators and their CRDs come and go while the guard runs (it is installed first): any change
  // to the served types marks discovery stale, and the next sweep waits for the refresh.
  const typesChanged = (): void => discovery.markStale();
  caches.crds.on('change', typesChanged);
  caches.apiServices.on('change', typesChanged);
  const memory = options.memory
    ? new FinalizerMemoryStore({
        client,
        ...options.memory,
        logger,
        // Forget the types whose CRD is gone (their objects went with it); keep all while discovery is unsure.
        served: (type) => !discovery.isLoaded() || discovery.isStale() || discovery.serves(type.group, type.resource),
      })
    : undefined;
  if (memory && caches.memory) {
    caches.memory.on('change', (change) => {
      if (memory.isMemory(change.object)) memory.observe(change.type === 'deleted' ? undefined : change.object);
    });
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
      await memory?.stop();
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

    ...cacheReads(caches),
    ...liveReads(live, caches, cached),
    // The same caches; the live reads made for one review (its deadline and freshness).
    forReview: (review) => overlayView(view, liveReads(live, caches, cached, review)),

    isNamespaced(apiVersion, kind) {
      if (!discovery.isLoaded()) throw new UndecidedError('cache-unsynced', 'API discovery has not loaded yet');
      const found = discovery.lookup(apiVersion, kind);
      if (found) return found.namespaced;
      // Maybe a kind added since the last refresh: look again in the background (throttled).
      void discovery.refreshIfDue();
      return undefined;
    },

    readiness() {
      const statuses = [...all.values()].map((informer) => informer.status());
      const synced = view.isSynced();
      return {
        synced,
        current: synced && statuses.every((c) => c.failingSinceMs === undefined),
        discovery: discovery.status(),
        caches: statuses,
      };
    },

    counters: () => sumCounters(all, live, discovery),
    caches: () => all,
    memory: () => memory,
    rememberedControllers: () => memory?.entries() ?? NOTHING_REMEMBERED,
  };
  return view;
}
