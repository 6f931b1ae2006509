// The read-only view of the cluster that policies consult. Policies never do I/O of their own:
// every fact comes through this interface, which decides between the watch caches (hot path)
// and a bounded live read (rare paths, or to confirm a cache answer that would allow).
import type { KubeObject, ObjectRef, PartialObjectMetadata, ResourceType } from '../k8s/types.ts';
import type { FinalizedObject, NamespaceSweep, RbacRule, ServiceAccountGrant } from '../k8s/rbac.ts';
import type { RememberedController } from '../finalizers/memory.ts';

export type { FinalizedObject, NamespaceSweep, RbacRule, ServiceAccountGrant, RememberedController };

/**
 * Thrown by a view method that cannot answer (cache not synced, live read failed or timed out).
 * The admission engine turns it into an *undecided* outcome, whose meaning is config.
 */
export class UndecidedError extends Error {
  override readonly name = 'UndecidedError';
  readonly kind: UndecidedKind;
  readonly reason: string;
  constructor(kind: UndecidedKind, reason: string, options?: { cause?: unknown }) {
    super(reason, options);
    this.kind = kind;
    this.reason = reason;
  }
}

/**
 * Why a view could not answer; the metric label of an undecided outcome.
 * cache-unsynced: a watch cache has not listed yet; timeout: the review's deadline passed;
 * forbidden: the API server refused the guard's read (RBAC); lookup-failed: a live read failed
 * otherwise (network, 5xx, discovery); decode: a release record or manifest could not be read;
 * internal: the guard's own configuration or code (a type not watched, a bug).
 */
export type UndecidedKind = 'cache-unsynced' | 'timeout' | 'forbidden' | 'lookup-failed' | 'decode' | 'internal';
export const UNDECIDED_KINDS: readonly UndecidedKind[] = ['cache-unsynced', 'timeout', 'forbidden', 'lookup-failed', 'decode', 'internal'];

/**
 * Which types a namespace sweep lists: a policy asks only for the types it could act on (a
 * ServiceAccount may update them, a fail-closed webhook intercepts them), so a cluster with 200
 * CRDs is not listed 200 times per namespace DELETE. `key` names the filter: one sweep per key and
 * namespace within a review.
 */
export interface SweepTypes {
  key: string;
  wanted(type: { group: string; resource: string }): boolean;
}

/** A Helm release record (Secret or ConfigMap `sh.helm.release.v1.NAME.vN`), metadata only. */
export interface ReleaseRecordMeta {
  storage: 'Secret' | 'ConfigMap';
  namespace: string;
  /** Object name, e.g. sh.helm.release.v1.web.v3 */
  objectName: string;
  release: string;
  version: number;
  status: string;
  /**
   * When Helm last wrote the record (its `modifiedAt` label, else `createdAt`; Unix seconds in
   * the label), in ms. Undefined for records written by a Helm that sets neither.
   */
  modifiedAtMs?: number;
  deletionTimestamp?: string;
}

/** The Helm release an object's ownership annotations name (`meta.helm.sh/release-*`). */
export interface HelmOwnerRef {
  name: string;
  namespace: string;
}

export type LiveObjectState = 'exists' | 'gone' | 'deleting';

/** A live object's state, and the release its annotations name when it still exists. */
export interface LiveObject {
  state: LiveObjectState;
  helmOwner?: HelmOwnerRef;
}

/** Read-only: the cluster view may hand the same object to every review. */
export interface NamespaceState {
  readonly name: string;
  /** Set when the namespace is being deleted (Terminating). */
  readonly deletionTimestamp?: string;
  readonly phase?: string;
  readonly labels: Readonly<Record<string, string>>;
}

/**
 * Where a list is served from. `consistent` (no resourceVersion) is as fresh as etcd: since
 * ConsistentListFromCache, kube-apiserver holds it until its watch cache has caught up with
 * etcd's current revision, which right after other writes takes up to one progress-notify period
 * (measured: 50-95 ms on this project's control plane while namespaces terminate, 1-3 ms with
 * resourceVersion=0). `watch-cache` (resourceVersion=0) answers at once from that cache, as stale
 * as its lag. src/ARCHITECTURE.md §3 says which reads may use it.
 */
export type ListFreshness = 'consistent' | 'watch-cache';

/**
 * One review's terms for the live reads it makes, passed explicitly (ClusterView.forReview,
 * PolicyInput.review). `deadline` fires when the review's budget (liveLookup.timeoutMs) is spent or
 * when the API server's request is gone; `freshness` is where lists come from (a first pass reads
 * kube-apiserver's watch cache, policies/confirmedFindings.ts). The engine's `deadline` is a getter
 * that makes the signal on first read: read it when a live read starts, never to copy the terms.
 */
export interface ReviewContext {
  deadline?: AbortSignal;
  freshness: ListFreshness;
}

/**
 * `base` with some members replaced: every other member, optional ones included, is base's own
 * (prototype delegation), so a wrapper states only what it changes.
 */
export function overlayView<T extends ClusterView>(base: ClusterView, overrides: Partial<ClusterView> & Omit<T, keyof ClusterView>): T {
  return Object.assign(Object.create(base) as object, overrides) as T;
}

export interface ClusterView {
  /** True once every watch cache has listed at least once. */
  isSynced(): boolean;

  /** Namespace from the cache; undefined when it does not exist. Throws UndecidedError if unsynced. */
  getNamespace(name: string): NamespaceState | undefined;

  /**
   * Objects of a cached resource type (metadata only), optionally limited to one namespace.
   * The type must be one the view was configured to watch (finalizer registry); otherwise UndecidedError.
   */
  listObjectMeta(type: ResourceType, namespace?: string): PartialObjectMetadata[];

  /** Controller Deployments matching a label selector (full objects: status is needed), optionally of one namespace. */
  listDeployments(labelSelector: string, namespace?: string): KubeObject[];

  /** ClusterRoleBindings whose subjects include the ServiceAccount namespace/name. */
  clusterRoleBindingsFor(serviceAccountNamespace: string, serviceAccountName: string): KubeObject[];
  clusterRoleExists(name: string): boolean;

  /** Release records of release `release` in every namespace, from the cache. */
  releaseRecords(release: string): ReleaseRecordMeta[];

  /** Every release record whose status label says `uninstalling`, from the cache (usually none). */
  uninstallingRecords(): ReleaseRecordMeta[];

  // ---- live reads: bounded by the view's time budget; throw UndecidedError on failure/timeout ----

  /** Live list of release records named `release` in every namespace (metadata only). */
  liveReleaseRecords(release: string): Promise<ReleaseRecordMeta[]>;

  /** Live GET of a Deployment; undefined when it does not exist. */
  liveDeployment(namespace: string, name: string): Promise<KubeObject | undefined>;

  /**
   * Live existence check for many objects, with limited concurrency and the view's time budget.
   * Returns, per input ref in order: 'exists' | 'gone' | 'deleting' (exists with deletionTimestamp).
   * Refs whose kind the API server does not serve count as 'gone'.
   */
  liveObjectsState(refs: ObjectRef[]): Promise<LiveObjectState[]>;

  /** As liveObjectsState, with each existing object's Helm ownership annotations. */
  liveObjects(refs: ObjectRef[]): Promise<LiveObject[]>;

  /**
   * Live GET of one release record, whole (its payload says where the release lives). Undefined
   * when it no longer exists. The payload holds chart values: decode it, never log it.
   */
  liveReleaseRecord(record: Pick<ReleaseRecordMeta, 'storage' | 'namespace' | 'objectName'>): Promise<KubeObject | undefined>;

  // ---- inference of unknown finalizers' controllers (src/ARCHITECTURE.md §1E); views that cannot
  // ---- sweep a namespace leave these out, and inference then stays silent ----

  /**
   * Live: every object in `namespace` that carries a finalizer (one metadata list per namespaced
   * type; only the types `types` wants when given, swept once per review per `types.key`).
   */
  liveFinalizedObjects?(namespace: string, types?: SweepTypes): Promise<NamespaceSweep>;

  /** ServiceAccounts and their rules: every ClusterRoleBinding (cache), and the RoleBindings of `namespace` (live). */
  liveServiceAccountGrants?(namespace: string): Promise<ServiceAccountGrant[]>;

  /** Live: the Deployments, StatefulSets and DaemonSets of `namespace`, whole (status is read). */
  liveWorkloads?(namespace: string): Promise<KubeObject[]>;

  /**
   * Live: every object of one type, in every namespace, that carries a finalizer (metadata only;
   * none when the type is no longer served). Without a version, the preferred one discovery lists;
   * resource `*`: every type of the group.
   */
  liveFinalizedObjectsOfType?(type: { group: string; resource: string; version?: string; kind?: string }): Promise<FinalizedObject[]>;

  /**
   * The controllers remembered for finalizers (finalizers/memory.ts): what inference learned while
   * their RBAC existed. From the cache.
   */
  rememberedControllers?(): readonly RememberedController[];

  /**
   * Every Validating- and MutatingWebhookConfiguration, whole, each with its kind: live, or, for a
   * review's first pass (freshness `watch-cache`), from the view's own watch caches when it has them.
   */
  liveWebhookConfigurations?(): Promise<KubeObject[]>;

  /** Every APIService, whole (spec.service and the Available condition are read); the first pass as above. */
  liveApiServices?(): Promise<KubeObject[]>;

  /** Whether apiVersion/kind is namespaced, from discovery. undefined when unknown to the server. */
  isNamespaced(apiVersion: string, kind: string): boolean | undefined;

  /**
   * The same view with its live reads done for one review: bounded by the review's deadline as well
   * as their own budget (one budget for all of them, however many there are; timeouts then say
   * so), and with the list reads of the namespace-DELETE checks (the sweep, RBAC, APIServices,
   * webhook configurations; never workloads) answered as `review.freshness` says (`watch-cache`:
   * APIServices and webhook configurations from the view's own caches where it keeps them). Views without
   * live reads of their own, or without the choice, may return themselves. A partial view (tests,
   * `check`'s simulation) composes with overlayView rather than forwarding every member.
   */
  forReview(review: ReviewContext): ClusterView;
}

/*
 * The narrow readers: what one kind of check asks of the view. A check takes the one it needs, so
 * what it reads is stated in its signature, and a test or a wrapper supplies only that.
 */

/** Namespaces, from the cache. */
export type NamespaceReader = Pick<ClusterView, 'getNamespace'>;
/** Aggregated APIs (policy apiservice-backends). */
export type ApiServiceReader = Pick<ClusterView, 'liveApiServices'>;
/** Fail-closed webhooks and the objects they hold (policy webhook-backends). */
export type WebhookReader = Pick<ClusterView, 'getNamespace' | 'liveWebhookConfigurations' | 'liveFinalizedObjects' | 'liveObjectsState'>;
/** A guarded finalizer's controller: its Deployments and RBAC from the caches, confirmed live (policies/controllerLiveness.ts). */
export type ControllerReader = Pick<ClusterView, 'getNamespace' | 'listDeployments' | 'clusterRoleBindingsFor' | 'clusterRoleExists' | 'liveDeployment'>;
