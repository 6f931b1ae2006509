// What a chart renders, read from `helm template --include-crds` output: every object with the
// template it came from, its hook annotations and resource policy, and the summary the corpus
// table shows (CRDs and where they sit, hooks, cluster-scoped objects, objects in other
// namespaces, APIServices, webhooks that fail closed). Pure: the rendering is done by render.ts.
import { parseAllDocuments } from 'yaml';

export interface RenderedObject {
  apiVersion: string;
  kind: string;
  name: string;
  /** metadata.namespace when the template sets one. */
  namespace?: string;
  /** The template path from helm's `# Source:` line, e.g. `kyverno/charts/crds/templates/x.yaml`. */
  source: string;
  /** `helm.sh/hook` events, when it is a hook. */
  hook?: string[];
  /** `helm.sh/hook-delete-policy` values. */
  hookDeletePolicy?: string[];
  /** Carries `helm.sh/resource-policy` (any value: Helm's uninstall leaves it). */
  keep: boolean;
  raw: Record<string, unknown>;
}

export type CrdPlace = 'crds/' | 'templates/' | 'subchart crds/' | 'subchart templates/';

export interface CrdSummary {
  name: string;
  place: CrdPlace;
  keep: boolean;
  scope: 'Namespaced' | 'Cluster';
  group: string;
  kind: string;
}

function meta(o: Record<string, unknown>): Record<string, unknown> {
  const m = o['metadata'];
  return typeof m === 'object' && m !== null ? (m as Record<string, unknown>) : {};
}

function annotations(o: Record<string, unknown>): Record<string, string> {
  const a = meta(o)['annotations'];
  if (typeof a !== 'object' || a === null) return {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(a)) if (typeof v === 'string') out[k] = v;
  return out;
}

const list = (v: string | undefined) =>
  (v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

/** Every object of a `helm template` stream (List documents flattened, as Helm's kube client does). */
export function renderedObjects(stream: string): RenderedObject[] {
  const out: RenderedObject[] = [];
  // helm prints `---\n# Source: PATH\n` before each template's output (pkg/cmd/template.go); a
  // crds/ file that starts with its own `---` makes the comment a document of its own, so the
  // stream is cut at those lines and each piece parsed with the source it names.
  const marks = [...stream.matchAll(/^# Source: (.+)$/gm)];
  const pieces = marks.length
    ? marks.map((m, i) => ({ source: m[1]!, text: stream.slice(m.index + m[0].length, marks[i + 1]?.index ?? stream.length) }))
    : [{ source: '', text: stream }];
  for (const { source, text } of pieces) {
    for (const doc of parseAllDocuments(text, { uniqueKeys: false })) {
      // Not every chart's crds/ file is strict YAML 1.2 (Helm reads them with a Go YAML parser);
      // what the yaml package recovers of such a document is enough for kind, name and annotations.
      collect(doc.toJS({ maxAliasCount: 1000 }) as unknown, source, out, undefined);
    }
  }
  return out;
}

function collect(value: unknown, source: string, out: RenderedObject[], listKeep: boolean | undefined): void {
  if (typeof value !== 'object' || value === null) return;
  const o = value as Record<string, unknown>;
  const kind = o['kind'];
  const apiVersion = o['apiVersion'];
  if (typeof kind !== 'string' || typeof apiVersion !== 'string') return;
  const ann = annotations(o);
  if (kind.endsWith('List') && Array.isArray(o['items'])) {
    for (const item of o['items']) collect(item, source, out, listKeep ?? 'helm.sh/resource-policy' in ann);
    return;
  }
  const m = meta(o);
  const hook = list(ann['helm.sh/hook']);
  const del = list(ann['helm.sh/hook-delete-policy']);
  out.push({
    apiVersion,
    kind,
    name: typeof m['name'] === 'string' ? m['name'] : '',
    ...(typeof m['namespace'] === 'string' && m['namespace'] !== '' ? { namespace: m['namespace'] } : {}),
    source,
    ...(hook.length ? { hook } : {}),
    ...(del.length ? { hookDeletePolicy: del } : {}),
    keep: listKeep ?? 'helm.sh/resource-policy' in ann,
    raw: o,
  });
}

export const groupOf = (apiVersion: string) => (apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.lastIndexOf('/')) : '');

/** Where a CRD document came from: the chart's own crds/ or templates/, or a subchart's. */
export function crdPlace(source: string): CrdPlace {
  // `<chart>/(charts/<sub>/)*(crds|templates)/...`
  const parts = source.split('/');
  let i = 1;
  let sub = false;
  while (parts[i] === 'charts' && i + 2 < parts.length) {
    sub = true;
    i += 2;
  }
  const inCrds = parts[i] === 'crds';
  if (sub) return inCrds ? 'subchart crds/' : 'subchart templates/';
  return inCrds ? 'crds/' : 'templates/';
}

export function crdsOf(objects: readonly RenderedObject[]): CrdSummary[] {
  return objects
    .filter((o) => o.kind === 'CustomResourceDefinition' && groupOf(o.apiVersion) === 'apiextensions.k8s.io')
    .map((o) => {
      const spec = (o.raw['spec'] ?? {}) as { group?: string; scope?: string; names?: { kind?: string } };
      return {
        name: o.name,
        place: crdPlace(o.source),
        keep: o.keep,
        scope: spec.scope === 'Cluster' ? 'Cluster' : 'Namespaced',
        group: spec.group ?? '',
        kind: spec.names?.kind ?? '',
      } satisfies CrdSummary;
    });
}

/** Whether a kind is cluster-scoped: the API server's discovery, and the CRDs of the charts. */
export type ScopeOf = (apiVersion: string, kind: string) => 'Cluster' | 'Namespaced' | undefined;

export interface HookSummary {
  kind: string;
  name: string;
  events: string[];
  deletePolicy: string[];
  /** The first container's image (Job/Pod hooks: what would have to run). */
  image?: string;
}

export interface WebhookSummary {
  configuration: string;
  kind: 'ValidatingWebhookConfiguration' | 'MutatingWebhookConfiguration';
  webhook: string;
  failurePolicy: string;
  /** Resources it intercepts, `group/resource` (`*` kept). */
  resources: string[];
  selectorScoped: boolean;
}

export interface ChartInventory {
  objects: number;
  byKind: Record<string, number>;
  crds: CrdSummary[];
  hooks: HookSummary[];
  /** `Kind/name` of every cluster-scoped object (CRDs included). */
  clusterScoped: string[];
  /** `namespace/Kind/name` of namespaced objects whose template names a namespace other than the release's. */
  otherNamespaces: string[];
  /** Namespace objects the chart creates. */
  namespaces: string[];
  /** Objects carrying helm.sh/resource-policy (not hooks). */
  keep: string[];
  apiServices: Array<{ name: string; service?: string }>;
  webhooks: WebhookSummary[];
  /** Kinds whose scope is known neither by discovery nor by a chart's CRD. */
  unknownKinds: string[];
}

function podSpecImage(o: Record<string, unknown>): string | undefined {
  const spec = o['spec'] as Record<string, unknown> | undefined;
  const podSpec = o['kind'] === 'Pod' ? spec : ((spec?.['template'] as Record<string, unknown> | undefined)?.['spec'] as Record<string, unknown> | undefined);
  const c = (podSpec?.['containers'] as Array<{ image?: string }> | undefined)?.[0];
  return c?.image;
}

function webhooksOf(o: RenderedObject): WebhookSummary[] {
  if (o.kind !== 'ValidatingWebhookConfiguration' && o.kind !== 'MutatingWebhookConfiguration') return [];
  const hooks = (o.raw['webhooks'] ?? []) as Array<{
    name?: string;
    failurePolicy?: string;
    rules?: Array<{ apiGroups?: string[]; resources?: string[] }>;
    objectSelector?: { matchLabels?: object; matchExpressions?: unknown[] };
    namespaceSelector?: { matchLabels?: object; matchExpressions?: unknown[] };
  }>;
  // A selector scopes a webhook only when it selects by a label objects must carry (matchLabels,
  // In, Exists); NotIn and DoesNotExist leave every unlabelled object matched.
  const selects = (s?: { matchLabels?: object; matchExpressions?: unknown[] }) =>
    Boolean(
      s &&
      (Object.keys(s.matchLabels ?? {}).length > 0 ||
        (s.matchExpressions ?? []).some((e) => ['In', 'Exists'].includes((e as { operator?: string }).operator ?? ''))),
    );
  return hooks.map((w) => ({
    configuration: o.name,
    kind: o.kind as WebhookSummary['kind'],
    webhook: w.name ?? '',
    // admissionregistration.k8s.io/v1 defaults failurePolicy to Fail.
    failurePolicy: w.failurePolicy ?? 'Fail',
    resources: (w.rules ?? []).flatMap((r) => (r.apiGroups ?? ['']).flatMap((g) => (r.resources ?? []).map((res) => `${g}/${res}`))),
    selectorScoped: selects(w.objectSelector) || selects(w.namespaceSelector),
  }));
}

export function inventory(objects: readonly RenderedObject[], releaseNamespace: string, scopeOf: ScopeOf): ChartInventory {
  const byKind: Record<string, number> = {};
  const clusterScoped = new Set<string>();
  const otherNamespaces = new Set<string>();
  const unknownKinds = new Set<string>();
  for (const o of objects) {
    byKind[o.kind] = (byKind[o.kind] ?? 0) + 1;
    const scope = scopeOf(o.apiVersion, o.kind);
    if (scope === undefined) unknownKinds.add(`${o.apiVersion} ${o.kind}`);
    if (scope === 'Cluster') clusterScoped.add(`${o.kind}/${o.name}`);
    else if (o.namespace && o.namespace !== releaseNamespace) otherNamespaces.add(`${o.namespace}/${o.kind}/${o.name}`);
  }
  return {
    objects: objects.length,
    byKind,
    crds: crdsOf(objects),
    hooks: objects
      .filter((o) => o.hook && !o.hook.includes('test') && !o.hook.includes('test-success'))
      .map((o) => ({
        kind: o.kind,
        name: o.name,
        events: o.hook ?? [],
        deletePolicy: o.hookDeletePolicy ?? [],
        ...(podSpecImage(o.raw) ? { image: podSpecImage(o.raw)! } : {}),
      })),
    clusterScoped: [...clusterScoped].sort(),
    otherNamespaces: [...otherNamespaces].sort(),
    namespaces: objects.filter((o) => o.kind === 'Namespace' && o.apiVersion === 'v1').map((o) => o.name),
    keep: objects.filter((o) => o.keep && !o.hook).map((o) => `${o.kind}/${o.name}`),
    apiServices: objects
      .filter((o) => o.kind === 'APIService')
      .map((o) => {
        const svc = (o.raw['spec'] as { service?: { namespace?: string; name?: string } } | undefined)?.service;
        return { name: o.name, ...(svc?.name ? { service: `${svc.namespace ?? ''}/${svc.name}` } : {}) };
      }),
    webhooks: objects.flatMap(webhooksOf),
    unknownKinds: [...unknownKinds].sort(),
  };
}

/**
 * Why a chart cannot share the cluster with other charts' runs, or undefined. An APIService with a
 * Service backend never becomes Available here (no Pod runs), and while it is unavailable the
 * namespace controller finalizes no namespace (src/ARCHITECTURE.md §1D): every other run's namespace
 * deletion would wait for it, and the guard would rightly warn about it. A webhook that fails
 * closed on resources every chart writes (core, apps, batch, or any group) without a selector refuses
 * those writes once its Service has no endpoint.
 */
export function exclusiveReason(inv: ChartInventory): string | undefined {
  const reasons: string[] = [];
  const unavailable = inv.apiServices.filter((a) => a.service);
  if (unavailable.length)
    reasons.push(`APIService ${unavailable.map((a) => a.name).join(', ')} (no backend runs: namespace deletions wait while it is registered)`);
  const generic = inv.webhooks.filter(
    (w) => w.failurePolicy !== 'Ignore' && !w.selectorScoped && w.resources.some((r) => ['*', '', 'apps', 'batch'].includes(r.slice(0, r.indexOf('/')))),
  );
  if (generic.length) reasons.push(`webhooks failing closed on shared resources: ${generic.map((w) => `${w.webhook} (${w.resources.join(', ')})`).join('; ')}`);
  return reasons.length ? reasons.join('; ') : undefined;
}
