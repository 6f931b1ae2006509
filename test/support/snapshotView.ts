// A ClusterView over a fixed snapshot of cluster state: what unit tests feed the policies (the
// snapshot is captured from a real control plane, see test/fixtures). The "live" reads answer from a separate map, so a test can model a cache that lags.
import {
  UndecidedError,
  type ClusterView,
  type FinalizedObject,
  type HelmOwnerRef,
  type LiveObject,
  type NamespaceState,
  type ReleaseRecordMeta,
  type RememberedController,
  type ServiceAccountGrant,
} from '../../src/cluster/view.ts';
import { formatRef, type KubeObject, type ObjectRef, type PartialObjectMetadata, type ResourceType } from '../../src/k8s/types.ts';
import { matchesLabelSelector, parseLabelSelector } from '../../src/k8s/labelSelector.ts';
import { releaseRecordFromMeta } from '../../src/cluster/releaseRecords.ts';
import { namespaceState } from '../../src/cluster/namespaceState.ts';

export interface ClusterSnapshot {
  namespaces: KubeObject[];
  /** Metadata of objects of watched resource types, keyed by `group/resource` (core: `/secrets`). */
  objects: Record<string, PartialObjectMetadata[]>;
  deployments: KubeObject[];
  clusterRoleBindings: KubeObject[];
  clusterRoles: string[];
  /** Release records (Secrets or ConfigMaps, metadata only). */
  releaseRecords: PartialObjectMetadata[];
  /** Namespaced-ness by `apiVersion/Kind` (discovery). */
  namespaced: Record<string, boolean>;
  /** For inference: objects carrying finalizers (what a namespace sweep finds), in every namespace. */
  finalized?: FinalizedObject[];
  /** For inference: ServiceAccounts and the rules their bindings grant. */
  grants?: ServiceAccountGrant[];
  /** APIServices, whole. */
  apiServices?: KubeObject[];
  /** Validating- and MutatingWebhookConfigurations, whole, with their kind. */
  webhookConfigurations?: KubeObject[];
  /** The finalizer memory's entries (finalizers/memory.ts). */
  remembered?: RememberedController[];
}

export interface LiveState {
  /** Objects that exist for live reads, by formatRef(). Defaults to the snapshot. */
  objects?: Map<string, 'exists' | 'deleting'>;
  /** Helm ownership annotations of live objects, by formatRef() (absent: none). */
  owners?: Map<string, HelmOwnerRef>;
  /**
   * Whole release records (with data.release) for liveReleaseRecord. Defaults to the snapshot's
   * release records that carry data; a record without data reads as gone.
   */
  fullReleaseRecords?: KubeObject[];
  deployments?: KubeObject[];
  releaseRecords?: PartialObjectMetadata[];
  /** Makes every live read throw UndecidedError (models a timeout). */
  failWith?: string;
  /**
   * What kube-apiserver's watch cache answers to the lists of the namespace-DELETE checks
   * (resourceVersion=0) while it lags behind etcd, where that differs from the snapshot. Set, the
   * view's forReview({ freshness: 'watch-cache' }) answers from it; its reads count in calls.watchCache.
   */
  watchCache?: Partial<Pick<ClusterSnapshot, 'finalized' | 'grants' | 'apiServices' | 'webhookConfigurations'>>;
}

type SnapshotCalls = { live: number; watchCache: number };

export function resourceKey(type: Pick<ResourceType, 'group' | 'resource'>): string {
  return `${type.group}/${type.resource}`;
}

function toRecords(objs: PartialObjectMetadata[]): ReleaseRecordMeta[] {
  return objs.flatMap((o) => releaseRecordFromMeta(o.kind === 'ConfigMap' ? 'ConfigMap' : 'Secret', o) ?? []);
}

export function createSnapshotView(snapshot: ClusterSnapshot, live: LiveState = {}, synced = true): ClusterView & { calls: SnapshotCalls } {
  return snapshotView(snapshot, live, synced, { live: 0, watchCache: 0 }, 'live');
}

function snapshotView(
  snapshot: ClusterSnapshot,
  live: LiveState,
  synced: boolean,
  calls: SnapshotCalls,
  counted: keyof SnapshotCalls,
): ClusterView & { calls: SnapshotCalls } {
  const records = toRecords(snapshot.releaseRecords);
  const liveRecords = live.releaseRecords ? toRecords(live.releaseRecords) : records;
  const requireSynced = (): void => {
    if (!synced) throw new UndecidedError('cache-unsynced', 'watch caches have not synced yet');
  };
  const liveRead = (): void => {
    calls[counted]++;
    if (live.failWith) throw new UndecidedError('lookup-failed', live.failWith);
  };
  const liveObjects = live.objects;
  return {
    calls,
    isSynced: () => synced,
    getNamespace(name): NamespaceState | undefined {
      requireSynced();
      const ns = snapshot.namespaces.find((n) => n.metadata?.name === name);
      return ns ? namespaceState(ns) : undefined;
    },
    listObjectMeta(type, namespace) {
      requireSynced();
      const all = snapshot.objects[resourceKey(type)];
      if (!all) throw new UndecidedError('internal', `resource ${resourceKey(type)} is not watched`);
      return namespace === undefined ? all : all.filter((o) => o.metadata.namespace === namespace);
    },
    listDeployments(labelSelector, namespace) {
      requireSynced();
      const sel = parseLabelSelector(labelSelector);
      return snapshot.deployments.filter(
        (d) => matchesLabelSelector(sel, d.metadata?.labels) && (namespace === undefined || d.metadata?.namespace === namespace),
      );
    },
    clusterRoleBindingsFor(saNamespace, saName) {
      requireSynced();
      return snapshot.clusterRoleBindings.filter((b) =>
        ((b['subjects'] as Array<{ kind?: string; name?: string; namespace?: string }> | undefined) ?? []).some(
          (s) => s.kind === 'ServiceAccount' && s.name === saName && s.namespace === saNamespace,
        ),
      );
    },
    clusterRoleExists(name) {
      requireSynced();
      return snapshot.clusterRoles.includes(name);
    },
    releaseRecords(release) {
      requireSynced();
      return records.filter((r) => r.release === release);
    },
    uninstallingRecords() {
      requireSynced();
      return records.filter((r) => r.status === 'uninstalling');
    },
    async liveReleaseRecords(release) {
      liveRead();
      return liveRecords.filter((r) => r.release === release);
    },
    async liveDeployment(namespace, name) {
      liveRead();
      return (live.deployments ?? snapshot.deployments).find((d) => d.metadata?.namespace === namespace && d.metadata?.name === name);
    },
    async liveObjectsState(refs: ObjectRef[]) {
      liveRead();
      return refs.map((r) => liveObjects?.get(formatRef(r)) ?? 'gone');
    },
    async liveObjects(refs: ObjectRef[]) {
      liveRead();
      return refs.map((r): LiveObject => {
        const state = liveObjects?.get(formatRef(r)) ?? 'gone';
        const owner = live.owners?.get(formatRef(r));
        return owner && state !== 'gone' ? { state, helmOwner: owner } : { state };
      });
    },
    async liveReleaseRecord(record) {
      liveRead();
      const pool: KubeObject[] = live.fullReleaseRecords ?? snapshot.releaseRecords.map((o): KubeObject => ({ ...o }));
      return pool.find(
        (o) =>
          o['data'] !== undefined &&
          o.metadata?.namespace === record.namespace &&
          o.metadata?.name === record.objectName &&
          (o.kind ?? 'Secret') === record.storage,
      );
    },
    async liveFinalizedObjects(namespace, types) {
      liveRead();
      return { objects: (snapshot.finalized ?? []).filter((o) => o.namespace === namespace && (!types || types.wanted(o))), unlisted: [] };
    },
    async liveFinalizedObjectsOfType(type) {
      liveRead();
      return (snapshot.finalized ?? []).filter((o) => o.group === type.group && (type.resource === '*' || o.resource === type.resource));
    },
    rememberedControllers: () => snapshot.remembered ?? [],
    async liveServiceAccountGrants() {
      liveRead();
      return snapshot.grants ?? [];
    },
    async liveWorkloads(namespace) {
      liveRead();
      return (live.deployments ?? snapshot.deployments).filter((d) => d.metadata?.namespace === namespace);
    },
    async liveWebhookConfigurations() {
      liveRead();
      return snapshot.webhookConfigurations ?? [];
    },
    async liveApiServices() {
      liveRead();
      return snapshot.apiServices ?? [];
    },
    isNamespaced(apiVersion, kind) {
      return snapshot.namespaced[`${apiVersion}/${kind}`];
    },
    // Snapshot reads answer at once: no deadline can pass during them. With `live.watchCache`, the
    // watch-cache reads answer from it (and count in calls.watchCache); otherwise both are the same.
    forReview(review) {
      if (review.freshness !== 'watch-cache' || !live.watchCache) return this;
      const { watchCache, ...rest } = live;
      return snapshotView({ ...snapshot, ...watchCache }, rest, synced, calls, 'watchCache');
    },
  };
}
