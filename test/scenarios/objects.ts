// Small OLM objects the scenarios and tests create directly (the charts carry their own copies).

/** An OperatorGroup; no targetNamespaces = AllNamespaces (OLM then copies CSVs everywhere). */
export function operatorGroupManifest(namespace: string, name: string, targetNamespaces?: string[]): Record<string, unknown> {
  return {
    apiVersion: 'operators.coreos.com/v1',
    kind: 'OperatorGroup',
    metadata: { name, namespace },
    ...(targetNamespaces ? { spec: { targetNamespaces } } : { spec: {} }),
  };
}

/**
 * A minimal CSV OLM can install without a kubelet: its one Deployment has 0 replicas (so it is
 * "available" at once) and it asks for cluster permissions, so OLM creates a ClusterRole and
 * ClusterRoleBinding labelled olm.owner=<csv> that its csv-cleanup finalizer must delete.
 */
export function csvManifest(namespace: string, name: string, o: { serviceAccount?: string } = {}): Record<string, unknown> {
  const sa = o.serviceAccount ?? 'demo-operator';
  return {
    apiVersion: 'operators.coreos.com/v1alpha1',
    kind: 'ClusterServiceVersion',
    metadata: { name, namespace },
    spec: {
      displayName: 'Demo Operator',
      description: 'Test operator for teardown-guard (deploys nothing that needs a kubelet).',
      version: name.replace(/^.*\.v/, '') || '0.1.0',
      minKubeVersion: '1.20.0',
      maturity: 'alpha',
      provider: { name: 'teardown-guard tests' },
      installModes: [
        { type: 'OwnNamespace', supported: true },
        { type: 'SingleNamespace', supported: true },
        { type: 'MultiNamespace', supported: false },
        { type: 'AllNamespaces', supported: true },
      ],
      install: {
        strategy: 'deployment',
        spec: {
          clusterPermissions: [{ serviceAccountName: sa, rules: [{ apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'list', 'watch'] }] }],
          deployments: [
            {
              name: 'demo-operator',
              spec: {
                replicas: 0,
                selector: { matchLabels: { app: 'demo-operator' } },
                template: {
                  metadata: { labels: { app: 'demo-operator' } },
                  spec: { serviceAccountName: sa, containers: [{ name: 'operator', image: 'example.invalid/demo-operator:0.1.0' }] },
                },
              },
            },
          ],
        },
      },
    },
  };
}

/**
 * What catalog-operator's InstallPlan would create next to csvManifest(): the ServiceAccount and a
 * ClusterRole/Binding meeting its clusterPermissions, labelled olm.owner* so csv-cleanup deletes them.
 */
export function csvRbacManifests(namespace: string, csvName: string, o: { serviceAccount?: string } = {}): Array<Record<string, unknown>> {
  const sa = o.serviceAccount ?? 'demo-operator';
  const labels = { 'olm.owner': csvName, 'olm.owner.kind': 'ClusterServiceVersion', 'olm.owner.namespace': namespace };
  const name = `${csvName}-cluster`;
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa, namespace } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name, labels },
      rules: [{ apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'list', 'watch'] }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
      subjects: [{ kind: 'ServiceAccount', name: sa, namespace }],
    },
  ];
}
