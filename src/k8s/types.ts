// The small slice of Kubernetes object shapes the guard reads. Everything else in an object is
// carried as unknown so nothing is assumed about fields we never look at.

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: Array<{ apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }>;
}

/** meta.k8s.io/v1 PartialObjectMetadata: what the watch caches keep for Secrets, ConfigMaps and CSVs. */
export interface PartialObjectMetadata {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  [field: string]: unknown;
}

/** Names one API resource (group "" is the core group). */
export interface ResourceType {
  group: string;
  version: string;
  /** Lower-case plural, as in the REST path. */
  resource: string;
  kind: string;
  namespaced: boolean;
}

/** One object, as named in findings and messages. */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
}

export function formatRef(ref: ObjectRef): string {
  return ref.namespace ? `${ref.kind} ${ref.namespace}/${ref.name}` : `${ref.kind} ${ref.name}`;
}

export function apiVersionOf(group: string, version: string): string {
  return group === '' ? version : `${group}/${version}`;
}

/** The API group of an apiVersion: "" for the core group (`v1`), `apps` for `apps/v1`. */
export function groupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}
