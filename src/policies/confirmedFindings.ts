// The namespace-DELETE checks that read live (inferred-finalizers, apiservice-backends,
// webhook-backends) look first through kube-apiserver's watch cache, which answers at once, and
// read consistently only to confirm what they would report (src/ARCHITECTURE.md §3). A consistent
// list waits until that cache has caught up with etcd, up to one progress-notify period after
// other writes: most namespace DELETEs, which find nothing, no longer pay it, while every finding
// still stands on reads as fresh as etcd, so a teardown that has just removed what a check looks
// for (an APIService, a webhook, a controller's finalizer) is never flagged from the cache's lag.
import type { ClusterView } from '../cluster/view.ts';
import type { Finding } from './types.ts';

export async function confirmedFindings(view: ClusterView, check: (view: ClusterView) => Promise<Finding[]>): Promise<Finding[]> {
  const fast = view.watchCacheLists;
  if (fast && (await check(fast.call(view))).length === 0) return [];
  return check(view);
}
