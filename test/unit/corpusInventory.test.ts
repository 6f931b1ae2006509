// The corpus's reading of `helm template` output and of its manifest. The streams below have the
// shape helm 3.21 and 4.3 print (pkg/cmd/template.go: `---\n# Source: PATH\n` before each
// template's output; a crds/ file that starts with its own `---` leaves the comment as a document
// of its own), with objects cut down from the corpus charts they name.
import { describe, expect, it } from 'vitest';
import { crdPlace, exclusiveReason, inventory, renderedObjects } from '../corpus/inventory.ts';
import { mergeValues, parseManifest, substitute } from '../corpus/manifest.ts';

const STREAM = `---
# Source: gatekeeper/crds/assign-customresourcedefinition.yaml
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: assign.mutations.gatekeeper.sh
spec:
  group: mutations.gatekeeper.sh
  names: { kind: Assign }
  scope: Cluster
---
# Source: gatekeeper/templates/gatekeeper-manager-role-clusterrole.yaml
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: gatekeeper-manager-role
---
# Source: gatekeeper/templates/namespace-post-install.yaml
apiVersion: v1
kind: ServiceAccount
metadata:
  name: gatekeeper-update-namespace-label
  namespace: "corpus-gk"
  annotations:
    "helm.sh/hook": post-install
    "helm.sh/hook-delete-policy": hook-succeeded,before-hook-creation
---
apiVersion: batch/v1
kind: Job
metadata:
  name: gatekeeper-update-namespace-label
  annotations:
    "helm.sh/hook": post-install
spec:
  template:
    spec:
      containers:
        - image: openpolicyagent/gatekeeper-crds:v3.23.1
---
# Source: cert-manager/templates/rbac.yaml
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: cert-manager:leaderelection
  namespace: kube-system
---
# Source: kyverno/charts/crds/templates/kyverno.io/kyverno.io_policies.yaml
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: policies.kyverno.io
  annotations:
    helm.sh/resource-policy: keep
spec:
  group: kyverno.io
  names: { kind: Policy }
  scope: Namespaced
---
# Source: metrics-server/templates/apiservice.yaml
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: v1beta1.metrics.k8s.io
spec:
  service: { name: metrics-server, namespace: corpus-gk }
`;

const scopeOf = (apiVersion: string, kind: string) =>
  ['ClusterRole', 'CustomResourceDefinition', 'APIService', 'Assign'].includes(kind) ? ('Cluster' as const) : ('Namespaced' as const);

describe('renderedObjects', () => {
  it('reads every document with the template it came from, hooks and resource policy included', () => {
    const objs = renderedObjects(STREAM);
    expect(objs.map((o) => `${o.kind}/${o.name} ${o.source}`)).toEqual([
      'CustomResourceDefinition/assign.mutations.gatekeeper.sh gatekeeper/crds/assign-customresourcedefinition.yaml',
      'ClusterRole/gatekeeper-manager-role gatekeeper/templates/gatekeeper-manager-role-clusterrole.yaml',
      'ServiceAccount/gatekeeper-update-namespace-label gatekeeper/templates/namespace-post-install.yaml',
      'Job/gatekeeper-update-namespace-label gatekeeper/templates/namespace-post-install.yaml',
      'Role/cert-manager:leaderelection cert-manager/templates/rbac.yaml',
      'CustomResourceDefinition/policies.kyverno.io kyverno/charts/crds/templates/kyverno.io/kyverno.io_policies.yaml',
      'APIService/v1beta1.metrics.k8s.io metrics-server/templates/apiservice.yaml',
    ]);
    expect(objs[2]).toMatchObject({ hook: ['post-install'], hookDeletePolicy: ['hook-succeeded', 'before-hook-creation'], namespace: 'corpus-gk' });
    expect(objs.filter((o) => o.keep).map((o) => o.name)).toEqual(['policies.kyverno.io']);
  });
});

describe('crdPlace', () => {
  it.each([
    ['gatekeeper/crds/assign-customresourcedefinition.yaml', 'crds/'],
    ['cert-manager/templates/crd-cert-manager.io_certificates.yaml', 'templates/'],
    ['kyverno/charts/crds/templates/kyverno.io/kyverno.io_policies.yaml', 'subchart templates/'],
    ['gpu-operator/charts/node-feature-discovery/crds/nfd-api-crds.yaml', 'subchart crds/'],
    ['metallb/charts/frr-k8s/charts/crds/templates/crds.yaml', 'subchart templates/'],
  ])('%s is %s', (source, place) => {
    expect(crdPlace(source)).toBe(place);
  });
});

describe('inventory', () => {
  const inv = inventory(renderedObjects(STREAM), 'corpus-gk', scopeOf);

  it('names cluster-scoped objects, objects in other namespaces, CRDs with their place, hooks with their image', () => {
    expect(inv.clusterScoped).toEqual([
      'APIService/v1beta1.metrics.k8s.io',
      'ClusterRole/gatekeeper-manager-role',
      'CustomResourceDefinition/assign.mutations.gatekeeper.sh',
      'CustomResourceDefinition/policies.kyverno.io',
    ]);
    expect(inv.otherNamespaces).toEqual(['kube-system/Role/cert-manager:leaderelection']);
    expect(inv.crds.map((c) => `${c.name} ${c.place} ${c.scope}${c.keep ? ' keep' : ''}`)).toEqual([
      'assign.mutations.gatekeeper.sh crds/ Cluster',
      'policies.kyverno.io subchart templates/ Namespaced keep',
    ]);
    expect(inv.hooks.map((h) => `${h.events.join(',')} ${h.kind} ${h.image ?? ''}`.trim())).toEqual([
      'post-install ServiceAccount',
      'post-install Job openpolicyagent/gatekeeper-crds:v3.23.1',
    ]);
  });

  it('makes a chart with an APIService backed by a Service run alone', () => {
    expect(exclusiveReason(inv)).toMatch(/APIService v1beta1\.metrics\.k8s\.io/);
  });

  it('makes a chart run alone for a webhook failing closed on Jobs everywhere, not for one on its own group or selected Pods', () => {
    const vwc = (webhooks: object[]) =>
      inventory(
        renderedObjects(
          `---\n# Source: c/templates/w.yaml\n${JSON.stringify({ apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration', metadata: { name: 'w' }, webhooks })}\n`,
        ),
        'ns',
        scopeOf,
      );
    const jobs = { name: 'vjob.kb.io', rules: [{ apiGroups: ['batch'], resources: ['jobs'] }] };
    expect(exclusiveReason(vwc([jobs]))).toMatch(/vjob\.kb\.io \(batch\/jobs\)/);
    expect(exclusiveReason(vwc([{ ...jobs, failurePolicy: 'Ignore' }]))).toBeUndefined();
    expect(exclusiveReason(vwc([{ name: 'own', rules: [{ apiGroups: ['chaos-mesh.org'], resources: ['*'] }] }]))).toBeUndefined();
    const pods = { name: 'vpod', rules: [{ apiGroups: [''], resources: ['pods'] }] };
    expect(exclusiveReason(vwc([{ ...pods, objectSelector: { matchExpressions: [{ key: 'app', operator: 'Exists' }] } }]))).toBeUndefined();
    // NotIn selects every namespace but the ones listed: still everywhere for the other charts.
    expect(exclusiveReason(vwc([{ ...pods, namespaceSelector: { matchExpressions: [{ key: 'x', operator: 'NotIn', values: ['a'] }] } }]))).toMatch(/vpod/);
  });
});

describe('the manifest', () => {
  const entry = { id: 'c', module: 'example.com/m', version: 'v1.2.3', chart: 'charts/c', install: {}, upgrade: {}, hooks: 'none.' };

  it('names every problem with its entry', () => {
    expect(() => parseManifest('charts:\n  - { id: C, module: m, version: "1.0", chart: ../x, hooks: "" }\n', 'm.yaml')).toThrow(
      /^m\.yaml:\n {2}charts\[0\] \(C\)\.hooks: a non-empty string is required\n.*id: "C" must be a DNS label.*\n.*version: "1\.0" is not a module version\n.*chart: must be a path inside the module\n.*install: a map/,
    );
    expect(() => parseManifest(`charts:\n  - ${JSON.stringify(entry)}\n  - ${JSON.stringify(entry)}\n`)).toThrow(/id c is listed twice/);
    expect(parseManifest(`charts:\n  - ${JSON.stringify(entry)}\n`).charts[0]).toEqual(entry);
  });

  it('merges upgrade values over install values as Helm merges values files', () => {
    expect(mergeValues({ a: { b: 1, c: [1] }, d: 1 }, { a: { c: [2], e: true } })).toEqual({ a: { b: 1, c: [2], e: true }, d: 1 });
  });

  it('puts the run release and namespace into values and map keys', () => {
    expect(substitute({ 'sc-${release}': { ns: '${namespace}', n: 1 } }, { release: 'r-h3', namespace: 'corpus-r-h3' })).toEqual({
      'sc-r-h3': { ns: 'corpus-r-h3', n: 1 },
    });
  });
});
