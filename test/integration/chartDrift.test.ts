// The Helm chart (manifests/chart/teardown-guard) renders the same objects as the kustomize base
// and its overlays/components, in everything but labels and the config ConfigMap's name: webhook
// rules, selectors, matchConditions, failurePolicy and timeouts; RBAC rules; the Deployments'
// security contexts, probes and args; Services; the PodDisruptionBudget; the config content. The
// chart's webhook match fields and ClusterRole rules come from its files/, written from the base by
// `npm run chart:rules` (the chart's README.md); this test is what keeps them equal to the base.
// It needs the pinned helm 3, helm 4 and kubectl binaries (test/cluster/build-binaries.sh) and no
// cluster; it is an integration test for the binaries alone, so the unit tier needs none.
import { spawnSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { loadConfig, policyModes } from '../../src/config.ts';
import { BUILTIN_POLICIES } from '../../src/policies/index.ts';
import { CHART_FILES_DIR, chartRuleFiles, renderBase } from '../chart/ruleFiles.ts';
import { binPath, repoRoot, versions } from '../cluster/paths.ts';

const CHART = join(repoRoot, 'manifests', 'chart', 'teardown-guard');
const MANIFESTS = join(repoRoot, 'manifests');
// Any well-formed base64 value: the base carries no caBundle (its overlays add it).
const CHART_APP_VERSION = String((parseAllDocuments(readFileSync(join(CHART, 'Chart.yaml'), 'utf8'))[0]!.toJS() as { appVersion: string }).appVersion);
const CA_BUNDLE = Buffer.from('-----BEGIN CERTIFICATE-----\n').toString('base64');

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [k: string]: unknown;
}

const work = mkdtempSync(join(tmpdir(), 'tg-chart-drift-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function run(bin: string, args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(bin, args, { encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw new Error(`${bin}: ${r.error.message} (build it with test/cluster/build-binaries.sh)`);
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

// YAML 1.1, as the API server and kustomize read it (`defaultMode: 0440` is octal).
const parseObjects = (text: string) =>
  parseAllDocuments(text, { version: '1.1' })
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => Boolean(o));

function helmTemplate(helm: 3 | 4, args: string[]): K8sObject[] {
  const r = run(binPath(helm === 3 ? 'helm3' : 'helm4'), [
    'template',
    'tg',
    CHART,
    '--namespace',
    'teardown-guard',
    '--kube-version',
    versions().KUBE_VERSION,
    ...args,
  ]);
  if (r.code !== 0) throw new Error(`helm ${helm} template failed:\n${r.stderr}`);
  return parseObjects(r.stdout);
}

/**
 * `kubectl kustomize` of a user's kustomization: `resources` and `components` under manifests/,
 * and the image reference set at the top, as the README's overlays do.
 */
function kustomize(resources: string[], components: string[] = []): K8sObject[] {
  const dir = mkdtempSync(join(work, 'k-'));
  const rel = (p: string) => relative(dir, join(MANIFESTS, p));
  writeFileSync(
    join(dir, 'kustomization.yaml'),
    stringify({
      apiVersion: 'kustomize.config.k8s.io/v1beta1',
      kind: 'Kustomization',
      resources: resources.map(rel),
      ...(components.length ? { components: components.map(rel) } : {}),
      images: [{ name: 'teardown-guard', newTag: CHART_APP_VERSION }],
    }),
  );
  const r = run(binPath('kubectl'), ['kustomize', dir]);
  if (r.code !== 0) throw new Error(`kubectl kustomize failed:\n${r.stderr}`);
  return parseObjects(r.stdout);
}

const keyOf = (o: K8sObject) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
const CONFIG_NAME = 'teardown-guard-config';

/**
 * What must match, keyed by kind/namespace/name: each object without its labels (the chart adds
 * Helm's), the ConfigMap by its parsed config.yaml under its unhashed name, Pod templates without
 * the chart's config checksum, webhooks without caBundle. The Namespace is left to the user (the
 * chart's README.md: `--create-namespace` or a labelled namespace).
 */
function comparable(objects: K8sObject[]): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const o of structuredClone(objects)) {
    if (o.kind === 'Namespace') continue;
    delete o.metadata.labels;
    if (o.kind === 'ConfigMap' && o.metadata.name.startsWith(CONFIG_NAME)) {
      o.metadata.name = CONFIG_NAME;
      const data = o['data'] as Record<string, string>;
      o['data'] = { 'config.yaml': parseAllDocuments(data['config.yaml']!)[0]!.toJS() as unknown };
    }
    if (o.kind === 'Deployment') {
      const template = (
        o['spec'] as { template: { metadata: { annotations?: Record<string, string> }; spec: { volumes: Array<{ configMap?: { name: string } }> } } }
      ).template;
      delete template.metadata.annotations?.['checksum/config'];
      if (template.metadata.annotations && !Object.keys(template.metadata.annotations).length) delete template.metadata.annotations;
      for (const v of template.spec.volumes) if (v.configMap?.name.startsWith(CONFIG_NAME)) v.configMap.name = CONFIG_NAME;
    }
    if (o.kind === 'ConfigMap' && o.metadata.name === 'teardown-guard-dashboard') {
      // The chart writes the file trimmed into a block scalar; the component reads it whole.
      const data = o['data'] as Record<string, string>;
      o['data'] = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, JSON.parse(v) as unknown]));
    }
    if (o.kind === 'ValidatingWebhookConfiguration') {
      for (const w of o['webhooks'] as Array<{ clientConfig: { caBundle?: string } }>) delete w.clientConfig.caBundle;
    }
    if (o.metadata.annotations && !Object.keys(o.metadata.annotations).length) delete o.metadata.annotations;
    out.set(keyOf(o), o);
  }
  return out;
}

function expectSameObjects(chart: K8sObject[], kustomized: K8sObject[]): void {
  const c = comparable(chart);
  const k = comparable(kustomized);
  expect([...c.keys()].sort()).toEqual([...k.keys()].sort());
  for (const [key, obj] of k) expect(c.get(key), `${key} differs between the chart and kustomize`).toEqual(obj);
}

const find = (objects: K8sObject[], kind: string, name: string) => {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`${kind} ${name} not rendered`);
  return o;
};
const webhooksOf = (objects: K8sObject[]) =>
  find(objects, 'ValidatingWebhookConfiguration', 'teardown-guard')['webhooks'] as Array<{
    name: string;
    failurePolicy: string;
    clientConfig: { caBundle?: string; service: { namespace: string } };
    namespaceSelector?: { matchExpressions: Array<{ values: string[] }> };
  }>;

describe('the image tag', () => {
  it("is the chart's appVersion in the base and in every component that adds a Deployment", () => {
    const tags = ['base', 'components/audit-receiver'].map((dir) => {
      const k = parseAllDocuments(readFileSync(join(MANIFESTS, dir, 'kustomization.yaml'), 'utf8'))[0]!.toJS() as {
        images?: Array<{ name: string; newTag?: string }>;
      };
      return [dir, k.images?.find((i) => i.name === 'teardown-guard')?.newTag];
    });
    expect(tags).toEqual([
      ['base', CHART_APP_VERSION],
      ['components/audit-receiver', CHART_APP_VERSION],
    ]);
  });
});

describe("the chart's rule files", () => {
  it('are what `npm run chart:rules` writes from the base as it is now', () => {
    for (const [name, text] of Object.entries(chartRuleFiles(renderBase()))) {
      expect(readFileSync(join(CHART_FILES_DIR, name), 'utf8'), `manifests/chart/teardown-guard/files/${name} is stale: run \`npm run chart:rules\``).toBe(
        text,
      );
    }
  });
});

describe.each([3, 4] as const)('the chart rendered by helm %i', (helm) => {
  it('matches manifests/base (certs.source=secret: the caBundle given is in every webhook)', () => {
    const chart = helmTemplate(helm, ['--set', `certs.caBundle=${CA_BUNDLE}`]);
    expectSameObjects(chart, kustomize(['base']));
    expect(webhooksOf(chart).map((w) => w.clientConfig.caBundle)).toEqual(webhooksOf(chart).map(() => CA_BUNDLE));
    // Every object carries the base's labels too.
    for (const o of chart)
      expect(o.metadata.labels, keyOf(o)).toMatchObject({ 'app.kubernetes.io/name': 'teardown-guard', 'app.kubernetes.io/part-of': 'teardown-guard' });
  });

  it('matches overlays/cert-manager with components audit-receiver and fail-closed-namespaces', () => {
    const chart = helmTemplate(helm, [
      '--set',
      'certs.source=cert-manager',
      '--set',
      'auditReceiver.enabled=true',
      '--set',
      'webhook.failClosedNamespaces=true',
    ]);
    expectSameObjects(chart, kustomize(['overlays/cert-manager'], ['components/audit-receiver', 'components/fail-closed-namespaces']));
    expect(
      webhooksOf(chart)
        .filter((w) => w.failurePolicy === 'Fail')
        .map((w) => w.name),
    ).toEqual(['namespaces.teardown-guard.io']);
  });

  it('rbac.inference=false matches components/without-inference-rbac: no ClusterRole or binding teardown-guard-inference', () => {
    const chart = helmTemplate(helm, ['--set', `certs.caBundle=${CA_BUNDLE}`, '--set', 'rbac.inference=false']);
    expectSameObjects(chart, kustomize(['base'], ['components/without-inference-rbac']));
    expect(chart.filter((o) => o.metadata.name === 'teardown-guard-inference')).toEqual([]);
  });

  it('networkPolicy.enabled matches components/network-policy (with its placeholder CIDR and namespace), and is off by default', () => {
    const chart = helmTemplate(helm, [
      '--set',
      `certs.caBundle=${CA_BUNDLE}`,
      '--set',
      'networkPolicy.enabled=true',
      '--set',
      'networkPolicy.apiServerCIDRs={192.0.2.0/24}',
      '--set',
      'networkPolicy.metricsNamespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name=monitoring',
    ]);
    expectSameObjects(chart, kustomize(['base'], ['components/network-policy']));
    expect(helmTemplate(helm, ['--set', `certs.caBundle=${CA_BUNDLE}`]).filter((o) => o.kind === 'NetworkPolicy')).toEqual([]);
    // Without a metrics selector, the API server's rule alone.
    const apiOnly = helmTemplate(helm, [
      '--set',
      `certs.caBundle=${CA_BUNDLE}`,
      '--set',
      'networkPolicy.enabled=true',
      '--set',
      'networkPolicy.apiServerCIDRs={10.0.0.0/24,10.1.0.0/24}',
    ]);
    expect((find(apiOnly, 'NetworkPolicy', 'teardown-guard')['spec'] as { ingress: unknown[] }).ingress).toEqual([
      { from: [{ ipBlock: { cidr: '10.0.0.0/24' } }, { ipBlock: { cidr: '10.1.0.0/24' } }], ports: [{ port: 'https', protocol: 'TCP' }] },
    ]);
  });

  it('matches components/monitoring (ServiceMonitor, PrometheusRule, dashboard ConfigMap) with every monitoring value on', () => {
    const chart = helmTemplate(helm, [
      '--set',
      `certs.caBundle=${CA_BUNDLE}`,
      '--set',
      'monitoring.serviceMonitor.enabled=true',
      '--set',
      'monitoring.prometheusRule.enabled=true',
      '--set',
      'monitoring.grafanaDashboard.enabled=true',
    ]);
    const kustomized = kustomize(['base'], ['components/monitoring']);
    expectSameObjects(chart, kustomized);
    expect(chart.filter((o) => o.apiVersion === 'monitoring.coreos.com/v1').map((o) => o.kind)).toEqual(['PrometheusRule', 'ServiceMonitor']);
    // Grafana's sidecar finds the dashboard by this label; the selector finds both Services by theirs.
    for (const objects of [chart, kustomized]) {
      expect(find(objects, 'ConfigMap', 'teardown-guard-dashboard').metadata.labels?.['grafana_dashboard']).toBe('1');
      expect(find(objects, 'Service', 'teardown-guard').metadata.labels?.['app.kubernetes.io/name']).toBe('teardown-guard');
    }
    const sm = find(chart, 'ServiceMonitor', 'teardown-guard')['spec'] as { selector: { matchLabels: Record<string, string> } };
    expect(sm.selector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'teardown-guard' });
    // Off by default.
    expect(
      helmTemplate(helm, ['--set', `certs.caBundle=${CA_BUNDLE}`]).filter(
        (o) => o.apiVersion === 'monitoring.coreos.com/v1' || o.metadata.name === 'teardown-guard-dashboard',
      ),
    ).toEqual([]);
  });

  it('the ServiceMonitor follows the release namespace, and monitoring.serviceMonitor.tlsConfig replaces its TLS settings', () => {
    const ns = helmTemplate(helm, ['--namespace', 'guard-ns', '--set', `certs.caBundle=${CA_BUNDLE}`, '--set', 'monitoring.serviceMonitor.enabled=true']);
    const endpoint = (objects: K8sObject[]) =>
      (find(objects, 'ServiceMonitor', 'teardown-guard')['spec'] as { endpoints: Array<{ tlsConfig: unknown }> }).endpoints[0]!;
    expect(endpoint(ns).tlsConfig).toEqual({ serverName: 'teardown-guard.guard-ns.svc', ca: { secret: { name: 'teardown-guard-tls', key: 'ca.crt' } } });
    const own = helmTemplate(helm, [
      '--set',
      `certs.caBundle=${CA_BUNDLE}`,
      '--set',
      'monitoring.serviceMonitor.enabled=true',
      '--set',
      'monitoring.serviceMonitor.tlsConfig.insecureSkipVerify=true',
    ]);
    expect(endpoint(own).tlsConfig).toEqual({ insecureSkipVerify: true });
  });

  it('puts the release namespace where the base names teardown-guard, and the values into config.yaml', () => {
    const chart = helmTemplate(helm, [
      '--namespace',
      'guard-ns',
      '--set',
      `certs.caBundle=${CA_BUNDLE}`,
      '--set',
      'replicas=3',
      '--set',
      'policies.helm-uninstall-namespace.mode=audit',
      '--set',
      'undecided=deny',
      '--set',
      'podDisruptionBudget.enabled=false',
    ]);
    const hooks = webhooksOf(chart);
    expect(hooks.map((w) => w.clientConfig.service.namespace)).toEqual(hooks.map(() => 'guard-ns'));
    const excluded = hooks.flatMap((w) => w.namespaceSelector?.matchExpressions.flatMap((e) => e.values) ?? []);
    expect(excluded).toContain('guard-ns');
    expect(excluded).not.toContain('teardown-guard');
    for (const o of chart) if (o.metadata.namespace !== undefined) expect(o.metadata.namespace, keyOf(o)).toBe('guard-ns');
    expect(chart.some((o) => o.kind === 'PodDisruptionBudget')).toBe(false);
    expect((find(chart, 'Deployment', 'teardown-guard')['spec'] as { replicas: number }).replicas).toBe(3);
    // The rendered config.yaml, read by the guard's own loader.
    const file = join(mkdtempSync(join(work, 'cfg-')), 'config.yaml');
    writeFileSync(file, (find(chart, 'ConfigMap', CONFIG_NAME)['data'] as Record<string, string>)['config.yaml']!);
    const { config } = loadConfig({ file, checkFiles: false });
    // The value set, and every other policy at its declared default (values.yaml is generated from the declarations).
    expect(policyModes(config)).toEqual({
      ...Object.fromEntries(BUILTIN_POLICIES.map((p) => [p.name, p.declaration.defaultMode])),
      'helm-uninstall-namespace': 'audit',
    });
    expect(config.undecided).toBe('deny');
    expect(config.guardNamespace).toBe('guard-ns');
  });

  it('certs.source=generated: one CA in the Secret and every caBundle, signing a certificate for the Service', () => {
    const chart = helmTemplate(helm, ['--namespace', 'guard-ns', '--set', 'certs.source=generated', '--set', 'certs.generated.days=30']);
    const secret = find(chart, 'Secret', 'teardown-guard-tls') as K8sObject & { type: string; data: Record<string, string> };
    expect(secret.type).toBe('kubernetes.io/tls');
    expect(webhooksOf(chart).map((w) => w.clientConfig.caBundle)).toEqual(webhooksOf(chart).map(() => secret.data['ca.crt']));
    const ca = new X509Certificate(Buffer.from(secret.data['ca.crt']!, 'base64'));
    const leaf = new X509Certificate(Buffer.from(secret.data['tls.crt']!, 'base64'));
    expect(ca.ca).toBe(true);
    expect(leaf.verify(ca.publicKey)).toBe(true);
    expect(leaf.checkPrivateKey(createPrivateKey(Buffer.from(secret.data['tls.key']!, 'base64')))).toBe(true);
    for (const host of ['teardown-guard.guard-ns.svc', 'teardown-guard-audit.guard-ns.svc']) expect(leaf.checkHost(host), host).toBe(host);
    const days = (Date.parse(leaf.validTo) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(29);
    expect(days).toBeLessThanOrEqual(30);
    expect(Date.parse(secret.metadata.annotations!['teardown-guard.io/certificate-not-after']!)).toBeGreaterThanOrEqual(Date.parse(leaf.validTo) - 1000);
    // Everything else is the base's, as with certs.source=secret.
    const base = helmTemplate(helm, ['--namespace', 'guard-ns', '--set', `certs.caBundle=${CA_BUNDLE}`]);
    expect(chart.filter((o) => o.kind !== 'Secret' && o.kind !== 'ValidatingWebhookConfiguration').map(keyOf)).toEqual(
      base.filter((o) => o.kind !== 'ValidatingWebhookConfiguration').map(keyOf),
    );
  });

  it.each([
    [
      ['--set', 'policies.olm-orphaned-finalizers.mode=block'],
      "at '/policies/olm-orphaned-finalizers/mode': value must be one of 'enforce', 'warn', 'audit', 'off'",
    ],
    [['--set', 'undecided=maybe'], "at '/undecided': value must be one of 'allow', 'deny'"],
    [['--set', 'certs.source=self-signed'], "at '/certs/source': value must be one of 'secret', 'cert-manager', 'generated'"],
    [['--set', 'replicas=0'], "at '/replicas'"],
    [[], 'certs.source=secret needs certs.caBundle'],
    [['--set', 'monitoring.serviceMonitor.interval=often'], "at '/monitoring/serviceMonitor/interval'"],
    [['--set', 'monitoring.grafanaDashboard.enabled=yes'], "at '/monitoring/grafanaDashboard/enabled'"],
    [['--set', 'rbac.inference=maybe'], "at '/rbac/inference'"],
    [['--set', `certs.caBundle=${CA_BUNDLE}`, '--set', 'networkPolicy.enabled=true'], 'networkPolicy.enabled needs networkPolicy.apiServerCIDRs'],
    [['--set', 'networkPolicy.apiServerCIDRs={10.0.0.1}'], "at '/networkPolicy/apiServerCIDRs/0'"],
  ])('refuses bad values with a message naming the value: %j', (args, message) => {
    const r = run(binPath(helm === 3 ? 'helm3' : 'helm4'), ['template', 'tg', CHART, '--kube-version', versions().KUBE_VERSION, ...args]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(message);
  });
});
