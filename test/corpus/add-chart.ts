// Adds a chart to the corpus by its source and version:
//   node test/corpus/add-chart.ts MODULE VERSION CHART_PATH [--id ID] [--dry-run]
// Fetches MODULE@VERSION through the Go module proxy into the cache (chartCache.ts), renders the
// chart at CHART_PATH with the pinned helm 3 and helm 4 (default values), and appends an entry to
// test/corpus/charts.yaml with what the render shows: its hooks (a Job hook's image never runs
// here, so each needs a value that turns it off, a kubectl script the hook runner can run, or a
// stand-in), the webhooks that fail closed and the APIServices it registers. The entry's `upgrade`
// is left empty: choose values that turn one part off and another on (the corpus test fails until
// the upgrade deletes and creates objects). Exits non-zero, writing nothing, when either render fails.
import { appendFileSync, readFileSync } from 'node:fs';
import { stringify as stringifyYaml } from 'yaml';
import { fetchChart } from './chartCache.ts';
import { crdsOf, exclusiveReason, groupOf, inventory, type ChartInventory } from './inventory.ts';
import { loadManifest, MANIFEST_PATH, parseManifest, type CorpusChart } from './manifest.ts';
import { renderChart } from './render.ts';

function usage(): never {
  console.error('usage: node test/corpus/add-chart.ts MODULE VERSION CHART_PATH [--id ID] [--dry-run]');
  process.exit(2);
}

const args = process.argv.slice(2);
const dryRun = args.includes('--dry-run');
const idAt = args.indexOf('--id');
const id = idAt >= 0 ? args[idAt + 1] : undefined;
const [module, version, chart] = args.filter((a, i) => !a.startsWith('--') && (idAt < 0 || i !== idAt + 1));
if (!module || !version || !chart) usage();

const entryId = id ?? chart.split('/').filter(Boolean).at(-1)!.toLowerCase();
if (loadManifest().charts.some((c) => c.id === entryId)) {
  console.error(`${MANIFEST_PATH} already lists a chart with id ${entryId} (pass --id)`);
  process.exit(2);
}

const draft: CorpusChart = { id: entryId, module, version, chart, install: {}, upgrade: {}, hooks: '' };
const dir = await fetchChart(draft);
console.log(`fetched ${module}@${version} ${chart}`);

// Without a cluster the scope of a kind comes from the chart's own CRDs and the built-in
// cluster-scoped kinds of Kubernetes (k8s.io/kubernetes pkg/apis, RESTScopeRoot).
const CLUSTER_KINDS = new Set([
  'Namespace',
  'Node',
  'PersistentVolume',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'APIService',
  'StorageClass',
  'CSIDriver',
  'CSINode',
  'VolumeAttachment',
  'VolumeAttributesClass',
  'IngressClass',
  'PriorityClass',
  'RuntimeClass',
  'ValidatingWebhookConfiguration',
  'MutatingWebhookConfiguration',
  'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding',
  'MutatingAdmissionPolicy',
  'MutatingAdmissionPolicyBinding',
  'FlowSchema',
  'PriorityLevelConfiguration',
  'CertificateSigningRequest',
  'DeviceClass',
  'IPAddress',
  'ServiceCIDR',
]);

const inventories: Record<string, ChartInventory> = {};
let failed = false;
for (const helm of [3, 4] as const) {
  const release = `${entryId}-h${helm}`;
  const namespace = `corpus-${entryId}-h${helm}`;
  const r = await renderChart({ helm, dir, release, namespace, values: {} });
  if (!r.ok) {
    console.error(`helm ${helm}: ${r.error}`);
    failed = true;
    continue;
  }
  const crds = crdsOf(r.objects);
  const scopeOf = (apiVersion: string, kind: string) =>
    crds.find((c) => c.kind === kind && c.group === groupOf(apiVersion))?.scope ?? (CLUSTER_KINDS.has(kind) ? 'Cluster' : 'Namespaced');
  inventories[`helm ${helm}`] = inventory(r.objects, namespace, scopeOf);
}
if (failed) process.exit(1);

const inv = inventories['helm 4']!;
const hooks = inv.hooks.length
  ? `TODO: say how each is handled. Renders ${inv.hooks.map((h) => `${h.events.join(',')} ${h.kind} ${h.name.replace(`${entryId}-h4`, '${release}')}${h.image ? ` (${h.image})` : ''}`).join('; ')}.`
  : 'none.';
const failing = inv.webhooks.filter((w) => w.failurePolicy !== 'Ignore');
const webhooks = [
  failing.length ? `TODO: webhooks failing closed: ${failing.map((w) => `${w.webhook} (${w.resources.join(', ')})`).join('; ')}.` : '',
  inv.apiServices.length ? `APIServices: ${inv.apiServices.map((a) => a.name).join(', ')}.` : '',
]
  .filter(Boolean)
  .join(' ');
const entry: CorpusChart = { ...draft, hooks, ...(webhooks ? { webhooks } : { webhooks: 'none.' }) };
for (const [helm, i] of Object.entries(inventories)) {
  const places = [...new Set(i.crds.map((c) => c.place))];
  console.log(
    `${helm}: ${i.objects} objects, ${i.crds.length} CRDs${places.length ? ` (${places.join(', ')})` : ''}, ${i.hooks.length} hooks, ${i.clusterScoped.length} cluster-scoped, ${i.otherNamespaces.length} in other namespaces${i.namespaces.length ? `, creates namespaces ${i.namespaces.join(', ')}` : ''}`,
  );
}
const exclusive = exclusiveReason(inv);
if (exclusive) console.log(`runs alone: ${exclusive}`);

const text = `\n${stringifyYaml([entry], { lineWidth: 100 })
  .split('\n')
  .map((l) => (l ? `  ${l}` : l))
  .join('\n')}`;
// The entry must keep the manifest valid.
parseManifest(`${readFileSync(MANIFEST_PATH, 'utf8')}${text}`);
if (dryRun) console.log(text);
else {
  appendFileSync(MANIFEST_PATH, text);
  console.log(
    `appended ${entryId} to ${MANIFEST_PATH}; now set its upgrade values (and the TODOs), then run TG_CORPUS_CHARTS=${entryId} npx vitest run test/integration/corpus.test.ts`,
  );
}
