// A cached Namespace as policies read it (ClusterView.getNamespace).
import type { KubeObject } from '../k8s/types.ts';
import type { NamespaceState } from './view.ts';

const states = new WeakMap<KubeObject, NamespaceState>();

/**
 * A cached Namespace as policies see it, built once per cached object (the cache replaces the
 * object on every change): a namespace DELETE asks for its namespace once per policy and precheck.
 */
export function namespaceState(ns: KubeObject): NamespaceState {
  let state = states.get(ns);
  if (!state) {
    const phase = (ns['status'] as { phase?: unknown } | undefined)?.phase;
    state = Object.freeze({
      name: ns.metadata?.name ?? '',
      labels: { ...ns.metadata?.labels },
      ...(ns.metadata?.deletionTimestamp ? { deletionTimestamp: ns.metadata.deletionTimestamp } : {}),
      ...(typeof phase === 'string' ? { phase } : {}),
    });
    states.set(ns, state);
  }
  return state;
}
