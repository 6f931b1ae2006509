// Stand-in for test/cluster/controlPlane.ts in the kind e2e run (see vitest.config.ts): the same
// exports, except that startControlPlane() connects to the kind cluster run.sh created instead
// of starting a loopback one. Everything else is the real module's.
import type { ControlPlane, ControlPlaneOptions } from '../../cluster/controlPlane.ts';
import { connectCluster } from './cluster.ts';

export * from '../../cluster/controlPlane.ts';

export function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  return connectCluster(opts);
}
