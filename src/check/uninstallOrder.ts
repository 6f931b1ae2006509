// The order in which `helm uninstall` deletes a release's objects: by kind, in Helm's
// UninstallOrder (helm.sh/helm pkg/releaseutil/kind_sorter.go), unknown kinds last and
// alphabetically, ties kept in manifest order.
const HELM_UNINSTALL_ORDER = [
  'APIService',
  'Ingress',
  'IngressClass',
  'Service',
  'CronJob',
  'Job',
  'StatefulSet',
  'HorizontalPodAutoscaler',
  'Deployment',
  'ReplicaSet',
  'ReplicationController',
  'Pod',
  'DaemonSet',
  'RoleBindingList',
  'RoleBinding',
  'RoleList',
  'Role',
  'ClusterRoleBindingList',
  'ClusterRoleBinding',
  'ClusterRoleList',
  'ClusterRole',
  'CustomResourceDefinition',
  'PersistentVolumeClaim',
  'PersistentVolume',
  'StorageClass',
  'ConfigMap',
  'SecretList',
  'Secret',
  'ServiceAccount',
  'PodDisruptionBudget',
  'PodSecurityPolicy',
  'LimitRange',
  'ResourceQuota',
  'NetworkPolicy',
  'Namespace',
  'PriorityClass',
];
const RANK = new Map(HELM_UNINSTALL_ORDER.map((kind, i) => [kind, i]));

export function sortForUninstall<T extends { kind: string }>(objects: readonly T[]): T[] {
  return objects
    .map((o, index) => ({ o, index }))
    .sort((a, b) => {
      const ra = RANK.get(a.o.kind);
      const rb = RANK.get(b.o.kind);
      if (ra !== undefined && rb !== undefined) return ra - rb || a.index - b.index;
      if (ra !== undefined) return -1;
      if (rb !== undefined) return 1;
      return a.o.kind < b.o.kind ? -1 : a.o.kind > b.o.kind ? 1 : a.index - b.index;
    })
    .map(({ o }) => o);
}
