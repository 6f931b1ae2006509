// Turns a release manifest (the rendered YAML Helm stores) into the objects an uninstall deletes.
import { parseAllDocuments } from 'yaml';

type ParsedDocument = { errors: ReadonlyArray<{ message: string }>; toJS(o: { maxAliasCount: number }): unknown };

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
  const docs = splitDocuments(manifest);
  if (!docs) return parseWhole(manifest, limits);
  if (docs.length > limits.maxDocuments) {
    throw new ManifestParseError(`manifest has ${docs.length} documents, over the ${limits.maxDocuments} limit`);
  }
  const out: ManifestObject[] = [];
  for (const text of docs) {
    // What an uninstall needs is each document's apiVersion, kind and metadata: parsing only those
    // spares the rest (a CRD's schema is most of a chart's bytes). Anything the cut cannot read
    // alone (an alias to an anchor elsewhere, a List, flow or odd syntax at the top) is parsed whole.
    const head = documentHead(text);
    const value = (head !== undefined ? parseDocumentText(head, limits, true) : undefined) ?? parseDocumentText(text, limits, false);
    collect(value, out, undefined);
  }
  return out;
}

/** The whole stream at once: the way for manifests the document split does not handle. */
function parseWhole(manifest: string, limits: ManifestLimits): ManifestObject[] {
  const docs = parseAllDocuments(manifest, { uniqueKeys: false });
  if (!Array.isArray(docs)) throw new ManifestParseError('manifest is not a YAML stream');
  if (docs.length > limits.maxDocuments) {
    throw new ManifestParseError(`manifest has ${docs.length} documents, over the ${limits.maxDocuments} limit`);
  }
  const out: ManifestObject[] = [];
  for (const doc of docs) collect(toValue(doc, limits, false), out, undefined);
  return out;
}

/** One document's text parsed; `quiet`: undefined instead of an error (the caller falls back). */
function parseDocumentText(text: string, limits: ManifestLimits, quiet: boolean): unknown {
  const docs = parseAllDocuments(text, { uniqueKeys: false });
  if (!Array.isArray(docs) || docs.length > 1) {
    if (quiet) return undefined;
    throw new ManifestParseError('manifest is not a YAML stream');
  }
  return docs.length === 0 ? null : toValue(docs[0]!, limits, quiet);
}

function toValue(doc: ParsedDocument, limits: ManifestLimits, quiet: boolean): unknown {
  if (doc.errors.length > 0) {
    if (quiet) return undefined;
    throw new ManifestParseError(`manifest YAML error: ${doc.errors[0]?.message ?? 'unknown'}`);
  }
  try {
    return doc.toJS({ maxAliasCount: limits.maxAliasCount });
  } catch (err) {
    if (quiet) return undefined;
    throw new ManifestParseError(`manifest YAML error: ${err instanceof Error ? err.message : String(err)}`);
  }
}

const DOCUMENT_START = /^---(?:[ \t].*)?$/;
/** Stream-level syntax the split leaves to the whole-stream parser: directives and document ends. */
const STREAM_SYNTAX = /^(?:%|\.\.\.(?:[ \t]|$))/m;

/**
 * The documents of a manifest as Helm writes it (`---` lines between rendered templates), or
 * undefined when the stream has syntax the split does not handle.
 */
function splitDocuments(manifest: string): string[] | undefined {
  if (STREAM_SYNTAX.test(manifest)) return undefined;
  const docs: string[] = [];
  let current: string[] = [];
  for (const line of manifest.split('\n')) {
    if (DOCUMENT_START.test(line.replace(/\r$/, ''))) {
      const rest = line.slice(3).trim();
      // `--- !tag` or `--- {…}`: content on the marker line, left to the whole-stream parser.
      if (rest !== '' && !rest.startsWith('#')) return undefined;
      if (current.some((l) => l.trim() !== '' && !l.trimStart().startsWith('#'))) docs.push(current.join('\n'));
      current = [];
      continue;
    }
    current.push(line);
  }
  if (current.some((l) => l.trim() !== '' && !l.trimStart().startsWith('#'))) docs.push(current.join('\n'));
  return docs;
}

const HEAD_KEYS = new Set(['apiVersion', 'kind', 'metadata']);
const TOP_LEVEL_KEY = /^([A-Za-z_][A-Za-z0-9_.-]*)[ \t]*:(?:[ \t]|$)/;

/**
 * A block-mapping document cut to its top-level apiVersion, kind and metadata entries, or
 * undefined when it cannot be cut safely: a top-level line that is not a plain `key:` (flow,
 * quoted or complex keys, a sequence, a scalar document) or a List (its items are the objects).
 */
function documentHead(text: string): string | undefined {
  const kept: string[] = [];
  let keeping = false;
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith(' ') || line.startsWith('\t') || line.startsWith('#') || line === '\r') {
      if (keeping) kept.push(line);
      continue;
    }
    const key = TOP_LEVEL_KEY.exec(line)?.[1];
    if (key === undefined || key === 'items') return undefined;
    keeping = HEAD_KEYS.has(key);
    if (keeping) kept.push(line);
  }
  return kept.join('\n');
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
