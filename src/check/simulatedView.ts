// A ClusterView as it would look part-way through an uninstall: the release marked
// `uninstalling`, and the objects deleted so far gone. Reads of anything else pass through.
import { overlayView, type ClusterView, type NamespaceState, type ReleaseRecordMeta } from '../cluster/view.ts';
import type { KubeObject } from '../k8s/types.ts';

export interface SimulatedUninstall extends ClusterView {
  /** Records an object as deleted by the simulated uninstall. */
  remove(kind: string, namespace: string | undefined, name: string): void;
}

export function simulateUninstall(base: ClusterView, release: { namespace: string; name: string }): SimulatedUninstall {
  const removed = new Set<string>();
  const key = (kind: string, ns: string | undefined, name: string) => `${kind}/${ns ?? ''}/${name}`;
  const isRemoved = (kind: string, obj: KubeObject) => removed.has(key(kind, obj.metadata?.namespace, obj.metadata?.name ?? ''));
  const markUninstalling = (records: ReleaseRecordMeta[]): ReleaseRecordMeta[] => {
    const own = records.filter((r) => r.namespace === release.namespace && r.release === release.name);
    const latest = own.reduce<number>((max, r) => Math.max(max, r.version), 0);
    return records.map((r) => (r.namespace === release.namespace && r.release === release.name && r.version === latest ? { ...r, status: 'uninstalling' } : r));
  };
  const grants = base.liveServiceAccountGrants?.bind(base);
  const workloads = base.liveWorkloads?.bind(base);
  // Every read not below is base's own (overlayView): only what the uninstall changes is stated.
  return overlayView<SimulatedUninstall>(base, {
    getNamespace(name): NamespaceState | undefined {
      const ns = base.getNamespace(name);
      if (!ns || !removed.has(key('Namespace', undefined, name))) return ns;
      return { ...ns, deletionTimestamp: ns.deletionTimestamp ?? new Date(0).toISOString(), phase: 'Terminating' };
    },
    listDeployments: (selector, namespace) => base.listDeployments(selector, namespace).filter((d) => !isRemoved('Deployment', d)),
    clusterRoleBindingsFor: (ns, sa) => base.clusterRoleBindingsFor(ns, sa).filter((b) => !isRemoved('ClusterRoleBinding', b)),
    clusterRoleExists: (name) => !removed.has(key('ClusterRole', undefined, name)) && base.clusterRoleExists(name),
    releaseRecords: (name) => markUninstalling(base.releaseRecords(name)),
    liveReleaseRecords: async (name) => markUninstalling(await base.liveReleaseRecords(name)),
    async liveDeployment(namespace, name) {
      if (removed.has(key('Deployment', namespace, name))) return undefined;
      return base.liveDeployment(namespace, name);
    },
    // Inference (ARCHITECTURE.md §1E) reads through too, without the workloads, bindings and roles deleted so far.
    ...(grants
      ? {
          liveServiceAccountGrants: async (ns: string) =>
            (await grants(ns)).filter(
              (g) =>
                !(g.binding && removed.has(key(g.binding.kind, g.binding.namespace, g.binding.name))) &&
                !(g.role && removed.has(key(g.role.kind, g.role.kind === 'Role' ? g.binding?.namespace : undefined, g.role.name))),
            ),
        }
      : {}),
    ...(workloads ? { liveWorkloads: async (ns: string) => (await workloads(ns)).filter((w) => !isRemoved(w.kind ?? '', w)) } : {}),
    // `check` runs outside any admission review: its live reads keep their per-call budget only.
    forReview(this: ClusterView): ClusterView {
      return this;
    },
    remove(kind, namespace, name) {
      removed.add(key(kind, namespace, name));
    },
  });
}
