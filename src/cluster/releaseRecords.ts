// Helm release records as the caches see them: Secrets/ConfigMaps named sh.helm.release.v1.NAME.vN
// with labels owner=helm, name, status, version. Only metadata is read — never data.release.
import type { KubeObject, ObjectMeta, PartialObjectMetadata } from '../k8s/types.ts';
import { parseReleaseRecordName } from '../helm/recordName.ts';
import type { ReleaseRecordMeta } from './view.ts';

/** Label selector that matches every Helm release record (Helm's storage drivers set it). */
export const HELM_RECORD_SELECTOR = 'owner=helm';

/** The labels releaseRecordFromMeta reads; a record may carry others (`helm install --labels`). */
const RECORD_LABELS = ['owner', 'name', 'status', 'version', 'modifiedAt', 'createdAt'] as const;

/**
 * What the release-record caches keep of a record: its name, namespace, resourceVersion,
 * deletionTimestamp and the labels above, for releaseRecordFromMeta to read as it reads the
 * whole. A cluster holds tens of thousands of records (`helm upgrade` keeps ten revisions by
 * default), so every field kept is paid for that many times.
 */
export function slimReleaseRecordObject(obj: KubeObject): KubeObject & PartialObjectMetadata {
  const { name, namespace, resourceVersion, deletionTimestamp, labels = {} } = obj.metadata ?? {};
  const kept: Record<string, string> = {};
  // The `name` label almost always repeats the release name in the object's name, which
  // releaseRecordFromMeta falls back to: kept only when it says something else.
  const nameSays = name === undefined ? undefined : parseReleaseRecordName(name)?.release;
  for (const key of RECORD_LABELS) {
    const value = labels[key];
    if (value !== undefined && !(key === 'name' && value === nameSays)) kept[key] = value;
  }
  const metadata: ObjectMeta = { labels: kept };
  if (name !== undefined) metadata.name = name;
  if (namespace !== undefined) metadata.namespace = namespace;
  if (resourceVersion !== undefined) metadata.resourceVersion = resourceVersion;
  if (deletionTimestamp !== undefined) metadata.deletionTimestamp = deletionTimestamp;
  return { metadata };
}

/** A label holding a non-negative integer (version, or Unix seconds). */
function parseVersionLabel(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d+$/.test(value)) return undefined;
  const version = Number(value);
  return Number.isSafeInteger(version) ? version : undefined;
}

/**
 * The record an object represents, or undefined if it is not one. Labels win over the object name
 * because Helm itself finds a release's history by label (owner=helm,name=R), not by object name.
 */
export function releaseRecordFromMeta(storage: 'Secret' | 'ConfigMap', obj: PartialObjectMetadata): ReleaseRecordMeta | undefined {
  const { name: objectName, namespace, labels = {}, deletionTimestamp } = obj.metadata;
  if (!objectName || !namespace) return undefined;
  const parsed = parseReleaseRecordName(objectName);
  const release = labels['name'] || parsed?.release;
  const version = parseVersionLabel(labels['version']) ?? parsed?.version;
  if (!release || version === undefined) return undefined;
  const record: ReleaseRecordMeta = { storage, namespace, objectName, release, version, status: labels['status'] || 'unknown' };
  const modifiedAtSeconds = parseVersionLabel(labels['modifiedAt']) ?? parseVersionLabel(labels['createdAt']);
  if (modifiedAtSeconds !== undefined) record.modifiedAtMs = modifiedAtSeconds * 1000;
  if (deletionTimestamp) record.deletionTimestamp = deletionTimestamp;
  return record;
}

/**
 * Records ordered by namespace, then version ascending: stable output for messages and tests.
 * Code-unit order, not localeCompare: namespaces are DNS labels, which sort the same either way,
 * and ICU collation was most of this sort's cost on every Helm-owned DELETE.
 */
export function sortReleaseRecords(records: ReleaseRecordMeta[]): ReleaseRecordMeta[] {
  return records.sort((a, b) => byCodeUnits(a.namespace, b.namespace) || a.version - b.version || byCodeUnits(a.storage, b.storage));
}

function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
