// Finalizers the control plane removes by itself: nothing a teardown uninstalls can strand them, so
// no guard or inferred controller is ever looked for (no false alarm on a PVC in use or a Job's
// Pods). Each was read in the Kubernetes source at the version pinned in test/cluster/versions.env:
//   kubernetes                 core/v1 FinalizerKubernetes: the namespace controller (spec.finalizers)
//   orphan, foregroundDeletion meta/v1 FinalizerOrphanDependents/FinalizerDeleteDependents: the garbage collector
//   kubernetes.io/pvc-protection, pv-protection, vac-protection
//                              pkg/volume/util/finalizer.go: kube-controller-manager's protection controllers
//   batch.kubernetes.io/job-tracking          batch/v1 JobTrackingFinalizer: the Job controller, on Pods
//   resource.kubernetes.io/delete-protection  pkg/apis/resource: the ResourceClaim controller
//   networking.k8s.io/service-cidr-finalizer  pkg/controller/servicecidrs: the ServiceCIDR controller
//   customresourcecleanup.apiextensions.k8s.io  apiextensions: kube-apiserver's CRD finalizer controller
//   service.kubernetes.io/load-balancer-cleanup cloud-provider service helpers: the cloud-controller-manager
//                              that added it (it is never added without one)

const EXACT: ReadonlySet<string> = new Set([
  'kubernetes',
  'orphan',
  'foregroundDeletion',
  'batch.kubernetes.io/job-tracking',
  'resource.kubernetes.io/delete-protection',
  'networking.k8s.io/service-cidr-finalizer',
  'customresourcecleanup.apiextensions.k8s.io',
  'service.kubernetes.io/load-balancer-cleanup',
]);

/**
 * Whether the control plane removes `finalizer` itself. Every `kubernetes.io/` finalizer counts
 * (the protection finalizers and any later ones of that prefix, which only Kubernetes may define):
 * when unsure, the product stays silent rather than infer a controller that does not exist.
 */
export function removedByControlPlane(finalizer: string): boolean {
  return EXACT.has(finalizer) || finalizer.startsWith('kubernetes.io/');
}

/** A domain or API group of the Kubernetes project: `k8s.io`, `kubernetes.io` and their subdomains. */
export function kubernetesProjectDomain(domain: string): boolean {
  const d = domain.toLowerCase();
  return ['k8s.io', 'kubernetes.io'].some((p) => d === p || d.endsWith(`.${p}`));
}

/**
 * A finalizer in a Kubernetes project domain (`*.k8s.io/`, `*.kubernetes.io/`, or such a domain
 * alone) the control plane does not remove itself: a sidecar or add-on of the project removes it
 * (the CSI external-provisioner's `external-provisioner.volume.kubernetes.io/finalizer`, the
 * snapshot controller's `snapshot.storage.kubernetes.io/*`). Its controller cannot be told from a
 * CRD group, so inference says it is unsure rather than name one.
 */
export function kubernetesProjectFinalizer(finalizer: string): boolean {
  const slash = finalizer.indexOf('/');
  const domain = slash >= 0 ? finalizer.slice(0, slash) : finalizer;
  return !removedByControlPlane(finalizer) && kubernetesProjectDomain(domain);
}
