// Turns a release manifest (the rendered YAML Helm stores) into the objects an uninstall deletes.
import { parseAllDocuments } from 'yaml';

export interface ManifestObject {
  apiVersion: string;
  kind: string;
  name: string;
  /** Only when the template sets metadata.namespace explicitly. */
  explicitNamespace?: string;
  /** `helm.sh/resource-policy: keep`: Helm skips it on uninstall, on purpose. */
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
    collect(value, out);
  }
  return out;
}

function stringMap(value: unknown): Record<string, string> | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) if (typeof v === 'string') out[k] = v;
  return Object.keys(out).length > 0 ? out : undefined;
}

function collect(value: unknown, out: ManifestObject[]): void {
  if (typeof value !== 'object' || value === null) return;
  const obj = value as Record<string, unknown>;
  const kind = obj['kind'];
  const apiVersion = obj['apiVersion'];
  if (typeof kind !== 'string' || typeof apiVersion !== 'string') return;
  // Helm's kube client flattens `kind: *List` documents into their items.
  if (kind.endsWith('List') && Array.isArray(obj['items'])) {
    for (const item of obj['items']) collect(item, out);
    return;
  }
  const meta = (typeof obj['metadata'] === 'object' && obj['metadata'] !== null ? obj['metadata'] : {}) as Record<string, unknown>;
  const name = meta['name'];
  if (typeof name !== 'string' || name === '') return;
  const annotations = (typeof meta['annotations'] === 'object' && meta['annotations'] !== null ? meta['annotations'] : {}) as Record<string, unknown>;
  const namespace = meta['namespace'];
  const entry: ManifestObject = {
    apiVersion, kind, name,
    keep: String(annotations['helm.sh/resource-policy'] ?? '').trim().toLowerCase() === 'keep',
  };
  if (typeof namespace === 'string' && namespace !== '') entry.explicitNamespace = namespace;
  const labels = stringMap(meta['labels']);
  if (labels) entry.labels = labels;
  out.push(entry);
}
