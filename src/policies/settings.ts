// The part of the configuration the policies read. Produced (validated) by src/config.ts.
import type { ResourceType } from '../k8s/types.ts';

/**
 * How to tell whether the controller that removes a finalizer is alive.
 * Liveness: some Deployment matching `deploymentSelector` exists, is not being deleted, has
 * status.availableReplicas >= 1, its namespace is not Terminating (nor the one being deleted),
 * the Helm release that owns it (if any) is not `uninstalling`, and (when `requireClusterRoleBinding`)
 * a ClusterRoleBinding binds its ServiceAccount to a ClusterRole that exists.
 */
export interface ControllerSpec {
  /** Human name used in messages, e.g. "OLM olm-operator". */
  displayName: string;
  /** Label selector for the controller's Deployment(s), e.g. `app=olm-operator`. */
  deploymentSelector: string;
  requireClusterRoleBinding: boolean;
}

/** One guarded finalizer: which objects carry it, and which controller removes it. */
export interface FinalizerGuard {
  finalizer: string;
  resource: ResourceType;
  /** Objects with this label never carry the finalizer (OLM copied CSVs: `olm.copiedFrom`). */
  ignoreLabel?: string;
  controller: ControllerSpec;
  /** Extra remedy text for leaked objects once the finalizer is removed by hand. */
  cleanupHint?: (namespace: string, name: string) => string[];
}

export interface PolicySettings {
  /** Namespaces whose deletion is never denied (kube-system, the guard's own). */
  exemptNamespaces: string[];
  /** Users whose deletions the helm policy never flags (namespace controller, garbage collector). */
  exemptUsers: string[];
  finalizerGuards: FinalizerGuard[];
  /** Annotation on the object being deleted that lets an admin proceed; its value is the reason. */
  breakGlassAnnotation: string;
  /**
   * Age after which a release record still saying `uninstalling` counts as a failed uninstall
   * rather than one running now (default DEFAULT_STALE_UNINSTALLING_AFTER_MS).
   */
  staleUninstallingAfterMs?: number;
}
