// OLM facts (ARCHITECTURE.md §1A): since OLM v0.27.0 every non-copied ClusterServiceVersion carries
// `operators.coreos.com/csv-cleanup`, and only the olm-operator process removes it.
import type { FinalizerGuard } from '../finalizers/guard.ts';

export const CSV_CLEANUP_FINALIZER = 'operators.coreos.com/csv-cleanup';
/** Copied CSVs (OLM mirrors a CSV into every namespace its OperatorGroup targets) never carry it. */
export const COPIED_FROM_LABEL = 'olm.copiedFrom';

/** The cluster-scoped objects OLM would have cleaned up for a CSV, selected by its owner labels. */
export function olmOwnerSelector(namespace: string, csvName: string): string {
  return `olm.owner=${csvName},olm.owner.namespace=${namespace},olm.owner.kind=ClusterServiceVersion`;
}

/** Namespaces olm-operator is installed to by default (upstream, chart, OpenShift). */
export const OLM_DEFAULT_NAMESPACES: readonly string[] = ['olm', 'operator-lifecycle-manager', 'openshift-operator-lifecycle-manager'];

export const OLM_CSV_CLEANUP_GUARD: FinalizerGuard = {
  finalizer: CSV_CLEANUP_FINALIZER,
  resource: {
    group: 'operators.coreos.com',
    version: 'v1alpha1',
    resource: 'clusterserviceversions',
    kind: 'ClusterServiceVersion',
    namespaced: true,
  },
  ignoreLabel: COPIED_FROM_LABEL,
  controller: {
    displayName: 'OLM olm-operator',
    deploymentSelector: 'app=olm-operator',
    requireClusterRoleBinding: true,
  },
  cleanupHint: (namespace, name) => [
    `kubectl delete clusterrole,clusterrolebinding,mutatingwebhookconfiguration,validatingwebhookconfiguration -l ${olmOwnerSelector(namespace, name)}`,
  ],
};
