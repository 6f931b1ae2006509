// A host program next to a test cluster must stop with it (test/cluster/README.md: processes that
// stop by themselves).
import { existsSync } from 'node:fs';
import type { ControlPlane } from './controlPlane.ts';
import type { Daemon } from './proc.ts';

/** How long the API server may stay unreachable before the program is stopped as orphaned. */
const ORPHANED_AFTER_MS = 30_000;

/**
 * Stops a program run next to the cluster (Flux's helm-controller, Kyverno) once the cluster is
 * gone, so it never outlives the control plane: its dir removed, or its API server unreachable for
 * ORPHANED_AFTER_MS. Returns the cancel function.
 */
export function stopWithCluster(cp: ControlPlane, d: Daemon, name: string, log: (line: string) => void): () => void {
  let unreachableSince: number | undefined;
  const timer = setInterval(() => {
    if (!d.isRunning()) return clearInterval(timer);
    if (!existsSync(cp.dir)) {
      log(`${name}: the cluster dir is gone, stopping it`);
      void d.stop(2000);
      return;
    }
    void cp.client
      .request('GET', '/readyz', { timeoutMs: 2000 })
      .then(
        (r) => {
          unreachableSince = r.status === 200 ? undefined : (unreachableSince ?? Date.now());
        },
        () => {
          unreachableSince ??= Date.now();
        },
      )
      .finally(() => {
        if (unreachableSince !== undefined && Date.now() - unreachableSince > ORPHANED_AFTER_MS && d.isRunning()) {
          log(`${name}: API server unreachable for ${ORPHANED_AFTER_MS / 1000}s, stopping it`);
          void d.stop(2000);
        }
      });
  }, 1000);
  timer.unref();
  return () => clearInterval(timer);
}
