// A guarded finalizer: which objects carry it and which controller removes it. Built-in guards
// (src/olm/finalizerGuards.ts) and configured ones (finalizerGuards in the config) share this
// shape, and the policies, the watch caches, check and diagnose all read it.
import type { ObjectMeta, ResourceType } from '../k8s/types.ts';

/**
 * How to tell whether the controller that removes a finalizer is alive.
 * Liveness: some Deployment matching `deploymentSelector` exists, is not being deleted, has
 * status.availableReplicas >= 1 (or none yet while it is coming back), its namespace is not Terminating
 * (nor the one being deleted), and (when `requireClusterRoleBinding`) a ClusterRoleBinding binds its
 * ServiceAccount to a ClusterRole that exists (src/policies/controllerLiveness.ts).
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

/**
 * Whether an object carries the guarded finalizer in a way that counts: the policies ask it of
 * every object, and the guarded type's watch cache holds only the objects some guard counts.
 */
export function carriesGuardedFinalizer(obj: { metadata?: ObjectMeta }, guard: FinalizerGuard): boolean {
  if (guard.ignoreLabel && obj.metadata?.labels?.[guard.ignoreLabel] !== undefined) return false;
  return obj.metadata?.finalizers?.includes(guard.finalizer) ?? false;
}
