// Karpenter (KWOK provider) v1.13.0, the NodeClaim lifecycle controller's finalizer handling
// (sigs.k8s.io/karpenter pkg/controllers/nodeclaim/lifecycle/controller.go):
//   - Controller.Reconcile: a NodeClaim that is managed (nodeclaimutils.IsManaged: its
//     spec.nodeClassRef group/kind is one the cloud provider supports; KWOK's is
//     karpenter.kwok.sh/KWOKNodeClass) gets karpenter.sh/termination at once, "since we shouldn't
//     launch if we don't yet have the finalizer", by a merge patch carrying the resourceVersion
//     (client.MergeFromWithOptimisticLock). Launching then follows; the stand-in never launches
//     (the KWOK provider would create a fake Node), see test/operators/README.md.
//   - Controller.finalize: the termination-timestamp annotation when spec.terminationGracePeriod
//     is set; if Registered, the Nodes with its providerID deleted and waited for; if it has a
//     providerID, the instance deleted (KWOK: its Node); then the finalizer removed by the same
//     kind of patch. A NodeClaim that never launched (no providerID) loses it at once.
import type { Behaviour } from './context.ts';
import { deleting, hasFinalizer, type KubeObject } from './kube.ts';

const FINALIZER = 'karpenter.sh/termination';
const TERMINATION_TIMESTAMP = 'karpenter.sh/nodeclaim-termination-timestamp';
const NODECLAIMS = '/apis/karpenter.sh/v1/nodeclaims';

type NodeClaim = KubeObject & {
  spec?: { nodeClassRef?: { group?: string; kind?: string }; terminationGracePeriod?: string };
  status?: { providerID?: string; conditions?: Array<{ type: string; status: string }> };
};
type Node = KubeObject & { spec?: { providerID?: string } };

/** Go's time.ParseDuration for the forms the CRD allows (e.g. 1h30m, 90s). */
function durationMs(d: string): number {
  let ms = 0;
  for (const m of d.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s)/g)) ms += Number(m[1]) * { h: 3_600_000, m: 60_000, s: 1000, ms: 1 }[m[2] as 'h' | 'm' | 's' | 'ms'];
  return ms;
}

export const karpenterController: Behaviour = async (s) => {
  const claims = s.informer<NodeClaim>(NODECLAIMS);
  const managed = (c: NodeClaim) => c.spec?.nodeClassRef?.group === 'karpenter.kwok.sh' && c.spec?.nodeClassRef?.kind === 'KWOKNodeClass';
  const patch = (c: NodeClaim, body: Record<string, unknown>) =>
    s.client.must('PATCH', `${NODECLAIMS}/${c.metadata.name}`, { body, contentType: 'application/merge-patch+json' });

  s.loop('nodeclaim.lifecycle', claims, async (c) => {
    if (!managed(c)) return 'done';
    const finalizers = c.metadata.finalizers ?? [];
    if (!deleting(c)) {
      if (hasFinalizer(c, FINALIZER)) return 'done';
      await patch(c, { metadata: { finalizers: [...finalizers, FINALIZER], resourceVersion: c.metadata.resourceVersion } });
      s.log(`nodeclaim ${c.metadata.name}: added ${FINALIZER}`);
      return 'done';
    }
    if (!hasFinalizer(c, FINALIZER)) return 'done';
    if (c.spec?.terminationGracePeriod && !c.metadata.annotations?.[TERMINATION_TIMESTAMP]) {
      const at = new Date(Date.parse(c.metadata.deletionTimestamp!) + durationMs(c.spec.terminationGracePeriod)).toISOString().replace(/\.\d+Z$/, 'Z');
      await patch(c, { metadata: { annotations: { [TERMINATION_TIMESTAMP]: at }, resourceVersion: c.metadata.resourceVersion } });
      return 'retry';
    }
    const providerID = c.status?.providerID;
    const registered = c.status?.conditions?.some((x) => x.type === 'Registered' && x.status === 'True');
    if (providerID) {
      const nodes = (await s.client.must<{ items: Node[] }>('GET', '/api/v1/nodes')).items.filter((n) => n.spec?.providerID === providerID);
      for (const n of nodes) if (!deleting(n)) await s.client.request('DELETE', `/api/v1/nodes/${n.metadata.name}`);
      if (registered && nodes.length > 0) {
        s.log(`nodeclaim ${c.metadata.name}: waiting for ${nodes.length} node(s) to go`);
        return 'retry';
      }
    }
    await patch(c, { metadata: { finalizers: finalizers.filter((f) => f !== FINALIZER), resourceVersion: c.metadata.resourceVersion } });
    s.log(`nodeclaim ${c.metadata.name}: removed ${FINALIZER}`);
    return 'done';
  });
};
