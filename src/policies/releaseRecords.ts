// Small facts about sets of release records, shared by both policies.
import type { ReleaseRecordMeta } from '../cluster/view.ts';

/** The highest-version record of the release in `namespace` (Helm's "latest"), ignoring ones being deleted. */
export function latestRecord(records: ReleaseRecordMeta[], namespace: string): ReleaseRecordMeta | undefined {
  let latest: ReleaseRecordMeta | undefined;
  for (const r of records) {
    if (r.namespace !== namespace || r.deletionTimestamp) continue;
    if (!latest || r.version > latest.version) latest = r;
  }
  return latest;
}

/** Latest record per namespace. */
export function latestByNamespace(records: ReleaseRecordMeta[]): Map<string, ReleaseRecordMeta> {
  const out = new Map<string, ReleaseRecordMeta>();
  for (const r of records) {
    if (r.deletionTimestamp) continue;
    const cur = out.get(r.namespace);
    if (!cur || r.version > cur.version) out.set(r.namespace, r);
  }
  return out;
}
