// Fills the loopback control plane with the benchmark's cluster: namespaces, OLM CSVs (most of
// them copies), Helm release records with a realistic small payload, and olm-operator-like
// Deployments that the real deployment controller reports Available. Objects are created with
// parallel requests (bounded concurrency, retries on transient errors, progress lines), and the
// whole phase has a deadline.
//
// Layout at scale 1 (every count scales with --scale, Deployments included, minimum 1):
//   tgb-op-NNNN    1,000 namespaces, each with 2 non-copied CSVs carrying operators.coreos.com/csv-cleanup
//   tgb-olm-NNN      200 namespaces, each with Deployment olm-operator (app=olm-operator, Available),
//                        its ServiceAccount and a ClusterRoleBinding to ClusterRole tgb-olm-operator
//   tgb-app-NNNNN  8,800 namespaces: the first 10 % hold no CSV, the rest hold the 18,000 copied CSVs
//                        (label olm.copiedFrom); 12,500 Helm releases x 4 record versions = 50,000 Secrets
//   helm-test, default,  the releases named web the captured AdmissionReview fixtures are about:
//   helm-sdk               default/web deployed, its objects present; helm-test/web at the end of a
//                          correct `helm uninstall -n helm-test` (objects deleted, record
//                          `uninstalling` until the purge: the helm-owned and record-purge bodies);
//                          helm-sdk/web being uninstalled by a Helm SDK program whose kube client
//                          deletes in `default` (incident B, scenario S3: its objects untouched, its
//                          DELETE of default/web-app is the helm-cross body). See FIXTURE_RELEASES.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { parseAllDocuments } from 'yaml';
import { kubeClient, type KubeClient, type KubeResponse } from '../cluster/kubeClient.ts';
import type { ControlPlane } from '../cluster/controlPlane.ts';
import { applyOlmCrds } from '../cluster/olm.ts';

export const CSV_CLEANUP = 'operators.coreos.com/csv-cleanup';
export const COPIED_FROM = 'olm.copiedFrom';
export const OLM_SELECTOR = 'app=olm-operator';

export interface Layout {
  opNamespaces: number;
  csvsPerOpNamespace: number;
  olmNamespaces: number;
  appNamespaces: number;
  /** App namespaces [0, emptyAppNamespaces) hold no CSV. */
  emptyAppNamespaces: number;
  copiedCsvs: number;
  releases: number;
  versionsPerRelease: number;
}

export function layoutFor(scale: number): Layout {
  const n = (v: number): number => Math.max(1, Math.round(v * scale));
  const appNamespaces = n(8800);
  return {
    opNamespaces: n(1000),
    csvsPerOpNamespace: 2,
    olmNamespaces: n(200),
    appNamespaces,
    emptyAppNamespaces: Math.max(1, Math.round(appNamespaces * 0.1)),
    copiedCsvs: n(18_000),
    releases: n(12_500),
    versionsPerRelease: 4,
  };
}

export function totals(l: Layout): { namespaces: number; csvs: number; copiedCsvs: number; records: number; deployments: number } {
  return {
    namespaces: l.opNamespaces + l.olmNamespaces + l.appNamespaces + FIXTURE_NAMESPACES.length,
    csvs: l.opNamespaces * l.csvsPerOpNamespace + l.copiedCsvs,
    copiedCsvs: l.copiedCsvs,
    records: l.releases * l.versionsPerRelease + FIXTURE_RELEASES.length, // + the fixtures' web records
    deployments: l.olmNamespaces,
  };
}

const pad = (i: number, width: number): string => String(i).padStart(width, '0');
export const opNamespace = (i: number): string => `tgb-op-${pad(i, 4)}`;
export const olmNamespace = (i: number): string => `tgb-olm-${pad(i, 3)}`;
export const appNamespace = (i: number): string => `tgb-app-${pad(i, 5)}`;
const opCsvName = (i: number, j: number): string => `bench-operator-${pad(i, 4)}-${j}.v1.${j}.0`;

// ---- object builders ----

function namespace(name: string, labels: Record<string, string> = {}): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } };
}

const CSV_DESCRIPTION =
  'Bench Operator manages the lifecycle of BenchDatabase clusters: provisioning, scaling, backups to object storage, ' +
  'point-in-time recovery, rolling upgrades and TLS rotation. It watches BenchDatabase and BenchBackup resources in the ' +
  'namespaces its OperatorGroup targets and reconciles StatefulSets, Services, PodDisruptionBudgets and Secrets for them. ' +
  'This text stands in for the several kilobytes of Markdown real CSVs carry in spec.description.';

function csv(name: string, ns: string, copiedFrom: string | undefined): Record<string, unknown> {
  const labels: Record<string, string> = { [`operators.coreos.com/${name.split('.')[0]}.${copiedFrom ?? ns}`]: '' };
  if (copiedFrom) labels[COPIED_FROM] = copiedFrom;
  const metadata: Record<string, unknown> = {
    name,
    namespace: ns,
    labels,
    annotations: {
      'olm.operatorGroup': 'global-operators',
      'olm.operatorNamespace': copiedFrom ?? ns,
      capabilities: 'Full Lifecycle',
      categories: 'Database',
      containerImage: 'registry.example.com/bench/operator@sha256:' + 'ab'.repeat(32),
      'operators.operatorframework.io/builder': 'operator-sdk-v1.34.1',
    },
  };
  if (!copiedFrom) metadata['finalizers'] = [CSV_CLEANUP];
  return {
    apiVersion: 'operators.coreos.com/v1alpha1',
    kind: 'ClusterServiceVersion',
    metadata,
    spec: {
      displayName: 'Bench Operator',
      description: CSV_DESCRIPTION,
      version: '1.2.0',
      maturity: 'stable',
      keywords: ['database', 'bench', 'operator'],
      provider: { name: 'Bench Inc.' },
      maintainers: [{ name: 'Bench Maintainers', email: 'maintainers@bench.example.com' }],
      links: [{ name: 'Documentation', url: 'https://bench.example.com/docs' }],
      installModes: ['OwnNamespace', 'SingleNamespace', 'MultiNamespace', 'AllNamespaces'].map((type) => ({ type, supported: true })),
      customresourcedefinitions: {
        owned: [
          { name: 'benchdatabases.bench.example.com', version: 'v1', kind: 'BenchDatabase', displayName: 'Bench Database', description: 'A database cluster.' },
        ],
      },
      install: {
        strategy: 'deployment',
        spec: {
          deployments: [
            {
              name: 'bench-operator',
              spec: {
                replicas: 1,
                selector: { matchLabels: { name: 'bench-operator' } },
                template: {
                  metadata: { labels: { name: 'bench-operator' } },
                  spec: {
                    serviceAccountName: 'bench-operator',
                    containers: [{ name: 'operator', image: 'registry.example.com/bench/operator:1.2.0', args: ['--leader-elect'] }],
                  },
                },
              },
            },
          ],
          clusterPermissions: [{ serviceAccountName: 'bench-operator', rules: [{ apiGroups: ['bench.example.com'], resources: ['*'], verbs: ['*'] }] }],
        },
      },
    },
  };
}

function manifestFor(release: string, ns: string): string {
  return [
    '---',
    '# Source: simple-app/templates/configmap.yaml',
    'apiVersion: v1',
    'kind: ConfigMap',
    'metadata:',
    `  name: ${release}-config`,
    '  labels:',
    `    app.kubernetes.io/instance: ${release}`,
    '    app.kubernetes.io/managed-by: Helm',
    'data:',
    '  LOG_LEVEL: info',
    '  FEATURE_FLAGS: "a,b,c"',
    '---',
    '# Source: simple-app/templates/service.yaml',
    'apiVersion: v1',
    'kind: Service',
    'metadata:',
    `  name: ${release}-svc`,
    '  labels:',
    `    app.kubernetes.io/instance: ${release}`,
    'spec:',
    '  type: ClusterIP',
    '  ports:',
    '    - port: 80',
    '      targetPort: http',
    '      protocol: TCP',
    '      name: http',
    '  selector:',
    `    app.kubernetes.io/instance: ${release}`,
    '---',
    '# Source: simple-app/templates/deployment.yaml',
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata:',
    `  name: ${release}-app`,
    '  labels:',
    `    app.kubernetes.io/instance: ${release}`,
    '    app.kubernetes.io/managed-by: Helm',
    'spec:',
    '  replicas: 2',
    '  selector:',
    '    matchLabels:',
    `      app.kubernetes.io/instance: ${release}`,
    '  template:',
    '    metadata:',
    '      labels:',
    `        app.kubernetes.io/instance: ${release}`,
    '    spec:',
    '      containers:',
    '        - name: app',
    '          image: "registry.example.com/simple-app:1.4.2"',
    '          ports:',
    '            - name: http',
    '              containerPort: 8080',
    '          envFrom:',
    '            - configMapRef:',
    `                name: ${release}-config`,
    '          resources:',
    '            requests: { cpu: 50m, memory: 64Mi }',
    '            limits: { memory: 128Mi }',
    '          readinessProbe:',
    '            httpGet: { path: /healthz, port: http }',
    `# namespace ${ns}`,
  ].join('\n');
}

const TEMPLATE_TEXT = Buffer.from(
  'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ include "simple-app.fullname" . }}\n  labels:\n    {{- include "simple-app.labels" . | nindent 4 }}\n' +
    'spec:\n  replicas: {{ .Values.replicaCount }}\n  selector:\n    matchLabels:\n      {{- include "simple-app.selectorLabels" . | nindent 6 }}\n',
).toString('base64');

const POPULATED_AT_S = Math.floor(Date.now() / 1000) - 60;

/** Helm's storage encoding of a release: base64(gzip(JSON)). */
export function helmReleasePayload(release: string, ns: string, version: number, status: string): string {
  const now = new Date(Date.UTC(2026, 0, 1, 0, version)).toISOString();
  const json = {
    name: release,
    info: {
      first_deployed: now,
      last_deployed: now,
      deleted: '',
      description: status === 'superseded' ? 'Upgrade complete' : 'Install complete',
      status,
      notes: '1. Get the application URL by running these commands',
    },
    chart: {
      metadata: { name: 'simple-app', version: '0.3.1', description: 'A simple app chart', apiVersion: 'v2', appVersion: '1.4.2', type: 'application' },
      lock: null,
      templates: [
        { name: 'templates/deployment.yaml', data: TEMPLATE_TEXT },
        { name: 'templates/service.yaml', data: TEMPLATE_TEXT.slice(0, 200) },
        { name: 'templates/configmap.yaml', data: TEMPLATE_TEXT.slice(0, 160) },
      ],
      values: { replicaCount: 2, image: { repository: 'registry.example.com/simple-app', tag: '1.4.2' }, service: { type: 'ClusterIP', port: 80 } },
      schema: null,
      files: [],
    },
    config: { replicaCount: 2, password: randomBytes(8).toString('hex') },
    manifest: manifestFor(release, ns),
    version,
    namespace: ns,
  };
  return gzipSync(Buffer.from(JSON.stringify(json))).toString('base64');
}

export function releaseSecret(release: string, ns: string, version: number, status: string): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'helm.sh/release.v1',
    metadata: {
      name: `sh.helm.release.v1.${release}.v${version}`,
      namespace: ns,
      // Written now: an `uninstalling` record older than staleUninstallingAfterMs (1 h) would read
      // as a failed uninstall and change the helm-cross answers the bench checks.
      labels: { owner: 'helm', name: release, status, version: String(version), modifiedAt: String(POPULATED_AT_S + version) },
    },
    // Secret data is bytes; the API's JSON carries it base64-encoded once more.
    data: { release: Buffer.from(helmReleasePayload(release, ns, version, status)).toString('base64') },
  };
}

// ---- the releases the captured Helm fixtures are about ----

/** Where the Helm SDK program of scenario S3 keeps the release it uninstalls (Init(getter, "helm-sdk")). */
export const SDK_RELEASE_NAMESPACE = 'helm-sdk';

interface FixtureRelease {
  namespace: string;
  /** Status of its (only) record, revision 1. */
  status: string;
  /** Whether the objects `helm install` created are still there. */
  objectsExist: boolean;
}

/**
 * Release `web` three times, in the states the captured bodies need at once. The correct CLI
 * uninstall (helm-test) and the misdirected SDK one (S3) cannot share a namespace: the record-purge
 * body purges helm-test/web with its resources gone (a clean purge), while helm-cross is flagged
 * only while the uninstalling release's own web-app, where a correct uninstall deletes it, still
 * exists (src/policies/helmUninstallNamespace.ts, misdirection). The helm-cross body names only
 * default/web-app, so the S3 release lives in its own namespace.
 */
export const FIXTURE_RELEASES: FixtureRelease[] = [
  { namespace: 'helm-test', status: 'uninstalling', objectsExist: false },
  { namespace: 'default', status: 'deployed', objectsExist: true },
  { namespace: SDK_RELEASE_NAMESPACE, status: 'uninstalling', objectsExist: true },
];
const FIXTURE_RELEASE = 'web';
/** Created by populate (default is the API server's own). */
const FIXTURE_NAMESPACES = ['helm-test', SDK_RELEASE_NAMESPACE];

const RESOURCE_PATHS: Record<string, string> = {
  'v1/ConfigMap': 'api/v1/namespaces/NS/configmaps',
  'v1/Service': 'api/v1/namespaces/NS/services',
  'apps/v1/Deployment': 'apis/apps/v1/namespaces/NS/deployments',
};

/**
 * The objects `helm install RELEASE -n NS` creates from the manifest its record stores: each
 * document in NS, plus the ownership metadata Helm sets on everything it installs (label
 * app.kubernetes.io/managed-by=Helm, annotations meta.helm.sh/release-name and -namespace), which
 * the stored manifest does not carry.
 */
export function releaseObjects(release: string, ns: string): CreateRequest[] {
  return parseAllDocuments(manifestFor(release, ns)).flatMap((doc) => {
    const obj = doc.toJS() as { apiVersion: string; kind: string; metadata: Record<string, unknown> } | null;
    if (!obj) return [];
    const path = RESOURCE_PATHS[`${obj.apiVersion}/${obj.kind}`];
    if (!path) throw new Error(`populate: no path for ${obj.apiVersion} ${obj.kind} in the bench manifest`);
    const meta = obj.metadata;
    meta['namespace'] = ns;
    meta['labels'] = { ...(meta['labels'] as Record<string, string> | undefined), 'app.kubernetes.io/managed-by': 'Helm' };
    meta['annotations'] = {
      ...(meta['annotations'] as Record<string, string> | undefined),
      'meta.helm.sh/release-name': release,
      'meta.helm.sh/release-namespace': ns,
    };
    return [{ method: 'POST' as const, path: `/${path.replace('NS', ns)}`, body: obj }];
  });
}

// ---- bulk creation ----

export interface CreateRequest {
  method: 'POST' | 'PATCH' | 'PUT';
  path: string;
  body: unknown;
  contentType?: string;
}

export interface PopulateOptions {
  scale: number;
  concurrency: number;
  deadlineMs: number;
  log: (line: string) => void;
}

export interface PhaseResult {
  name: string;
  count: number;
  ms: number;
  retries: number;
}
export interface PopulateResult {
  layout: Layout;
  phases: PhaseResult[];
  totalMs: number;
}

const sleep = (msValue: number): Promise<void> => new Promise((r) => setTimeout(r, msValue));

function transient(r: KubeResponse | undefined): boolean {
  return r === undefined || r.status === 429 || r.status >= 500 || r.status === 0;
}

/** Creates `count` objects from `make(i)` with at most `concurrency` requests in flight. */
export async function createMany(
  clients: KubeClient[],
  name: string,
  count: number,
  make: (i: number) => CreateRequest,
  o: { concurrency: number; deadline: number; log: (line: string) => void },
): Promise<PhaseResult> {
  const t0 = Date.now();
  let next = 0;
  let done = 0;
  let retries = 0;
  let lastReport = t0;
  const report = (final = false): void => {
    const now = Date.now();
    if (!final && now - lastReport < 3000) return;
    lastReport = now;
    const rate = done / Math.max(0.001, (now - t0) / 1000);
    o.log(`${name}: ${done}/${count} (${rate.toFixed(0)}/s${retries ? `, ${retries} retries` : ''})${final ? ` in ${((now - t0) / 1000).toFixed(1)}s` : ''}`);
  };
  const worker = async (w: number): Promise<void> => {
    const client = clients[w % clients.length] as KubeClient;
    while (next < count) {
      if (Date.now() > o.deadline) throw new Error(`populate: deadline passed while creating ${name} (${done}/${count})`);
      const i = next++;
      const req = make(i);
      for (let attempt = 0; ; attempt++) {
        let r: KubeResponse | undefined;
        try {
          r = await client.request(req.method, req.path, { body: req.body, ...(req.contentType ? { contentType: req.contentType } : {}), timeoutMs: 30_000 });
        } catch {
          r = undefined;
        }
        if (r && ((r.status >= 200 && r.status < 300) || (req.method === 'POST' && r.status === 409))) break;
        if (!transient(r) || attempt >= 6) {
          throw new Error(`populate: ${req.method} ${req.path} failed: ${r ? `${r.status} ${r.text.slice(0, 300)}` : 'no response'}`);
        }
        retries++;
        await sleep(Math.min(2000, 100 * 2 ** attempt));
      }
      done++;
      report();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(o.concurrency, count)) }, (_, w) => worker(w)));
  report(true);
  return { name, count, ms: Date.now() - t0, retries };
}

export function adminClients(cp: ControlPlane, n: number): KubeClient[] {
  const pki = join(cp.dir, 'pki');
  return Array.from({ length: n }, () => kubeClient({ server: cp.server, caPem: cp.caPem, certFile: join(pki, 'admin.crt'), keyFile: join(pki, 'admin.key') }));
}

/** Marks the olm-operator pods Running/Ready (no kubelet here) until every Deployment is Available. */
async function makeDeploymentsAvailable(cp: ControlPlane, expected: number, deadline: number, log: (l: string) => void): Promise<number> {
  const t0 = Date.now();
  const selector = encodeURIComponent(OLM_SELECTOR);
  for (let round = 0; Date.now() < deadline && round < 600; round++) {
    const pods = await cp.client.get<{
      items: Array<{
        metadata: { name: string; namespace: string };
        spec?: { containers?: Array<{ name: string; image?: string }> };
        status?: { conditions?: Array<{ type: string; status: string }> };
      }>;
    }>(`/api/v1/pods?labelSelector=${selector}`);
    const notReady = (pods?.items ?? []).filter((p) => !p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    for (let i = 0; i < notReady.length; i += 16) {
      await Promise.all(
        notReady.slice(i, i + 16).map((pod) =>
          cp.client.request('PATCH', `/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}/status`, {
            contentType: 'application/merge-patch+json',
            body: {
              status: {
                phase: 'Running',
                startTime: now,
                hostIP: '127.0.0.1',
                conditions: ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready'].map((type) => ({ type, status: 'True', lastTransitionTime: now })),
                containerStatuses: (pod.spec?.containers ?? []).map((c) => ({
                  name: c.name,
                  image: c.image ?? '',
                  imageID: '',
                  ready: true,
                  started: true,
                  restartCount: 0,
                  state: { running: { startedAt: now } },
                })),
              },
            },
          }),
        ),
      );
    }
    const deps = await cp.client.get<{ items: Array<{ status?: { availableReplicas?: number } }> }>(`/apis/apps/v1/deployments?labelSelector=${selector}`);
    const available = (deps?.items ?? []).filter((d) => (d.status?.availableReplicas ?? 0) >= 1).length;
    if (round % 5 === 0 || available >= expected) log(`deployments available: ${available}/${expected} (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
    if (available >= expected) return Date.now() - t0;
    await sleep(1000);
  }
  throw new Error(`populate: olm-operator-like Deployments did not all become Available before the deadline`);
}

export async function populate(cp: ControlPlane, o: PopulateOptions): Promise<PopulateResult> {
  const layout = layoutFor(o.scale);
  const t0 = Date.now();
  const deadline = t0 + o.deadlineMs;
  const clients = adminClients(cp, Math.max(1, Math.ceil(o.concurrency / 8)));
  const run = { concurrency: o.concurrency, deadline, log: (l: string) => o.log(l) };
  const phases: PhaseResult[] = [];
  try {
    const tCrd = Date.now();
    await applyOlmCrds(cp);
    phases.push({ name: 'OLM CRDs', count: 1, ms: Date.now() - tCrd, retries: 0 });
    o.log('OLM CRDs established');

    // Namespaces first (everything else lives in them).
    const nsNames: string[] = [...FIXTURE_NAMESPACES];
    for (let i = 0; i < layout.opNamespaces; i++) nsNames.push(opNamespace(i));
    for (let i = 0; i < layout.olmNamespaces; i++) nsNames.push(olmNamespace(i));
    for (let i = 0; i < layout.appNamespaces; i++) nsNames.push(appNamespace(i));
    phases.push(
      await createMany(
        clients,
        'namespaces',
        nsNames.length,
        (i) => ({ method: 'POST', path: '/api/v1/namespaces', body: namespace(nsNames[i] as string) }),
        run,
      ),
    );

    // Controllers: ClusterRole, then per namespace a ServiceAccount, a ClusterRoleBinding and the Deployment.
    await createMany(
      clients,
      'clusterrole',
      1,
      () => ({
        method: 'POST',
        path: '/apis/rbac.authorization.k8s.io/v1/clusterroles',
        body: {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'ClusterRole',
          metadata: { name: 'tgb-olm-operator' },
          rules: [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }],
        },
      }),
      run,
    );
    const sa = 'olm-operator-serviceaccount';
    await createMany(
      clients,
      'serviceaccounts',
      layout.olmNamespaces,
      (i) => ({
        method: 'POST',
        path: `/api/v1/namespaces/${olmNamespace(i)}/serviceaccounts`,
        body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa, namespace: olmNamespace(i) } },
      }),
      run,
    );
    await createMany(
      clients,
      'clusterrolebindings',
      layout.olmNamespaces,
      (i) => ({
        method: 'POST',
        path: '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings',
        body: {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'ClusterRoleBinding',
          metadata: { name: `tgb-olm-operator-${olmNamespace(i)}` },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'tgb-olm-operator' },
          subjects: [{ kind: 'ServiceAccount', name: sa, namespace: olmNamespace(i) }],
        },
      }),
      run,
    );
    const tDep = Date.now();
    await createMany(
      clients,
      'deployments',
      layout.olmNamespaces,
      (i) => ({
        method: 'POST',
        path: `/apis/apps/v1/namespaces/${olmNamespace(i)}/deployments`,
        body: {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: 'olm-operator', namespace: olmNamespace(i), labels: { app: 'olm-operator' } },
          spec: {
            replicas: 1,
            selector: { matchLabels: { app: 'olm-operator' } },
            template: {
              metadata: { labels: { app: 'olm-operator' } },
              spec: {
                serviceAccountName: sa,
                // Not /bin/olm: nothing here should ever be started by test/cluster/olmSupervisor.ts.
                containers: [
                  {
                    name: 'olm-operator',
                    image: 'quay.io/operator-framework/olm:bench',
                    command: ['/bin/olm-bench-placeholder'],
                    args: ['--namespace', olmNamespace(i)],
                  },
                ],
              },
            },
          },
        },
      }),
      run,
    );
    await makeDeploymentsAvailable(cp, layout.olmNamespaces, deadline, (l) => o.log(l));
    phases.push({ name: 'olm-operator Deployments (+SA, CRB, Available)', count: layout.olmNamespaces, ms: Date.now() - tDep, retries: 0 });

    // CSVs: non-copied (with the finalizer) in the operator namespaces, copies in the app namespaces.
    const csvPath = (ns: string): string => `/apis/operators.coreos.com/v1alpha1/namespaces/${ns}/clusterserviceversions`;
    const opCsvs = layout.opNamespaces * layout.csvsPerOpNamespace;
    const holders = layout.appNamespaces - layout.emptyAppNamespaces;
    phases.push(
      await createMany(
        clients,
        'CSVs',
        opCsvs + layout.copiedCsvs,
        (k) => {
          if (k < opCsvs) {
            const i = Math.floor(k / layout.csvsPerOpNamespace);
            const j = k % layout.csvsPerOpNamespace;
            return { method: 'POST', path: csvPath(opNamespace(i)), body: csv(opCsvName(i, j), opNamespace(i), undefined) };
          }
          const c = k - opCsvs;
          const holder = layout.emptyAppNamespaces + (c % Math.max(1, holders));
          const copyIndex = Math.floor(c / Math.max(1, holders));
          const original = (holder * 3 + copyIndex) % opCsvs;
          const oi = Math.floor(original / layout.csvsPerOpNamespace);
          const oj = original % layout.csvsPerOpNamespace;
          return { method: 'POST', path: csvPath(appNamespace(holder)), body: csv(opCsvName(oi, oj), appNamespace(holder), opNamespace(oi)) };
        },
        run,
      ),
    );

    // Helm release records: versions 1..V-1 superseded, V deployed (every 20th release: failed).
    const V = layout.versionsPerRelease;
    const fixtureRecords = FIXTURE_RELEASES.map((r) => releaseSecret(FIXTURE_RELEASE, r.namespace, 1, r.status));
    phases.push(
      await createMany(
        clients,
        'Helm release records',
        layout.releases * V + fixtureRecords.length,
        (k) => {
          if (k >= layout.releases * V) {
            const body = fixtureRecords[k - layout.releases * V] as { metadata: { namespace: string } };
            return { method: 'POST', path: `/api/v1/namespaces/${body.metadata.namespace}/secrets`, body };
          }
          const r = Math.floor(k / V);
          const version = (k % V) + 1;
          const ns = appNamespace(r % layout.appNamespaces);
          const status = version < V ? 'superseded' : r % 20 === 0 ? 'failed' : 'deployed';
          return { method: 'POST', path: `/api/v1/namespaces/${ns}/secrets`, body: releaseSecret(`app-${pad(r, 5)}`, ns, version, status) };
        },
        run,
      ),
    );

    // The objects helm install created for the fixture releases whose objects are still there.
    const releaseObjectRequests = FIXTURE_RELEASES.filter((r) => r.objectsExist).flatMap((r) => releaseObjects(FIXTURE_RELEASE, r.namespace));
    phases.push(await createMany(clients, 'Helm release objects (web)', releaseObjectRequests.length, (i) => releaseObjectRequests[i] as CreateRequest, run));
  } finally {
    for (const c of clients) c.close();
  }
  return { layout, phases, totalMs: Date.now() - t0 };
}
