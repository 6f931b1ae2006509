// manifests/ against the real kube-apiserver of the loopback control plane:
//   1. every kustomization (base, each overlay, each component on top of the self-signed overlay)
//      rendered with `kubectl kustomize` and validated by a server-side dry-run apply with strict
//      field validation: schema, defaulting, admission and CEL compilation all run, nothing is
//      stored. The cert-manager overlay needs cert-manager's CRDs (Certificate, Issuer); they come
//      from the pinned Go module github.com/cert-manager/cert-manager (deploy/crds/, plain
//      controller-gen output). Where that module cannot be downloaded, that one case is skipped and
//      says why.
//   2. the base ValidatingWebhookConfiguration applied for real with clientConfig switched to a
//      url: the API server compiles every matchCondition (and rejects a broken one: the control);
//      the same rendered from a finalizer registry with a configured guard is accepted too.
//   3. the guard never blocks its own removal: the guard runs (host process, test/scenarios/guard.ts),
//      the rendered self-signed overlay is applied for real with its webhooks pointed at it, and
//      `kubectl delete -f` of the same objects (what `kubectl delete -k` does) succeeds, the guard
//      being asked along the way. Then again with failurePolicy Fail on the namespaces webhook
//      (components/fail-closed-namespaces) and the guard down.
// The copy of manifests/ lives in a temp dir, with certificates from certs/generate.sh, so the
// working tree (and manifests/overlays/self-signed/generated/) is never touched.
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControlPlane } from '../cluster/controlPlane.ts';
import { controlPlaneForFile } from '../cluster/fileCluster.ts';
import { FinalizerRegistry } from '../../src/registry/finalizerRegistry.ts';
import { renderManifestFiles } from '../../src/render/manifestFiles.ts';
import { declaredWebhooks } from '../../src/render/webhookConfiguration.ts';
import { BUILTIN_POLICIES } from '../../src/policies/index.ts';
import { BUILTIN_FINALIZER_GUARDS } from '../../src/registry/finalizerRegistry.ts';
import { missingComponents, repoRoot } from '../cluster/paths.ts';
import { run, runOk, sleep, waitFor } from '../cluster/proc.ts';
import { startGuard, type Guard } from '../scenarios/guard.ts';

/** cert-manager's CRDs: pinned module and the files the overlay's kinds need. */
const CERT_MANAGER_MODULE = 'github.com/cert-manager/cert-manager';
const CERT_MANAGER_VERSION = 'v1.21.2';
const CERT_MANAGER_CRDS = ['cert-manager.io_issuers.yaml', 'cert-manager.io_certificates.yaml'];

/** The Prometheus Operator's CRDs for components/monitoring: pinned module and the files its kinds need. */
const PROMETHEUS_OPERATOR_MODULE = 'github.com/prometheus-operator/prometheus-operator';
const PROMETHEUS_OPERATOR_VERSION = 'v0.85.0';
const PROMETHEUS_OPERATOR_CRDS = ['monitoring.coreos.com_servicemonitors.yaml', 'monitoring.coreos.com_prometheusrules.yaml'];

const GUARD_NS = 'teardown-guard';
/** The webhooks the policies' declarations give the shipped base (one controller selector: OLM's). */
const DECLARED_WEBHOOKS = declaredWebhooks(BUILTIN_POLICIES, BUILTIN_FINALIZER_GUARDS).length;
const VWC = 'teardown-guard';

type Obj = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string> };
  webhooks?: Array<{
    name: string;
    failurePolicy?: string;
    clientConfig: { url?: string; service?: unknown; caBundle?: string };
    matchConditions?: Array<{ name: string; expression: string }>;
  }>;
} & Record<string, unknown>;

let cp: ControlPlane;
let work: string;
let manifests: string;

const parseDocs = (text: string): Obj[] =>
  parseAllDocuments(text)
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => Boolean(o?.kind));
const render = (objs: Obj[]): string => objs.map((o) => stringify(o)).join('---\n');
const ref = (o: Obj): string => `${o.kind.toLowerCase()}${o.metadata.namespace ? ` ${o.metadata.namespace}/` : ' '}${o.metadata.name}`;

async function kustomize(dir: string): Promise<{ text: string; objs: Obj[] }> {
  const r = await cp.kubectl(['kustomize', dir]);
  if (r.code !== 0) throw new Error(`kubectl kustomize ${dir} failed:\n${r.stderr}`);
  return { text: r.stdout, objs: parseDocs(r.stdout) };
}

/** A kustomization in the temp copy that puts components on top of `base` (components cannot be built alone). */
function composed(name: string, base: string, components: string[]): string {
  const dir = join(manifests, 'test-compositions', name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'kustomization.yaml'),
    stringify({
      apiVersion: 'kustomize.config.k8s.io/v1beta1',
      kind: 'Kustomization',
      resources: [`../../${base}`],
      components: components.map((c) => `../../${c}`),
    }),
  );
  return dir;
}

/** The VWC pointed at `url` instead of the in-cluster Service (every webhook keeps its own path). */
function withUrl(objs: Obj[], url: string, caPem?: string, failurePolicy?: 'Fail' | 'Ignore'): Obj[] {
  return objs.map((o) => {
    if (o.kind !== 'ValidatingWebhookConfiguration') return o;
    const copy = structuredClone(o);
    for (const w of copy.webhooks ?? []) {
      w.clientConfig = { url, ...(caPem ? { caBundle: Buffer.from(caPem).toString('base64') } : {}) };
      if (failurePolicy) w.failurePolicy = failurePolicy;
    }
    return copy;
  });
}

async function dryRunServer(text: string): Promise<{ code: number; out: string; lines: string[] }> {
  const r = await cp.kubectl(['apply', '--dry-run=server', '--validate=strict', '--server-side', '--field-manager=teardown-guard-manifests-test', '-f', '-'], {
    input: text,
  });
  return { code: r.code, out: `${r.stdout}${r.stderr}`, lines: r.stdout.split('\n').filter(Boolean) };
}

async function exists(path: string): Promise<boolean> {
  return Boolean(await cp.client.get(path));
}

beforeAll(async () => {
  const missing = missingComponents(['etcd', 'kube-apiserver', 'kube-controller-manager', 'kubectl', 'olm']);
  if (missing.length) throw new Error(`pinned binaries missing (${missing.join(', ')}): run \`npm run build:binaries\` first`);
  // OLM's CRDs: the guard watches CSVs, as on a cluster that runs OLM.
  cp = await controlPlaneForFile({ olm: 'crds' });
  work = mkdtempSync(join(tmpdir(), 'tg-manifests-'));
  manifests = join(work, 'manifests');
  cpSync(join(repoRoot, 'manifests'), manifests, { recursive: true });
  const generated = join(manifests, 'overlays', 'self-signed', 'generated');
  rmSync(generated, { recursive: true, force: true });
  await runOk('bash', [join(repoRoot, 'certs', 'generate.sh'), '--out', join(work, 'certs'), '--kustomize-dir', generated, '--days', '2', '--ca-days', '2'], {
    timeoutMs: 60_000,
  });
  // Namespaced objects of a dry-run need their namespace to exist for real (the dry-run Namespace
  // is not stored). Created from the base's own namespace.yaml.
  const ns = await cp.kubectl(['apply', '-f', join(manifests, 'base', 'namespace.yaml')]);
  if (ns.code !== 0) throw new Error(`creating namespace ${GUARD_NS}: ${ns.stderr}`);
});

afterAll(async () => {
  await cp?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('every kustomization validates against the real API server (server-side dry-run, strict)', () => {
  const cases: Array<{ name: string; dir: () => string; expectKinds: string[] }> = [
    {
      name: 'base',
      dir: () => join(manifests, 'base'),
      expectKinds: ['Namespace', 'Deployment', 'ValidatingWebhookConfiguration', 'ConfigMap', 'PodDisruptionBudget'],
    },
    { name: 'overlays/self-signed', dir: () => join(manifests, 'overlays', 'self-signed'), expectKinds: ['Secret', 'ValidatingWebhookConfiguration'] },
    {
      name: 'components/fail-closed-namespaces (on overlays/self-signed)',
      dir: () => composed('fail-closed', 'overlays/self-signed', ['components/fail-closed-namespaces']),
      expectKinds: ['ValidatingWebhookConfiguration'],
    },
    {
      name: 'components/live-lookups-all-kinds (on overlays/self-signed)',
      dir: () => composed('all-kinds', 'overlays/self-signed', ['components/live-lookups-all-kinds']),
      expectKinds: ['ClusterRole'],
    },
    {
      name: 'both components (on base)',
      dir: () => composed('both-on-base', 'base', ['components/fail-closed-namespaces', 'components/live-lookups-all-kinds']),
      expectKinds: ['ValidatingWebhookConfiguration'],
    },
    {
      name: 'components/without-inference-rbac (on overlays/self-signed)',
      dir: () => composed('without-inference', 'overlays/self-signed', ['components/without-inference-rbac']),
      expectKinds: ['ClusterRole'],
    },
    {
      name: 'components/network-policy with components/audit-receiver (on overlays/self-signed)',
      dir: () => composed('network-policy', 'overlays/self-signed', ['components/audit-receiver', 'components/network-policy']),
      expectKinds: ['NetworkPolicy'],
    },
    {
      name: 'components/audit-receiver (on overlays/self-signed): one receiver, Recreate, its own Service',
      dir: () => composed('audit-receiver', 'overlays/self-signed', ['components/audit-receiver']),
      expectKinds: ['Deployment', 'Service'],
    },
  ];

  for (const c of cases) {
    it(c.name, async () => {
      const { text, objs } = await kustomize(c.dir());
      for (const k of c.expectKinds) expect(objs.map((o) => o.kind)).toContain(k);
      const r = await dryRunServer(text);
      expect(r.code, r.out).toBe(0);
      // One "(server dry run)" line per object: none skipped.
      expect(r.lines.filter((l) => l.includes('(server dry run)')).length, r.out).toBe(objs.length);
      // The Deployment meets the "restricted" Pod Security Standard its namespace enforces
      // (PodSecurity admission warns on workload templates that would not).
      expect(r.out).not.toMatch(/PodSecurity|Warning/i);
    });
  }

  it('control: Pod Security admission does warn on a template that breaks "restricted" here', async () => {
    const { objs } = await kustomize(join(manifests, 'base'));
    const deployment = structuredClone(objs.find((o) => o.kind === 'Deployment'));
    if (!deployment) throw new Error('base has no Deployment');
    const spec = (deployment['spec'] as { template: { spec: { containers: Array<{ securityContext?: Record<string, unknown> }> } } }).template.spec;
    for (const c of spec.containers) c.securityContext = { ...c.securityContext, allowPrivilegeEscalation: true };
    const r = await dryRunServer(render([deployment]));
    expect(r.out).toMatch(/would violate PodSecurity "restricted/);
  });

  it('the components change what they say they change', async () => {
    const failClosed = (await kustomize(composed('fail-closed', 'overlays/self-signed', ['components/fail-closed-namespaces']))).objs;
    const hooks = failClosed.find((o) => o.kind === 'ValidatingWebhookConfiguration')?.webhooks ?? [];
    expect(hooks.filter((w) => w.failurePolicy === 'Fail').map((w) => w.name)).toEqual(['namespaces.teardown-guard.io']);
    const allKinds = (await kustomize(composed('all-kinds', 'overlays/self-signed', ['components/live-lookups-all-kinds']))).objs;
    const role = allKinds.find((o) => o.kind === 'ClusterRole' && o.metadata.name === 'teardown-guard-live-lookups') as
      { rules?: Array<{ apiGroups: string[]; resources: string[]; verbs: string[] }> } | undefined;
    expect(role?.rules?.at(-1)).toEqual({ apiGroups: ['*'], resources: ['*'], verbs: ['get'] });
  });

  it('overlays/self-signed: caBundle of every webhook is the generated CA, Secret teardown-guard-tls is kubernetes.io/tls', async () => {
    const { objs } = await kustomize(join(manifests, 'overlays', 'self-signed'));
    const ca = readFileSync(join(work, 'certs', 'ca.crt'), 'utf8');
    const vwc = objs.find((o) => o.kind === 'ValidatingWebhookConfiguration');
    expect(vwc?.webhooks?.length).toBe(DECLARED_WEBHOOKS);
    for (const w of vwc?.webhooks ?? []) expect(Buffer.from(w.clientConfig.caBundle ?? '', 'base64').toString('utf8')).toBe(ca);
    const secret = objs.find((o) => o.kind === 'Secret' && o.metadata.name === 'teardown-guard-tls');
    expect(secret?.['type']).toBe('kubernetes.io/tls');
  });

  it('overlays/cert-manager (with cert-manager CRDs from the pinned Go module)', async (ctx) => {
    const dl = await run('go', ['mod', 'download', '-json', `${CERT_MANAGER_MODULE}@${CERT_MANAGER_VERSION}`], {
      env: { ...process.env, GOFLAGS: '' },
      timeoutMs: 240_000,
    });
    const dir = /"Dir":\s*"([^"]+)"/.exec(dl.stdout)?.[1];
    const crdFiles = dir ? CERT_MANAGER_CRDS.map((f) => join(dir, 'deploy', 'crds', f)) : [];
    if (dl.code !== 0 || !dir || !crdFiles.every((f) => existsSync(f))) {
      ctx.skip(
        `SKIPPED overlays/cert-manager: cert-manager's CRDs could not be obtained from ${CERT_MANAGER_MODULE}@${CERT_MANAGER_VERSION} ` +
          `(go mod download exit ${dl.code}: ${`${dl.stderr}`.trim().slice(0, 300) || 'deploy/crds missing'}); the API server cannot validate Certificate/Issuer without them`,
      );
    }
    // Server-side: the Issuer CRD is larger than the client-side last-applied annotation allows.
    const crds = await cp.kubectl(['apply', '--server-side', '--field-manager=teardown-guard-manifests-test', ...crdFiles.flatMap((f) => ['-f', f])]);
    expect(crds.code, crds.stderr).toBe(0);
    await waitFor(
      'cert-manager CRDs served',
      60_000,
      async () =>
        (await cp.client.get<{ resources?: Array<{ name: string }> }>('/apis/cert-manager.io/v1'))?.resources?.filter(
          (r) => r.name === 'certificates' || r.name === 'issuers',
        ).length === 2
          ? true
          : undefined,
      250,
    );
    const { text, objs } = await kustomize(join(manifests, 'overlays', 'cert-manager'));
    expect(
      objs
        .filter((o) => o.apiVersion === 'cert-manager.io/v1')
        .map((o) => `${o.kind}/${o.metadata.name}`)
        .sort(),
    ).toEqual(['Certificate/teardown-guard-ca', 'Certificate/teardown-guard-serving', 'Issuer/teardown-guard-ca', 'Issuer/teardown-guard-selfsigned']);
    expect(objs.find((o) => o.kind === 'ValidatingWebhookConfiguration')?.metadata.annotations?.['cert-manager.io/inject-ca-from']).toBe(
      'teardown-guard/teardown-guard-serving',
    );
    const r = await dryRunServer(text);
    expect(r.code, r.out).toBe(0);
    expect(r.lines.filter((l) => l.includes('(server dry run)')).length, r.out).toBe(objs.length);
  });
});

describe('components/monitoring', () => {
  it('with components/audit-receiver on overlays/self-signed (with the Prometheus Operator CRDs from the pinned Go module)', async (ctx) => {
    const dl = await run('go', ['mod', 'download', '-json', `${PROMETHEUS_OPERATOR_MODULE}@${PROMETHEUS_OPERATOR_VERSION}`], {
      env: { ...process.env, GOFLAGS: '' },
      timeoutMs: 240_000,
    });
    const dir = /"Dir":\s*"([^"]+)"/.exec(dl.stdout)?.[1];
    const crdFiles = dir ? PROMETHEUS_OPERATOR_CRDS.map((f) => join(dir, 'example', 'prometheus-operator-crd', f)) : [];
    if (dl.code !== 0 || !dir || !crdFiles.every((f) => existsSync(f))) {
      ctx.skip(
        `SKIPPED components/monitoring: the Prometheus Operator's CRDs could not be obtained from ${PROMETHEUS_OPERATOR_MODULE}@${PROMETHEUS_OPERATOR_VERSION} ` +
          `(go mod download exit ${dl.code}: ${`${dl.stderr}`.trim().slice(0, 300) || 'example/prometheus-operator-crd missing'}); the API server cannot validate ServiceMonitor/PrometheusRule without them`,
      );
    }
    const crds = await cp.kubectl(['apply', '--server-side', '--field-manager=teardown-guard-manifests-test', ...crdFiles.flatMap((f) => ['-f', f])]);
    expect(crds.code, crds.stderr).toBe(0);
    await waitFor(
      'Prometheus Operator CRDs served',
      60_000,
      async () =>
        (await cp.client.get<{ resources?: Array<{ name: string }> }>('/apis/monitoring.coreos.com/v1'))?.resources?.filter(
          (r) => r.name === 'servicemonitors' || r.name === 'prometheusrules',
        ).length === 2
          ? true
          : undefined,
      250,
    );
    const { text, objs } = await kustomize(composed('monitoring', 'overlays/self-signed', ['components/audit-receiver', 'components/monitoring']));
    expect(
      objs
        .filter((o) => o.apiVersion === 'monitoring.coreos.com/v1' || o.metadata.name === 'teardown-guard-dashboard')
        .map((o) => `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`)
        .sort(),
    ).toEqual([
      'ConfigMap/teardown-guard/teardown-guard-dashboard',
      'PrometheusRule/teardown-guard/teardown-guard',
      'ServiceMonitor/teardown-guard/teardown-guard',
    ]);
    // The ServiceMonitor's selector takes both Services; its CA is a key of the overlay's Secret.
    const labelsOf = (name: string) =>
      (objs.find((o) => o.kind === 'Service' && o.metadata.name === name)?.metadata as { labels?: Record<string, string> })?.labels;
    for (const svc of ['teardown-guard', 'teardown-guard-audit']) expect(labelsOf(svc)?.['app.kubernetes.io/name'], svc).toBe('teardown-guard');
    const secret = objs.find((o) => o.kind === 'Secret' && o.metadata.name === 'teardown-guard-tls') as { data?: Record<string, string> } | undefined;
    expect(Object.keys(secret?.data ?? {})).toContain('ca.crt');
    const r = await dryRunServer(text);
    expect(r.code, r.out).toBe(0);
    expect(r.lines.filter((l) => l.includes('(server dry run)')).length, r.out).toBe(objs.length);
    // Strict validation is on: a field the CRD does not know is refused (the control).
    const rule = structuredClone(objs.find((o) => o.kind === 'PrometheusRule')!);
    (rule['spec'] as Record<string, unknown>)['alerts'] = [];
    const bad = await dryRunServer(render([rule]));
    expect(bad.code).not.toBe(0);
    expect(bad.out).toMatch(/\.spec\.alerts: field not declared in schema/);
  });
});

describe('the kustomize output (pinned kubectl)', () => {
  it('the cert-manager overlay carries the CA-injection annotation and names the serving Secret', async () => {
    const { objs } = await kustomize(join(manifests, 'overlays', 'cert-manager'));
    const hooks = objs.find((o) => o.kind === 'ValidatingWebhookConfiguration');
    expect(hooks?.metadata.annotations?.['cert-manager.io/inject-ca-from']).toBe('teardown-guard/teardown-guard-serving');
    const cert = objs.find((o) => o.kind === 'Certificate' && o.metadata.name === 'teardown-guard-serving') as { spec?: { secretName?: string } } | undefined;
    expect(cert?.spec?.secretName).toBe('teardown-guard-tls');
  });

  it('the base puts every namespaced object in the teardown-guard namespace', async () => {
    const { objs } = await kustomize(join(manifests, 'base'));
    const clusterScoped = ['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'ValidatingWebhookConfiguration'];
    const namespaced = objs.filter((o) => !clusterScoped.includes(o.kind));
    expect(namespaced.length).toBeGreaterThan(0);
    expect(namespaced.filter((o) => o.metadata.namespace !== GUARD_NS).map(ref)).toEqual([]);
  });
});

describe('the base ValidatingWebhookConfiguration, applied for real', () => {
  it('is accepted with clientConfig.url: every CEL matchCondition compiles on the API server', async () => {
    const { objs } = await kustomize(join(manifests, 'base'));
    const vwc = withUrl(objs, 'https://127.0.0.1:9/validate').filter((o) => o.kind === 'ValidatingWebhookConfiguration');
    expect(vwc.length).toBe(1);
    const applied = await cp.kubectl(['apply', '-f', '-'], { input: render(vwc) });
    expect(applied.code, applied.stderr).toBe(0);
    const stored = await cp.client.get<{
      webhooks: Array<{ name: string; matchConditions?: Array<{ name: string; expression: string }>; clientConfig: { url?: string } }>;
    }>(`/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/${VWC}`);
    expect(stored?.webhooks.length).toBe(DECLARED_WEBHOOKS);
    const want = vwc[0]?.webhooks ?? [];
    for (const w of stored?.webhooks ?? []) {
      expect(w.clientConfig.url).toBe('https://127.0.0.1:9/validate');
      expect(w.matchConditions?.map((m) => m.name)).toEqual(want.find((x) => x.name === w.name)?.matchConditions?.map((m) => m.name));
    }
    const del = await cp.kubectl(['delete', 'validatingwebhookconfiguration', VWC]);
    expect(del.code, del.stderr).toBe(0);
  });

  it('rendered with a configured guard (cluster-scoped, set-based controller selector, ignoreLabel): accepted too', async () => {
    const registry = new FinalizerRegistry([
      {
        finalizer: 'example.com/protection',
        resource: { group: 'example.com', version: 'v1', resource: 'widgetclusters', kind: 'WidgetCluster', namespaced: false },
        ignoreLabel: 'example.com/copy',
        controller: {
          displayName: 'widget operator',
          deploymentSelector: 'app.kubernetes.io/name in (widget-operator,widget-op),!example.com/disabled',
          requireClusterRoleBinding: false,
        },
      },
    ]);
    const files = renderManifestFiles({ registry }, (file) => readFileSync(join(manifests, 'base', file), 'utf8'));
    const vwc = withUrl(parseDocs(files.get('validatingwebhookconfiguration.yaml') ?? ''), 'https://127.0.0.1:9/validate');
    expect(vwc[0]?.webhooks?.map((w) => w.name)).toContain('controllers-2.teardown-guard.io');
    const r = await cp.kubectl(['apply', '--dry-run=server', '--validate=strict', '-f', '-'], { input: render(vwc) });
    expect(r.code, r.stderr).toBe(0);
    const rbac = await dryRunServer(files.get('rbac.yaml') ?? '');
    expect(rbac.code, rbac.out).toBe(0);
  });

  it('control: the same object with a broken CEL expression is rejected (so the acceptance above means something)', async () => {
    const { objs } = await kustomize(join(manifests, 'base'));
    const vwc = withUrl(objs, 'https://127.0.0.1:9/validate').filter((o) => o.kind === 'ValidatingWebhookConfiguration');
    const first = vwc[0]?.webhooks?.[0]?.matchConditions?.[0];
    if (!first) throw new Error('base webhook has no matchConditions');
    first.expression = "request.userInfo.usernme != 'x'";
    const r = await cp.kubectl(['apply', '--dry-run=server', '-f', '-'], { input: render(vwc) });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/matchConditions|compil|undefined field/i);
  });
});

// ---------------------------------------------------------------------------------------------

function httpsGet(url: string, caPem: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca: caPem, timeout: 3000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** Sum of teardown_guard_admission_requests_total over all labels. */
async function reviewsAnswered(guard: Guard): Promise<number> {
  const { body } = await httpsGet(`${guard.url}/metrics`, guard.certs.caPem);
  let sum = 0;
  for (const line of body.split('\n')) {
    const m = /^teardown_guard_admission_requests_total(?:\{[^}]*\})?\s+([0-9.eE+-]+)$/.exec(line);
    if (m?.[1]) sum += Number(m[1]);
  }
  return sum;
}

/** Objects of the rendered overlay still present (by their REST paths). */
async function remaining(objs: Obj[]): Promise<string[]> {
  const out: string[] = [];
  const paths: Record<string, (o: Obj) => string> = {
    Namespace: (o) => `/api/v1/namespaces/${o.metadata.name}`,
    ClusterRole: (o) => `/apis/rbac.authorization.k8s.io/v1/clusterroles/${o.metadata.name}`,
    ClusterRoleBinding: (o) => `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${o.metadata.name}`,
    ValidatingWebhookConfiguration: (o) => `/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/${o.metadata.name}`,
  };
  for (const o of objs) {
    const p = paths[o.kind];
    if (p && (await exists(p(o)))) out.push(ref(o));
  }
  return out;
}

describe('the guard never blocks its own removal', () => {
  let guard: Guard | undefined;

  afterAll(async () => {
    await guard?.stop();
  });

  it('with the guard running and its webhooks registered (the real base rules and CEL), `kubectl delete` of the installed overlay succeeds', async () => {
    guard = await startGuard(cp, { log: () => {} });
    const { objs } = await kustomize(join(manifests, 'overlays', 'self-signed'));
    const installed = withUrl(objs, `${guard.url}/validate`, guard.certs.caPem);
    const apply = await cp.kubectl(['apply', '-f', '-'], { input: render(installed) });
    expect(apply.code, apply.stderr).toBe(0);
    // The API server picks webhook configurations up asynchronously: wait until the guard is asked
    // (a server-side dry-run DELETE of a scratch namespace), bounded.
    await cp.kubectl(['create', 'namespace', 'tg-self-removal-probe']);
    const before = await reviewsAnswered(guard);
    await waitFor(
      'the API server calling the guard',
      30_000,
      async () => {
        await cp.kubectl(['delete', 'namespace', 'tg-self-removal-probe', '--dry-run=server']);
        return (await reviewsAnswered(guard as Guard)) > before ? true : undefined;
      },
      500,
    );
    await cp.kubectl(['delete', 'namespace', 'tg-self-removal-probe', '--wait=false']);

    // What an operator runs to uninstall: `kubectl delete -k manifests/overlays/self-signed`,
    // i.e. every object of the rendered overlay, in kustomize's order (Namespace first, the
    // ValidatingWebhookConfiguration last), while the guard is up and its webhooks are live.
    const asked = await reviewsAnswered(guard);
    const del = await cp.kubectl(['delete', '-f', '-', '--wait=true', '--timeout=120s'], { input: render(installed), timeoutMs: 150_000 });
    expect(del.code, `${del.stdout}${del.stderr}`).toBe(0);
    expect(del.stderr).not.toMatch(/denied/i);
    // The ClusterRole/Binding DELETEs went through the guard (controller-rbac webhook) and were allowed.
    expect(await reviewsAnswered(guard)).toBeGreaterThan(asked);
    await waitFor(`namespace ${GUARD_NS} gone`, 90_000, async () => ((await exists(`/api/v1/namespaces/${GUARD_NS}`)) ? undefined : true), 250);
    expect(await remaining(installed)).toEqual([]);
  });

  it('fail-closed and the guard down: its namespace and its webhook configuration can still be deleted', async () => {
    if (!guard) throw new Error('previous case did not start the guard');
    await guard.stop();
    const { objs } = await kustomize(composed('fail-closed', 'overlays/self-signed', ['components/fail-closed-namespaces']));
    // The worst case for the guard's own namespace: failurePolicy Fail and nobody answering.
    const installed = withUrl(objs, `${guard.url}/validate`, guard.certs.caPem);
    expect(installed.find((o) => o.kind === 'ValidatingWebhookConfiguration')?.webhooks?.[0]?.failurePolicy).toBe('Fail');
    const apply = await cp.kubectl(['apply', '-f', '-'], { input: render(installed) });
    expect(apply.code, apply.stderr).toBe(0);
    // Prove the fail-closed webhook is live: an ordinary namespace cannot be deleted while the guard is down.
    await cp.kubectl(['create', 'namespace', 'tg-fail-closed-probe']);
    const blocked = await waitFor(
      'the fail-closed namespaces webhook in effect',
      30_000,
      async () => {
        const r = await cp.kubectl(['delete', 'namespace', 'tg-fail-closed-probe', '--dry-run=server']);
        return r.code !== 0 ? r : undefined;
      },
      500,
    );
    expect(blocked.stderr).toMatch(/namespaces\.teardown-guard\.io/);

    // The guard's own namespace is outside every webhook: deleted while the guard is down and Fail is set.
    const ns = await cp.kubectl(['delete', 'namespace', GUARD_NS, '--wait=true', '--timeout=90s'], { timeoutMs: 120_000 });
    expect(ns.code, `${ns.stdout}${ns.stderr}`).toBe(0);
    // A ValidatingWebhookConfiguration is never subject to webhooks: deleting it always works.
    const vwc = await cp.kubectl(['delete', 'validatingwebhookconfiguration', VWC]);
    expect(vwc.code, vwc.stderr).toBe(0);
    // The rest of the uninstall (cluster-scoped RBAC) goes through; --ignore-not-found for what is gone.
    const rest = await cp.kubectl(['delete', '-f', '-', '--ignore-not-found', '--wait=true', '--timeout=60s'], { input: render(installed), timeoutMs: 90_000 });
    expect(rest.code, `${rest.stdout}${rest.stderr}`).toBe(0);
    expect(await remaining(installed)).toEqual([]);
    // And with the configuration gone, ordinary namespaces are deletable again.
    await sleep(1500);
    const probe = await waitFor(
      'ordinary namespace deletable again',
      30_000,
      async () => {
        const r = await cp.kubectl(['delete', 'namespace', 'tg-fail-closed-probe', '--wait=false']);
        return r.code === 0 ? r : undefined;
      },
      500,
    );
    expect(probe.code).toBe(0);
  });
});
