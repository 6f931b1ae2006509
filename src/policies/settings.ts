// The part of the configuration the policies read. Produced (validated) by src/config.ts.
import type { FinalizerGuard } from '../finalizers/guard.ts';

export type { ControllerSpec, FinalizerGuard } from '../finalizers/guard.ts';

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
