// The control plane one integration test file runs against (test/cluster/README.md, "Lanes, and
// one control plane per lane"): its lane's shared one when the lane started it
// (sharedClusterSetup.ts) and the file asks for nothing a shared cluster cannot give (a node,
// API-server flags, the audit webhook backend); a control plane of its own otherwise. Either way
// `cp.stop()` in the file's afterAll gives it back.
import { inject } from 'vitest';
import { startControlPlane, type ControlPlane, type ControlPlaneOptions } from './controlPlane.ts';
import { attachControlPlane } from './sharedCluster.ts';

export async function controlPlaneForFile(o: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const shared = inject('sharedCluster');
  const ownNeeded = o.node || o.auditWebhook || o.apiserverArgs?.length || o.keepDir || o.parentDir || o.hostHookJobs === false;
  if (!shared || ownNeeded) return startControlPlane(o);
  return attachControlPlane(shared, { olm: o.olm ?? 'none', ...(o.log ? { log: o.log } : {}) });
}
