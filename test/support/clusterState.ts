// Cluster states for policy unit tests, shaped like what the watch caches hold (metadata only for
// CSVs and release records). Each helper returns a fresh copy so tests can mutate freely.
import { gzipSync } from 'node:zlib';
import type { ClusterSnapshot } from './snapshotView.ts';
import type { KubeObject, PartialObjectMetadata } from '../../src/k8s/types.ts';
import { CSV_CLEANUP_FINALIZER } from '../../src/olm/finalizerGuards.ts';

export const T0 = '2026-11-22T00:00:00Z';

export function namespace(name: string, terminating = false): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name, labels: { 'kubernetes.io/metadata.name': name }, ...(terminating ? { deletionTimestamp: T0 } : {}) },
    status: { phase: terminating ? 'Terminating' : 'Active' },
  };
}

export function csv(ns: string, name: string, opts: { copied?: boolean; deleting?: boolean } = {}): PartialObjectMetadata {
  return {
    apiVersion: 'operators.coreos.com/v1alpha1',
    kind: 'ClusterServiceVersion',
    metadata: {
      name,
      namespace: ns,
      ...(opts.copied ? { labels: { 'olm.copiedFrom': 'olm' } } : { finalizers: [CSV_CLEANUP_FINALIZER] }),
      ...(opts.deleting ? { deletionTimestamp: T0 } : {}),
    },
  };
}

export function olmDeployment(
  ns: string,
  opts: {
    available?: number;
    deleting?: boolean;
    release?: string;
    replicas?: number;
    conditions?: Array<{ type: string; status: string; reason: string }>;
  } = {},
): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: 'olm-operator',
      namespace: ns,
      labels: { app: 'olm-operator' },
      ...(opts.release ? { annotations: { 'meta.helm.sh/release-name': opts.release, 'meta.helm.sh/release-namespace': ns } } : {}),
      ...(opts.deleting ? { deletionTimestamp: T0 } : {}),
    },
    spec: { replicas: opts.replicas ?? 1, template: { spec: { serviceAccountName: 'olm-operator-serviceaccount' } } },
    status: { replicas: opts.replicas ?? 1, availableReplicas: opts.available ?? 1, ...(opts.conditions ? { conditions: opts.conditions } : {}) },
  };
}

export function olmBinding(ns: string): KubeObject {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: `olm-operator-binding-${ns}` },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:controller:operator-lifecycle-manager' },
    subjects: [{ kind: 'ServiceAccount', name: 'olm-operator-serviceaccount', namespace: ns }],
  };
}

/** `labels` adds Helm's other record labels, e.g. modifiedAt (Unix seconds). */
export function recordMeta(
  ns: string,
  release: string,
  version: number,
  status: string,
  storage: 'Secret' | 'ConfigMap' = 'Secret',
  labels: Record<string, string> = {},
): PartialObjectMetadata {
  return {
    apiVersion: 'v1',
    kind: storage,
    metadata: {
      name: `sh.helm.release.v1.${release}.v${version}`,
      namespace: ns,
      labels: { owner: 'helm', name: release, status, version: String(version), ...labels },
    },
  };
}

/** A full release record as Helm's Secret driver writes it, payload included. */
export function releaseSecret(
  ns: string,
  release: string,
  version: number,
  status: string,
  manifest: string,
  values: Record<string, unknown> = {},
  opts: { payloadNamespace?: string; labels?: Record<string, string> } = {},
): KubeObject & PartialObjectMetadata {
  const payload = JSON.stringify({
    name: release,
    namespace: opts.payloadNamespace ?? ns,
    version,
    info: { status, first_deployed: T0, last_deployed: T0, description: 'Install complete' },
    chart: { metadata: { name: 'app', version: '1.0.0' }, values: {} },
    config: values,
    manifest,
  });
  const helmEncoded = gzipSync(Buffer.from(payload)).toString('base64');
  const meta = recordMeta(ns, release, version, status, 'Secret', opts.labels);
  return { ...meta, type: 'helm.sh/release.v1', data: { release: Buffer.from(helmEncoded).toString('base64') } };
}

export function olmCluster(): ClusterSnapshot {
  return {
    namespaces: [namespace('olm'), namespace('px-operator'), namespace('kube-system'), namespace('teardown-guard'), namespace('default')],
    objects: {
      'operators.coreos.com/clusterserviceversions': [csv('olm', 'packageserver'), csv('px-operator', 'pixie-operator.v0.1.0')],
    },
    deployments: [olmDeployment('olm')],
    clusterRoleBindings: [olmBinding('olm')],
    clusterRoles: ['system:controller:operator-lifecycle-manager'],
    releaseRecords: [],
    namespaced: {},
  };
}

export const APP_MANIFEST = `---
# Source: app/templates/configmap.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data:
  greeting: hello
---
# Source: app/templates/service.yaml
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  ports: [{ port: 80 }]
---
# Source: app/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
---
# Source: app/templates/clusterrole.yaml
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: web-reader
---
# Source: app/templates/kept.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-kept
  annotations:
    helm.sh/resource-policy: keep
---
# Source: app/templates/other-ns.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-shared
  namespace: shared
`;

/**
 * A ValidatingWebhookConfiguration failing closed on ConfigMap UPDATEs, served by `service`: the
 * shape test/integration/webhookBackends.test.ts creates on the real control plane.
 */
export function configMapWebhook(service: { namespace: string; name: string }): KubeObject {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name: 'configmap-policy' },
    webhooks: [
      {
        name: 'configmaps.policy.example.io',
        failurePolicy: 'Fail',
        clientConfig: { service },
        rules: [{ apiGroups: [''], resources: ['configmaps'], operations: ['UPDATE'] }],
      },
    ],
  };
}

export const CORE_DISCOVERY: Record<string, boolean> = {
  'v1/ConfigMap': true,
  'v1/Service': true,
  'v1/Secret': true,
  'v1/Namespace': false,
  'apps/v1/Deployment': true,
  'rbac.authorization.k8s.io/v1/ClusterRole': false,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': false,
};

/** A cluster of these namespaces and nothing else (no CSV, no record), plus the fields given. */
export function bareCluster(namespaces: string[], extra: Partial<ClusterSnapshot> = {}): ClusterSnapshot {
  return {
    namespaces: namespaces.map((n) => namespace(n)),
    objects: { 'operators.coreos.com/clusterserviceversions': [] },
    deployments: [],
    clusterRoleBindings: [],
    clusterRoles: [],
    releaseRecords: [],
    namespaced: {},
    ...extra,
  };
}

export function helmCluster(): ClusterSnapshot {
  return {
    namespaces: [namespace('default'), namespace('helm-test'), namespace('shared'), namespace('kube-system')],
    objects: { 'operators.coreos.com/clusterserviceversions': [] },
    deployments: [],
    clusterRoleBindings: [],
    clusterRoles: [],
    releaseRecords: [],
    namespaced: { ...CORE_DISCOVERY },
  };
}

/** The Pixie-shaped chart's manifest as Helm stores it: OLM, and the operator namespace with its CSV. */
export const PIXIE_MANIFEST = [
  '---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: olm',
  '---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: olm-operator-serviceaccount\n  namespace: olm',
  '---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: olm-operator\n  namespace: olm\n  labels:\n    app: olm-operator',
  '---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: px-operator',
  '---\napiVersion: operators.coreos.com/v1alpha1\nkind: ClusterServiceVersion\nmetadata:\n  name: pixie-operator.v0.1.0\n  namespace: px-operator',
].join('\n');

/**
 * The manifest Helm stores for test/scenarios/charts/simple-app installed as `release` (the chart
 * the captured fixtures were recorded with): ConfigMap RELEASE-config, Service RELEASE-svc,
 * Deployment RELEASE-app.
 */
export function simpleAppManifest(release: string): string {
  return [
    `---\n# Source: simple-app/templates/configmap.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${release}-config`,
    `---\n# Source: simple-app/templates/service.yaml\napiVersion: v1\nkind: Service\nmetadata:\n  name: ${release}-svc`,
    `---\n# Source: simple-app/templates/deployment.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ${release}-app`,
  ].join('\n');
}
