// Bounded live reads: the rare look-ups that must not trust the caches (a record purge, or
// confirming an answer that would allow). Each call has one overall deadline and a concurrency
// limit; any failure to get a definite answer is an UndecidedError, never a guess.
import type { KubeObject, ObjectRef, PartialObjectMetadata } from '../k8s/types.ts';
import { formatRef } from '../k8s/types.ts';
import { restPath, type DiscoveredResource, type Discovery } from './discovery.ts';
import { ACCEPT_JSON, ACCEPT_METADATA, ACCEPT_METADATA_LIST, KubeApiError, type KubeHttpClient } from './kubeHttp.ts';
import { trimFullObject } from './objectMeta.ts';
import { finalizerManagers, statusManagers } from '../k8s/managedFields.ts';
import type { FinalizedObject } from '../k8s/rbac.ts';
import { releaseRecordFromMeta, sortReleaseRecords } from './releaseRecords.ts';
import {
  UndecidedError,
  type HelmOwnerRef,
  type LiveObject,
  type LiveObjectState,
  type NamespaceSweep,
  type ListFreshness,
  type ReleaseRecordMeta,
  type ReviewContext,
  type SweepTypes,
} from './view.ts';

export type { LiveObjectState } from './view.ts';

export interface LiveReaderOptions {
  client: KubeHttpClient;
  discovery: Discovery;
  /** Overall budget of one call, all its requests included. */
  timeoutMs: number;
  /** Requests in flight at once within one call. */
  concurrency: number;
  /**
   * Told the first time the API server refuses (401, 403) a read: a type a namespace sweep may not
   * list, or a live call. What the guard's RBAC leaves out (docs/SECURITY.md, "Threat model"): the
   * policies that read through it stay silent about it. At most FORBIDDEN_REPORTS distinct reads.
   */
  onForbidden?: (what: string) => void;
}

/** Distinct refused reads reported through onForbidden; later ones are only counted. */
export const FORBIDDEN_REPORTS = 50;

export interface LiveReadCounters {
  calls: number;
  /** Calls that ended in UndecidedError (timeouts included). */
  failures: number;
  timeouts: number;
  /** Reads the API server refused (401, 403): a call, or one type of a namespace sweep. */
  forbidden: number;
}

/** A Helm label value: what `name=<release>` may contain without breaking the selector. */
const LABEL_VALUE = /^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$/;

export type { ListFreshness } from './view.ts';

/** Outside any review: no deadline but each call's own budget, lists as fresh as etcd. */
const CONSISTENT: ReviewContext = { freshness: 'consistent' };

class DeadlineExceeded extends Error {
  override readonly name = 'DeadlineExceeded';
}

/** What stops a call's requests still in flight once it has its answer: one object, not a DOMException per call. */
const CALL_ENDED = new Error('the live read has its answer');

interface ListPage {
  metadata?: { continue?: string };
  items?: unknown[];
}

/** A sweep of every type (no SweepTypes given). */
const EVERY_TYPE: SweepTypes = { key: '*', wanted: () => true };

export class LiveReader {
  private readonly options: LiveReaderOptions;
  private readonly counters: LiveReadCounters = { calls: 0, failures: 0, timeouts: 0, forbidden: 0 };
  private readonly reportedForbidden = new Set<string>();
  /** The types each SweepTypes object selects, per discovery map (see typesToSweep). */
  private readonly sweptTypes = new WeakMap<readonly DiscoveredResource[], WeakMap<SweepTypes, readonly DiscoveredResource[]>>();

  constructor(options: LiveReaderOptions) {
    this.options = options;
  }

  stats(): LiveReadCounters {
    return { ...this.counters };
  }

  private noteForbidden(what: string): void {
    this.counters.forbidden++;
    if (this.reportedForbidden.has(what) || this.reportedForbidden.size >= FORBIDDEN_REPORTS) return;
    this.reportedForbidden.add(what);
    this.options.onForbidden?.(what);
  }

  /** Every record of `release` in every namespace, from one label-selected list per storage kind. */
  releaseRecords(release: string, review: ReviewContext = CONSISTENT): Promise<ReleaseRecordMeta[]> {
    return this.bounded(
      `live list of Helm release records of "${release}"`,
      async (signal) => {
        // A name that cannot be a label value cannot be on any record Helm wrote.
        if (!LABEL_VALUE.test(release)) return [];
        const selector = `owner=helm,name=${release}`;
        const storages = [
          { storage: 'Secret' as const, path: '/api/v1/secrets' },
          { storage: 'ConfigMap' as const, path: '/api/v1/configmaps' },
        ];
        const perStorage = await Promise.all(
          storages.map(async ({ storage, path }) => {
            const records: ReleaseRecordMeta[] = [];
            let continueToken: string | undefined;
            do {
              const page = await this.options.client.getJson<ListPage>({
                path,
                accept: ACCEPT_METADATA_LIST,
                signal,
                query: { labelSelector: selector, limit: 500, continue: continueToken },
              });
              for (const item of page.items ?? []) {
                const record = releaseRecordFromMeta(storage, item as PartialObjectMetadata);
                if (record && record.release === release) records.push(record);
              }
              continueToken = page.metadata?.continue || undefined;
            } while (continueToken);
            return records;
          }),
        );
        return sortReleaseRecords(perStorage.flat());
      },
      review.deadline,
    );
  }

  /** One Deployment, whole (its status is the point); undefined when it does not exist. */
  deployment(namespace: string, name: string, review: ReviewContext = CONSISTENT): Promise<KubeObject | undefined> {
    return this.bounded(
      `live read of Deployment ${namespace}/${name}`,
      async (signal) => {
        try {
          const obj = await this.options.client.getJson<KubeObject>({
            path: restPath({ group: 'apps', version: 'v1', resource: 'deployments', namespaced: true }, namespace, name),
            accept: ACCEPT_JSON,
            signal,
          });
          return trimFullObject(obj);
        } catch (err) {
          if (err instanceof KubeApiError && err.statusCode === 404) return undefined;
          throw err;
        }
      },
      review.deadline,
    );
  }

  /**
   * Per ref, in order: 'exists', 'deleting' (deletionTimestamp set) or 'gone' (404, or a kind the
   * server does not serve). A namespaced ref without a namespace is the caller's bug: undecided.
   */
  async objectsState(refs: readonly ObjectRef[], review: ReviewContext = CONSISTENT): Promise<LiveObjectState[]> {
    return (await this.objects(refs, review)).map((o) => o.state);
  }

  /** As objectsState, with the Helm release each existing object's annotations name. */
  objects(refs: readonly ObjectRef[], review: ReviewContext = CONSISTENT): Promise<LiveObject[]> {
    return this.bounded(
      `live existence check of ${refs.length} object(s)`,
      async (signal) => {
        const resolved = await this.resolveKinds(refs, signal);
        const found = new Array<LiveObject>(refs.length);
        await forEachLimited(refs.length, this.options.concurrency, signal, async (i) => {
          const ref = refs[i] as ObjectRef;
          const resource = resolved.get(kindKey(ref));
          if (!resource) {
            found[i] = { state: 'gone' };
            return;
          }
          if (resource.namespaced && !ref.namespace) {
            throw new UndecidedError('internal', `${formatRef(ref)} is namespaced but the reference names no namespace`);
          }
          try {
            const obj = await this.options.client.getJson<PartialObjectMetadata>({
              path: restPath(resource, ref.namespace, ref.name),
              accept: ACCEPT_METADATA,
              signal,
            });
            const entry: LiveObject = { state: obj.metadata?.deletionTimestamp ? 'deleting' : 'exists' };
            const owner = helmOwnerOf(obj);
            if (owner) entry.helmOwner = owner;
            found[i] = entry;
          } catch (err) {
            if (err instanceof KubeApiError && err.statusCode === 404) found[i] = { state: 'gone' };
            else throw err;
          }
        });
        return found;
      },
      review.deadline,
    );
  }

  /** One release record, whole; undefined when it no longer exists. Never logged: it holds chart values. */
  releaseRecord(record: Pick<ReleaseRecordMeta, 'storage' | 'namespace' | 'objectName'>, review: ReviewContext = CONSISTENT): Promise<KubeObject | undefined> {
    const resource = record.storage === 'Secret' ? 'secrets' : 'configmaps';
    return this.bounded(
      `live read of release record ${record.namespace}/${record.objectName}`,
      async (signal) => {
        try {
          return await this.options.client.getJson<KubeObject>({
            path: restPath({ group: '', version: 'v1', resource, namespaced: true }, record.namespace, record.objectName),
            accept: ACCEPT_JSON,
            signal,
          });
        } catch (err) {
          if (err instanceof KubeApiError && err.statusCode === 404) return undefined;
          throw err;
        }
      },
      review.deadline,
    );
  }

  /**
   * Every object of `namespace` that carries a finalizer: one metadata-only list per namespaced
   * type discovery knows (Events excluded: they never carry one). A type the guard may not list
   * (403) is reported, not fatal; a type that cannot be listed (404, 405) holds nothing to find.
   */
  finalizedObjects(namespace: string, types?: SweepTypes, review: ReviewContext = CONSISTENT): Promise<NamespaceSweep> {
    // Known at once to list nothing (no type the caller wants is served, and discovery is current):
    // no call, no deadline. The usual namespace DELETE where no controller may update a type.
    const { discovery } = this.options;
    if (types && discovery.isFresh()) {
      const discovered = discovery.namespacedResources();
      if (discovered.length > 0 && this.typesToSweep(discovered, types).length === 0) return Promise.resolve({ objects: [], unlisted: [] });
    }
    return this.bounded(
      `sweep of namespace ${namespace} for finalizers`,
      async (signal) => {
        // A CRD created since the last refresh must be swept too: wait (within the budget) for the
        // refresh its creation started. If that fails, the last map is swept; what it misses is silence.
        await this.options.discovery.fresh(signal);
        const discovered = this.options.discovery.namespacedResources();
        if (discovered.length === 0) throw new UndecidedError('lookup-failed', 'API discovery has not loaded yet');
        const wanted = this.typesToSweep(discovered, types ?? EVERY_TYPE);
        const sweep: NamespaceSweep = { objects: [], unlisted: [] };
        await forEachLimited(wanted.length, this.options.concurrency, signal, async (i) => {
          const type = wanted[i] as DiscoveredResource;
          try {
            for (const item of await this.listAll<PartialObjectMetadata>(restPath(type, namespace), ACCEPT_METADATA_LIST, signal, review.freshness)) {
              const found = finalizedObject(type, item);
              if (found) sweep.objects.push(found);
            }
          } catch (err) {
            if (!(err instanceof KubeApiError)) throw err;
            if (err.statusCode === 403) {
              const name = type.group === '' ? type.resource : `${type.resource}.${type.group}`;
              sweep.unlisted.push(name);
              this.noteForbidden(`list of ${name} (namespace sweep)`);
            } else if (err.statusCode !== 404 && err.statusCode !== 405) throw err;
          }
        });
        return sweep;
      },
      review.deadline,
    );
  }

  /**
   * The types of `discovered` a sweep for `types` lists (never Events: they carry no finalizer).
   * Worked out once per discovery map and SweepTypes object: a policy that hands over the same
   * object review after review (its inputs unchanged) does not filter the cluster's types again,
   * which was a tenth of a namespace DELETE's CPU in a profile.
   */
  private typesToSweep(discovered: readonly DiscoveredResource[], types: SweepTypes): readonly DiscoveredResource[] {
    let byTypes = this.sweptTypes.get(discovered);
    if (!byTypes) {
      byTypes = new WeakMap();
      this.sweptTypes.set(discovered, byTypes);
    }
    let wanted = byTypes.get(types);
    if (!wanted) {
      wanted = discovered.filter((r) => r.resource !== 'events' && types.wanted(r));
      byTypes.set(types, wanted);
    }
    return wanted;
  }

  /**
   * Every object of one type, in every namespace, that carries a finalizer (metadata only): what a
   * CRD's deletion would delete, or what a controller being removed leaves behind.
   */
  finalizedObjectsOfType(
    wanted: { group: string; resource: string; version?: string; kind?: string },
    review: ReviewContext = CONSISTENT,
  ): Promise<FinalizedObject[]> {
    const name = wanted.group === '' ? wanted.resource : `${wanted.resource}.${wanted.group}`;
    return this.bounded(
      `list of ${name} for finalizers`,
      async (signal) => {
        let types: Array<Pick<DiscoveredResource, 'group' | 'version' | 'resource' | 'kind'>>;
        if (wanted.version && wanted.kind) types = [{ ...wanted, version: wanted.version, kind: wanted.kind }];
        else {
          await this.options.discovery.fresh(signal);
          // `*`: every type of the group (a grant of resources ["*"] in a named group).
          types =
            wanted.resource === '*'
              ? this.options.discovery.groupResources(wanted.group)
              : [this.options.discovery.byResource(wanted.group, wanted.resource)].flatMap((t) => t ?? []);
        }
        // Not served (its CRD is gone): nothing of it exists.
        const lists = await Promise.all(
          types.map(async (type) => {
            try {
              const items = await this.listAll<PartialObjectMetadata>(
                restPath({ ...type, namespaced: false }, undefined),
                ACCEPT_METADATA_LIST,
                signal,
                review.freshness,
              );
              return items.flatMap((item) => finalizedObject(type, item) ?? []);
            } catch (err) {
              if (err instanceof KubeApiError && (err.statusCode === 404 || err.statusCode === 405)) return [];
              throw err;
            }
          }),
        );
        return lists.flat();
      },
      review.deadline,
    );
  }

  /** The RoleBindings and Roles of one namespace, whole. */
  namespaceRbac(namespace: string, review: ReviewContext = CONSISTENT): Promise<{ roleBindings: KubeObject[]; roles: KubeObject[] }> {
    const rbac = (resource: string) => restPath({ group: 'rbac.authorization.k8s.io', version: 'v1', resource, namespaced: true }, namespace);
    return this.bounded(
      `live list of RoleBindings and Roles in ${namespace}`,
      async (signal) => {
        const [roleBindings, roles] = await Promise.all([
          this.listAll<KubeObject>(rbac('rolebindings'), ACCEPT_JSON, signal, review.freshness),
          this.listAll<KubeObject>(rbac('roles'), ACCEPT_JSON, signal, review.freshness),
        ]);
        return { roleBindings: roleBindings.map(trimFullObject), roles: roles.map(trimFullObject) };
      },
      review.deadline,
    );
  }

  /**
   * The Deployments, StatefulSets and DaemonSets of one namespace, whole. Always consistent,
   * whatever the review's freshness: whether a controller still runs is an answer that allows.
   */
  workloads(namespace: string, review: ReviewContext = CONSISTENT): Promise<KubeObject[]> {
    return this.bounded(
      `live list of workloads in ${namespace}`,
      async (signal) => {
        const lists = await Promise.all(
          (['deployments', 'statefulsets', 'daemonsets'] as const).map(async (resource) => {
            const items = await this.listAll<KubeObject>(
              restPath({ group: 'apps', version: 'v1', resource, namespaced: true }, namespace),
              ACCEPT_JSON,
              signal,
            );
            const kind = resource === 'deployments' ? 'Deployment' : resource === 'statefulsets' ? 'StatefulSet' : 'DaemonSet';
            return items.map((o) => ({ ...trimFullObject(o), apiVersion: 'apps/v1', kind }));
          }),
        );
        return lists.flat();
      },
      review.deadline,
    );
  }

  /** Every Validating- and MutatingWebhookConfiguration, whole (list items carry no kind: it is set). */
  webhookConfigurations(review: ReviewContext = CONSISTENT): Promise<KubeObject[]> {
    return this.bounded(
      'live list of webhook configurations',
      async (signal) => {
        const lists = await Promise.all(
          (['ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration'] as const).map(async (kind) => {
            const items = await this.listAll<KubeObject>(`/apis/admissionregistration.k8s.io/v1/${kind.toLowerCase()}s`, ACCEPT_JSON, signal, review.freshness);
            return items.map((o) => ({ ...trimFullObject(o), apiVersion: 'admissionregistration.k8s.io/v1', kind }));
          }),
        );
        return lists.flat();
      },
      review.deadline,
    );
  }

  /** Every APIService, whole. */
  apiServices(review: ReviewContext = CONSISTENT): Promise<KubeObject[]> {
    return this.bounded(
      'live list of APIServices',
      async (signal) =>
        (await this.listAll<KubeObject>('/apis/apiregistration.k8s.io/v1/apiservices', ACCEPT_JSON, signal, review.freshness)).map(trimFullObject),
      review.deadline,
    );
  }

  /** Every item of a collection, page by page (500 a page; the watch cache may answer in one). */
  private async listAll<T>(path: string, accept: string, signal: AbortSignal, from: ListFreshness = 'consistent'): Promise<T[]> {
    const items: T[] = [];
    let continueToken: string | undefined;
    do {
      // A continue token carries its own resourceVersion: resourceVersion=0 goes on the first page only.
      const resourceVersion = from === 'watch-cache' && continueToken === undefined ? '0' : undefined;
      const page = await this.options.client.getJson<ListPage>({ path, accept, signal, query: { limit: 500, continue: continueToken, resourceVersion } });
      for (const item of page.items ?? []) items.push(item as T);
      continueToken = page.metadata?.continue || undefined;
    } while (continueToken);
    return items;
  }

  /** Maps each distinct apiVersion/kind to its resource, refreshing discovery at most once on a miss. */
  private async resolveKinds(refs: readonly ObjectRef[], signal: AbortSignal): Promise<Map<string, DiscoveredResource>> {
    const { discovery } = this.options;
    const resolved = new Map<string, DiscoveredResource>();
    const missing: ObjectRef[] = [];
    for (const ref of refs) {
      const key = kindKey(ref);
      if (resolved.has(key)) continue;
      const found = discovery.lookup(ref.apiVersion, ref.kind);
      if (found) resolved.set(key, found);
      else missing.push(ref);
    }
    if (missing.length > 0 || !discovery.isLoaded()) {
      const refreshing = discovery.isLoaded() ? discovery.refreshIfDue() : discovery.refresh();
      if (refreshing) {
        const ok = await raceAbort(refreshing, signal);
        // Without a successful refresh a miss could be a kind added since the last one: unknown, not gone.
        if (!ok) throw new UndecidedError('lookup-failed', `API discovery failed: ${discovery.status().lastError ?? 'unknown error'}`);
      }
      for (const ref of missing) {
        const found = discovery.lookup(ref.apiVersion, ref.kind);
        if (found) resolved.set(kindKey(ref), found);
      }
    }
    return resolved;
  }

  /**
   * Runs `work` under the call's own budget and the review's deadline (when given), and maps every
   * failure to an UndecidedError of the right kind.
   */
  private async bounded<T>(what: string, work: (signal: AbortSignal) => Promise<T>, reviewDeadline?: AbortSignal): Promise<T> {
    this.counters.calls++;
    const { timeoutMs } = this.options;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new DeadlineExceeded(`${what} timed out after ${timeoutMs} ms`)), timeoutMs);
    const onReviewDeadline = (): void => controller.abort(new DeadlineExceeded(`the review's live-lookup budget ran out during the ${what}`));
    if (reviewDeadline?.aborted) onReviewDeadline();
    else reviewDeadline?.addEventListener('abort', onReviewDeadline, { once: true });
    try {
      // A review whose budget is already spent sends nothing more.
      if (controller.signal.aborted) throw controller.signal.reason as Error;
      return await raceAbort(work(controller.signal), controller.signal);
    } catch (err) {
      this.counters.failures++;
      if (controller.signal.reason instanceof DeadlineExceeded) {
        this.counters.timeouts++;
        throw new UndecidedError('timeout', controller.signal.reason.message, { cause: err });
      }
      if (err instanceof UndecidedError) throw err;
      const detail = err instanceof KubeApiError ? err.message : err instanceof Error ? err.message : String(err);
      const kind = err instanceof KubeApiError && (err.statusCode === 401 || err.statusCode === 403) ? 'forbidden' : 'lookup-failed';
      if (kind === 'forbidden') this.noteForbidden(what);
      throw new UndecidedError(kind, `${what} failed: ${detail}`, { cause: err });
    } finally {
      clearTimeout(timer);
      reviewDeadline?.removeEventListener('abort', onReviewDeadline);
      // Stop whatever is still in flight (other workers after one failed).
      controller.abort(CALL_ENDED);
    }
  }
}

/** The release an object's `meta.helm.sh/release-*` annotations name, when both are set. */
/**
 * A listed object that carries finalizers, with who wrote its status and its finalizers (the
 * managedFields of a metadata list are read here and never kept); undefined without finalizers.
 */
export function finalizedObject(
  type: Pick<DiscoveredResource, 'group' | 'version' | 'resource' | 'kind'>,
  item: PartialObjectMetadata & { metadata?: { managedFields?: unknown } },
): FinalizedObject | undefined {
  const finalizers = item.metadata?.finalizers ?? [];
  if (finalizers.length === 0 || !item.metadata?.name) return undefined;
  const { group, version, resource, kind } = type;
  const found: FinalizedObject = {
    group,
    version,
    resource,
    kind,
    namespace: item.metadata.namespace ?? '',
    name: item.metadata.name,
    finalizers: [...finalizers],
  };
  if (item.metadata.deletionTimestamp) found.deletionTimestamp = item.metadata.deletionTimestamp;
  const managedFields = item.metadata.managedFields;
  if (Array.isArray(managedFields) && managedFields.length > 0) {
    found.statusManagers = statusManagers(managedFields);
    found.finalizerManagers = Object.fromEntries(finalizers.map((f) => [f, finalizerManagers(managedFields, f)]));
  }
  return found;
}

export function helmOwnerOf(obj: PartialObjectMetadata): HelmOwnerRef | undefined {
  const name = obj.metadata?.annotations?.['meta.helm.sh/release-name'];
  const namespace = obj.metadata?.annotations?.['meta.helm.sh/release-namespace'];
  return name && namespace ? { name, namespace } : undefined;
}

function kindKey(ref: Pick<ObjectRef, 'apiVersion' | 'kind'>): string {
  return `${ref.apiVersion}\n${ref.kind}`;
}

/** Settles with `promise`, or rejects with the signal's reason as soon as it aborts. */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err as Error);
      },
    );
  });
}

/** Calls `task(i)` for i in [0, count) with at most `limit` running; the first failure stops the rest. */
export async function forEachLimited(count: number, limit: number, signal: AbortSignal, task: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && !signal.aborted && next < count) {
      const index = next++;
      try {
        await task(index);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  const workers = Array.from({ length: Math.max(1, Math.min(limit, count)) }, () => worker());
  await Promise.all(workers);
  if (signal.aborted) throw signal.reason as Error;
}
