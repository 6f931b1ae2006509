// The namespace-DELETE checks that read live (inferred-finalizers, apiservice-backends,
// webhook-backends) look first through kube-apiserver's watch cache, which answers at once, and
// read consistently only to confirm what they would report (src/ARCHITECTURE.md §3). A consistent
// list waits until that cache has caught up with etcd, up to one progress-notify period after
// other writes: most namespace DELETEs, which find nothing, no longer pay it, while every finding
// still stands on reads as fresh as etcd, so a teardown that has just removed what a check looks
// for (an APIService, a webhook, a controller's finalizer) is never flagged from the cache's lag.
import type { ClusterView, ReviewContext } from '../cluster/view.ts';
import type { Finding } from './types.ts';

/** Outside an admission review (`check`, tests that call evaluate): no deadline, consistent lists. */
const NO_REVIEW: ReviewContext = { freshness: 'consistent' };

export async function confirmedFindings(
  { view, review = NO_REVIEW }: { view: ClusterView; review?: ReviewContext },
  check: (view: ClusterView) => Promise<Finding[]>,
): Promise<Finding[]> {
  // A view whose reads have no such cost answers the watch-cache pass with itself: one pass then.
  // The deadline read through, not copied: copying it would make it (ReviewContext) before any read needs it.
  const fast = view.forReview({
    freshness: 'watch-cache',
    get deadline() {
      return review.deadline;
    },
  });
  if (fast !== view && (await check(fast)).length === 0) return [];
  return check(view);
}
