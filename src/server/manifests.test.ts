// Invariants of manifests/ that the README promises, checked on the YAML itself. What the
// kustomize output of the overlays says is checked with the pinned kubectl in
// test/integration/manifests.test.ts.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ALWAYS_EXEMPT_USERS, loadConfig, WEBHOOK_TIMEOUT_MS } from '../config.ts';

const root = fileURLToPath(new URL('../../manifests/', import.meta.url));
const read = (p: string): string => readFileSync(join(root, p), 'utf8');
type Doc = Record<string, unknown>;
const docs = (p: string): Doc[] => parseAllDocuments(read(p)).map((d) => d.toJS() as Doc);
/** Value at a dotted path (numeric parts index lists). */
function at<T>(o: unknown, path: string): T {
  let cur: unknown = o;
  for (const part of path.split('.')) cur = (cur as Record<string, unknown> | undefined)?.[part];
  return cur as T;
}

interface Webhook {
  name: string;
  sideEffects: string;
  timeoutSeconds: number;
  failurePolicy: string;
  admissionReviewVersions: string[];
  clientConfig: { service: { namespace: string; name: string; path: string; port: number } };
  rules: Array<{ apiGroups: string[]; resources: string[]; operations: string[]; scope: string }>;
  objectSelector?: { matchLabels?: Record<string, string> };
  namespaceSelector?: { matchExpressions: Array<{ key: string; operator: string; values: string[] }> };
  matchConditions: Array<{ name: string; expression: string }>;
}

const vwc = docs('base/validatingwebhookconfiguration.yaml')[0] as { webhooks: Webhook[] };
const hook = (name: string): Webhook => {
  const w = vwc.webhooks.find((x) => x.name === name);
  if (!w) throw new Error(`webhook ${name} missing`);
  return w;
};

describe('ValidatingWebhookConfiguration', () => {
  it('every webhook: v1 reviews, no side effects, timeout <= 5 s, fail open, /validate on the Service', () => {
    expect(vwc.webhooks.length).toBe(8);
    for (const w of vwc.webhooks) {
      expect(w.admissionReviewVersions).toEqual(['v1']);
      expect(w.sideEffects).toBe('None');
      expect(w.timeoutSeconds).toBeLessThanOrEqual(WEBHOOK_TIMEOUT_MS / 1000);
      expect(w.failurePolicy).toBe('Ignore');
      expect(w.clientConfig.service).toEqual({ namespace: 'teardown-guard', name: 'teardown-guard', path: '/validate', port: 443 });
      for (const r of w.rules) expect(r.operations.every((o) => o === 'DELETE' || o === 'UPDATE')).toBe(true);
    }
  });

  it('every webhook skips the namespace controller and the garbage collector', () => {
    for (const w of vwc.webhooks) {
      for (const user of ALWAYS_EXEMPT_USERS) {
        expect(w.matchConditions.some((c) => c.expression.includes(`request.userInfo.username != '${user}'`))).toBe(true);
      }
    }
  });

  it('namespaced webhooks exempt the guard namespace; only the Helm ones review kube-system (its releases: CNI, metrics-server)', () => {
    const helm = new Set(['release-records.teardown-guard.io', 'helm-owned.teardown-guard.io']);
    // Cluster-scoped objects only: no namespace to select on.
    const clusterScoped = new Set(['controller-rbac.teardown-guard.io', 'crds.teardown-guard.io']);
    for (const w of vwc.webhooks.filter((x) => !clusterScoped.has(x.name))) {
      const values = helm.has(w.name) ? ['teardown-guard'] : ['kube-system', 'teardown-guard'];
      expect(w.namespaceSelector?.matchExpressions, w.name).toEqual([{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values }]);
    }
  });

  it('has narrow rules', () => {
    expect(hook('namespaces.teardown-guard.io').rules).toEqual([
      { apiGroups: [''], apiVersions: ['v1'], operations: ['DELETE'], resources: ['namespaces'], scope: 'Cluster' },
    ]);
    const records = hook('release-records.teardown-guard.io');
    expect(records.rules[0]?.resources).toEqual(['secrets', 'configmaps']);
    expect(records.rules[0]?.operations).toEqual(['DELETE', 'UPDATE']);
    expect(records.objectSelector).toEqual({ matchLabels: { owner: 'helm' } });
    const owned = hook('helm-owned.teardown-guard.io');
    expect(owned.rules).toEqual([{ apiGroups: ['*'], apiVersions: ['*'], operations: ['DELETE'], resources: ['*'], scope: '*' }]);
    expect(owned.objectSelector).toEqual({ matchLabels: { 'app.kubernetes.io/managed-by': 'Helm' } });
    expect(hook('controllers.teardown-guard.io').objectSelector).toEqual({ matchLabels: { app: 'olm-operator' } });
    expect(hook('controller-rbac.teardown-guard.io').rules[0]?.resources).toEqual(['clusterroles', 'clusterrolebindings']);
    const guarded = hook('guarded-objects.teardown-guard.io');
    expect(guarded.rules[0]?.resources).toEqual(['clusterserviceversions']);
    expect(guarded.matchConditions.some((c) => c.expression.includes("'operators.coreos.com/csv-cleanup' in oldObject.metadata.finalizers"))).toBe(true);
    expect(hook('crds.teardown-guard.io').rules).toEqual([
      { apiGroups: ['apiextensions.k8s.io'], apiVersions: ['v1'], operations: ['DELETE'], resources: ['customresourcedefinitions'], scope: 'Cluster' },
    ]);
    // Helm's objects go through helm-owned; the rest of the controllers' objects through controllers-inferred, never both.
    const inferred = hook('controllers-inferred.teardown-guard.io');
    expect(inferred.objectSelector).toEqual({ matchExpressions: [{ key: 'app.kubernetes.io/managed-by', operator: 'NotIn', values: ['Helm'] }] });
    expect(inferred.rules.flatMap((r) => r.resources).sort()).toEqual([
      'daemonsets',
      'deployments',
      'rolebindings',
      'roles',
      'serviceaccounts',
      'statefulsets',
    ]);
    expect(owned.matchConditions.some((c) => c.expression.includes("'customresourcedefinitions'"))).toBe(true);
  });
});

describe('base config.yaml', () => {
  it('is valid for src/config.ts and consistent with the webhooks', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tg-manifest-config-'));
    try {
      const file = join(dir, 'config.yaml');
      writeFileSync(file, read('base/config.yaml'));
      const { config } = loadConfig({ file, checkFiles: false });
      expect(config.guardNamespace).toBe('teardown-guard');
      expect(config.listen.port).toBe(8443);
      expect(config.liveLookup.timeoutMs).toBeLessThan(WEBHOOK_TIMEOUT_MS);
      const deployment = docs('base/deployment.yaml')[0];
      const grace = at<number>(deployment, 'spec.template.spec.terminationGracePeriodSeconds');
      expect(grace * 1000).toBeGreaterThan(config.shutdown.delayMs + config.shutdown.drainTimeoutMs);
      const mounts = at<Array<{ mountPath: string }>>(deployment, 'spec.template.spec.containers.0.volumeMounts');
      expect(mounts.some((m) => config.tls.certFile.startsWith(`${m.mountPath}/`))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Deployment', () => {
  const d = docs('base/deployment.yaml')[0];
  const spec = at<{ replicas: number }>(d, 'spec');
  const pod = at<{ affinity: { podAntiAffinity?: unknown }; securityContext: { runAsNonRoot: boolean; seccompProfile: { type: string } } }>(
    d,
    'spec.template.spec',
  );
  const c = at<Record<string, { httpGet?: unknown; requests?: unknown; limits?: unknown }>>(d, 'spec.template.spec.containers.0');
  it('runs 2 replicas with anti-affinity and a PDB of minAvailable 1', () => {
    expect(spec.replicas).toBe(2);
    expect(pod.affinity.podAntiAffinity).toBeDefined();
    expect(at<number>(docs('base/poddisruptionbudget.yaml')[0], 'spec.minAvailable')).toBe(1);
  });
  it('is non-root, read-only, drops all capabilities, RuntimeDefault seccomp, has requests and limits', () => {
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(pod.securityContext.seccompProfile.type).toBe('RuntimeDefault');
    expect(c['securityContext']).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(c['resources']?.requests).toBeDefined();
    expect(c['resources']?.limits).toBeDefined();
  });
  it('probes /healthz and /readyz over HTTPS', () => {
    expect(c['livenessProbe']?.httpGet).toMatchObject({ path: '/healthz', scheme: 'HTTPS' });
    expect(c['readinessProbe']?.httpGet).toMatchObject({ path: '/readyz', scheme: 'HTTPS' });
  });
});

describe('RBAC', () => {
  it('grants no write verb', () => {
    for (const role of docs('base/rbac.yaml').filter((x) => x['kind'] === 'ClusterRole')) {
      for (const rule of at<Array<{ verbs: string[] }>>(role, 'rules')) {
        expect(rule.verbs.every((v) => ['get', 'list', 'watch'].includes(v))).toBe(true);
      }
    }
  });
});

describe('the base kustomization', () => {
  it('sets the teardown-guard namespace on every namespaced object', () => {
    expect(at(parse(read('base/kustomization.yaml')), 'namespace')).toBe('teardown-guard');
  });
});

describe('components/audit-receiver', () => {
  const [deployment] = docs('components/audit-receiver/deployment.yaml');
  const [service] = docs('components/audit-receiver/service.yaml');
  const webhookService = docs('base/service.yaml')[0];

  it('is one receiver, recreated rather than rolled, so no session is split between two', () => {
    expect(at<number>(deployment, 'spec.replicas')).toBe(1);
    expect(at<string>(deployment, 'spec.strategy.type')).toBe('Recreate');
    expect(at<Record<string, string>>(service, 'spec.selector')).toEqual(at<Record<string, string>>(deployment, 'spec.template.metadata.labels'));
  });

  it("is selected by its own Service only, and runs the webhook Deployment's container with --audit-only", () => {
    const labels = at<Record<string, string>>(deployment, 'spec.template.metadata.labels');
    const webhookSelector = at<Record<string, string>>(webhookService, 'spec.selector');
    expect(Object.entries(webhookSelector).every(([k, v]) => labels[k] === v)).toBe(false);
    const base = docs('base/deployment.yaml')[0];
    type Container = { args: string[] } & Record<string, unknown>;
    const [receiver] = at<Container[]>(deployment, 'spec.template.spec.containers');
    const [webhook] = at<Container[]>(base, 'spec.template.spec.containers');
    expect({ ...receiver, args: webhook!.args }).toEqual(webhook);
    expect(receiver!.args).toEqual([...webhook!.args, '--audit-only']);
    expect(at<unknown>(deployment, 'spec.template.spec.volumes')).toEqual(at<unknown>(base, 'spec.template.spec.volumes'));
  });

  it('runs as its own ServiceAccount, which no binding names, without a token', () => {
    const [sa] = docs('components/audit-receiver/serviceaccount.yaml');
    expect(at<string>(deployment, 'spec.template.spec.serviceAccountName')).toBe(at<string>(sa, 'metadata.name'));
    expect(at<boolean>(deployment, 'spec.template.spec.automountServiceAccountToken')).toBe(false);
    expect(at<boolean>(sa, 'automountServiceAccountToken')).toBe(false);
    const subjects = docs('base/rbac.yaml').flatMap((d) => at<Array<{ name: string }> | undefined>(d, 'subjects') ?? []);
    expect(subjects.map((s) => s.name)).not.toContain(at<string>(sa, 'metadata.name'));
  });
});

describe('components/network-policy', () => {
  const [policy] = docs('components/network-policy/networkpolicy.yaml');

  it("selects the webhook's and the audit receiver's Pods, and admits only to the port they serve on", () => {
    const selector = at<Record<string, string>>(policy, 'spec.podSelector.matchLabels');
    for (const file of ['base/deployment.yaml', 'components/audit-receiver/deployment.yaml']) {
      const [deployment] = docs(file);
      const labels = at<Record<string, string>>(deployment, 'spec.template.metadata.labels');
      expect(
        Object.entries(selector).every(([k, v]) => labels[k] === v),
        file,
      ).toBe(true);
      const ports = at<Array<{ name: string }>>(deployment, 'spec.template.spec.containers.0.ports').map((p) => p.name);
      for (const rule of at<Array<{ ports: Array<{ port: string }> }>>(policy, 'spec.ingress'))
        for (const p of rule.ports) expect(ports, file).toContain(p.port);
    }
    expect(at<string[]>(policy, 'spec.policyTypes')).toEqual(['Ingress']);
  });

  it('ships a placeholder CIDR from a documentation range, which no API server connects from: an unpatched copy admits nothing rather than everything', () => {
    expect(at<string>(policy, 'spec.ingress.0.from.0.ipBlock.cidr')).toBe('192.0.2.0/24');
  });
});
