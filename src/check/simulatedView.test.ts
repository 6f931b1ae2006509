// check's simulated uninstall states only what the uninstall changes (overlayView): what it
// removed is gone or Terminating, the release's latest record says uninstalling, and every other
// read, the optional inference reads included, is the base view's.
import { describe, expect, it } from 'vitest';
import { olmCluster, recordMeta } from '../../test/support/clusterState.ts';
import { createSnapshotView } from '../../test/support/snapshotView.ts';
import { simulateUninstall } from './simulatedView.ts';

describe('simulateUninstall', () => {
  const base = createSnapshotView({
    ...olmCluster(),
    releaseRecords: [recordMeta('olm', 'olm', 1, 'superseded'), recordMeta('olm', 'olm', 2, 'deployed')],
    grants: [
      {
        serviceAccount: { namespace: 'olm', name: 'olm-operator-serviceaccount' },
        via: 'ClusterRoleBinding olm-operator-binding-olm -> ClusterRole system:controller:operator-lifecycle-manager',
        binding: { kind: 'ClusterRoleBinding', name: 'olm-operator-binding-olm' },
        role: { kind: 'ClusterRole', name: 'system:controller:operator-lifecycle-manager' },
        rules: [],
      },
    ],
  });

  it('before anything is removed it reads as the base, except the release record it marks uninstalling', async () => {
    const sim = simulateUninstall(base, { namespace: 'olm', name: 'olm' });
    expect(sim.getNamespace('olm')).toEqual(base.getNamespace('olm'));
    expect(sim.listDeployments('app=olm-operator')).toHaveLength(1);
    expect(sim.releaseRecords('olm').map((r) => [r.version, r.status])).toEqual([
      [1, 'superseded'],
      [2, 'uninstalling'],
    ]);
    expect(await sim.liveServiceAccountGrants?.('olm')).toHaveLength(1);
    // Reads it does not override are the base's own, optional ones included.
    expect(sim.isNamespaced('v1', 'Namespace')).toBe(base.isNamespaced('v1', 'Namespace'));
    expect(await sim.liveApiServices?.()).toEqual(await base.liveApiServices?.());
    expect(sim.forReview({ freshness: 'watch-cache' })).toBe(sim);
  });

  it('what the uninstall removed is gone, or Terminating for a namespace; grants through a removed binding are gone', async () => {
    const sim = simulateUninstall(base, { namespace: 'olm', name: 'olm' });
    sim.remove('Deployment', 'olm', 'olm-operator');
    sim.remove('Namespace', undefined, 'px-operator');
    sim.remove('ClusterRoleBinding', undefined, 'olm-operator-binding-olm');
    sim.remove('ClusterRole', undefined, 'system:controller:operator-lifecycle-manager');
    expect(sim.listDeployments('app=olm-operator')).toEqual([]);
    expect(await sim.liveDeployment('olm', 'olm-operator')).toBeUndefined();
    expect(sim.getNamespace('px-operator')).toMatchObject({ phase: 'Terminating', deletionTimestamp: expect.any(String) });
    expect(sim.clusterRoleBindingsFor('olm', 'olm-operator-serviceaccount')).toEqual([]);
    expect(sim.clusterRoleExists('system:controller:operator-lifecycle-manager')).toBe(false);
    expect(await sim.liveServiceAccountGrants?.('olm')).toEqual([]);
    expect(await sim.liveWorkloads?.('olm')).toEqual([]);
    // The base is untouched.
    expect(base.listDeployments('app=olm-operator')).toHaveLength(1);
    expect(base.getNamespace('px-operator')?.deletionTimestamp).toBeUndefined();
  });
});
