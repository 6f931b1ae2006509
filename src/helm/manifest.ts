// Turns a release manifest (the rendered YAML Helm stores) into the objects an uninstall deletes.
import { parseAllDocuments } from 'yaml';

export interface ManifestObject {
  apiVersion: string;
  kind: string;
  name: string;
  /** Only when the template sets metadata.namespace explicitly. */
  explicitNamespace?: string;
  /**
   * Helm does not delete it on uninstall: the document carries `helm.sh/resource-policy` with any
   * value (`keep` keeps it; any other value makes Helm's filterManifestsToKeep drop it from both
   * lists). For items of a `kind: List` document the List's own annotation is what counts.
   */
  keep: boolean;
  labels?: Record<string, string>;
}

export interface ManifestLimits {
  maxDocuments: number;
  /** yaml's alias expansion cap: defeats "billion laughs" alias bombs. */
  maxAliasCount: number;
}

export const DEFAULT_MANIFEST_LIMITS: ManifestLimits = { maxDocuments: 5000, maxAliasCount: 100 };

export class ManifestParseError extends Error {
  override readonly name = 'ManifestParseError';
}

export function manifestObjects(manifest: string, limits: ManifestLimits = DEFAULT_MANIFEST_LIMITS): ManifestObject[] {
  const docs = parseAllDocuments(manifest, { uniqueKeys: false });
  if (!Array.isArray(docs)) throw new ManifestParseError('manifest is not a YAML stream');
  if (docs.length > limits.maxDocuments) {
    throw new ManifestParseError(`manifest has ${docs.length} documents, over the ${limits.maxDocuments} limit`);
  }
  const out: ManifestObject[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new ManifestParseError(`manifest YAML error: ${doc.errors[0]?.message ?? 'unknown'}`);
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: limits.maxAliasCount });
    } catch (err) {
      throw new ManifestParseError(`manifest YAML error: ${err instanceof Error ? err.message : String(err)}`);
    }
    collect(value, out, undefined);
  }
  return out;
}

const RESOURCE_POLICY = 'helm.sh/resource-policy';

/** Helm reads the policy from the top-level document's annotations only (its manifest head). */
function headHasResourcePolicy(meta: Record<string, unknown>): boolean {
  const annotations = meta['annotations'];
  return typeof annotations === 'object' && annotations !== null && RESOURCE_POLICY in annotations;
}

function stringMap(value: unknown): Record<string, string> | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) if (typeof v === 'string') out[k] = v;
  return Object.keys(out).length > 0 ? out : undefined;
}

/** `listKeep`: for items of a List, whether the List document itself is skipped by Helm. */
function collect(value: unknown, out: ManifestObject[], listKeep: boolean | undefined): void {
  if (typeof value !== 'object' || value === null) return;
  const obj = value as Record<string, unknown>;
  const kind = obj['kind'];
  const apiVersion = obj['apiVersion'];
  if (typeof kind !== 'string' || typeof apiVersion !== 'string') return;
  const meta = (typeof obj['metadata'] === 'object' && obj['metadata'] !== null ? obj['metadata'] : {}) as Record<string, unknown>;
  // Helm's kube client flattens `kind: *List` documents into their items.
  if (kind.endsWith('List') && Array.isArray(obj['items'])) {
    const keep = listKeep ?? headHasResourcePolicy(meta);
    for (const item of obj['items']) collect(item, out, keep);
    return;
  }
  const name = meta['name'];
  if (typeof name !== 'string' || name === '') return;
  const namespace = meta['namespace'];
  const entry: ManifestObject = { apiVersion, kind, name, keep: listKeep ?? headHasResourcePolicy(meta) };
  if (typeof namespace === 'string' && namespace !== '') entry.explicitNamespace = namespace;
  const labels = stringMap(meta['labels']);
  if (labels) entry.labels = labels;
  out.push(entry);
}
