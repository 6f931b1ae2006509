// What the caches keep of an object. Metadata caches keep only the fields the policies read, so
// a Helm release record (megabytes of payload), a CSV's spec or its annotations (`alm-examples`
// alone is often tens of KiB, and OLM copies CSVs into every namespace) never stay in memory,
// whatever the server sent. Full caches (namespaces, controller Deployments, ClusterRoleBindings)
// keep the object minus the bookkeeping that only inflates it.
import type { KubeObject, ObjectMeta, PartialObjectMetadata } from '../k8s/types.ts';

/**
 * Annotations never kept: `kubectl apply` stores the whole applied object here, which for a Secret
 * includes its data — exactly the payload the metadata caches exist to avoid holding.
 */
const DROPPED_ANNOTATIONS = new Set(['kubectl.kubernetes.io/last-applied-configuration']);

function copyStringMap(map: unknown, drop?: Set<string>): Record<string, string> | undefined {
  if (map === null || typeof map !== 'object') return undefined;
  const out: Record<string, string> = {};
  let any = false;
  for (const [key, value] of Object.entries(map as Record<string, unknown>)) {
    if (typeof value !== 'string' || drop?.has(key)) continue;
    out[key] = value;
    any = true;
  }
  return any ? out : undefined;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/**
 * The metadata subset a metadata cache keeps; unknown and unneeded fields are dropped. No policy
 * reads the annotations or the uid of a metadata-cached object (records, CSVs, CRDs), so neither
 * is kept: a uid alone is ~50 bytes per object, times every object of the type in the cluster.
 */
export function trimObjectMeta(raw: unknown): ObjectMeta {
  const m = (raw !== null && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
  const meta: ObjectMeta = {};
  const name = str(m['name']);
  if (name !== undefined) meta.name = name;
  const namespace = str(m['namespace']);
  if (namespace !== undefined && namespace !== '') meta.namespace = namespace;
  const resourceVersion = str(m['resourceVersion']);
  if (resourceVersion !== undefined) meta.resourceVersion = resourceVersion;
  const deletionTimestamp = str(m['deletionTimestamp']);
  if (deletionTimestamp !== undefined) meta.deletionTimestamp = deletionTimestamp;
  const labels = copyStringMap(m['labels']);
  if (labels) meta.labels = labels;
  const finalizers = m['finalizers'];
  if (Array.isArray(finalizers)) {
    const kept = finalizers.filter((f): f is string => typeof f === 'string');
    if (kept.length > 0) meta.finalizers = kept;
  }
  return meta;
}

/** Projects any object (full or PartialObjectMetadata) to the PartialObjectMetadata the cache keeps. */
export function toPartialObjectMetadata(raw: unknown): PartialObjectMetadata {
  const obj = (raw !== null && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
  return { apiVersion: 'meta.k8s.io/v1', kind: 'PartialObjectMetadata', metadata: trimObjectMeta(obj['metadata']) };
}

/** A full object without managedFields and the last-applied annotation (both pure bulk for us). */
export function trimFullObject(raw: unknown): KubeObject {
  const obj = { ...((raw !== null && typeof raw === 'object' ? raw : {}) as KubeObject) };
  const metadata = obj.metadata;
  if (metadata && typeof metadata === 'object') {
    const { managedFields: _managedFields, ...rest } = metadata as ObjectMeta & { managedFields?: unknown };
    const annotations = copyStringMap(rest.annotations, DROPPED_ANNOTATIONS);
    if (annotations) rest.annotations = annotations;
    else delete rest.annotations;
    obj.metadata = rest;
  }
  return obj;
}

/**
 * What the namespaces cache keeps of a Namespace: its name, labels (webhook namespaceSelectors),
 * deletionTimestamp and phase; a cluster may have tens of thousands.
 */
export function slimNamespace(ns: KubeObject): KubeObject {
  const { name, resourceVersion, labels, deletionTimestamp } = ns.metadata ?? {};
  const metadata: ObjectMeta = {};
  if (name !== undefined) metadata.name = name;
  if (resourceVersion !== undefined) metadata.resourceVersion = resourceVersion;
  if (labels !== undefined) metadata.labels = labels;
  if (deletionTimestamp !== undefined) metadata.deletionTimestamp = deletionTimestamp;
  const phase = (ns['status'] as { phase?: unknown } | undefined)?.phase;
  return typeof phase === 'string' ? { metadata, status: { phase } } : { metadata };
}

/** Cache key of an object: `namespace/name`, or `name` for cluster-scoped objects. */
export function objectKey(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}
