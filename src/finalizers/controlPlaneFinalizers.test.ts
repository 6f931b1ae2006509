import { describe, expect, it } from 'vitest';
import { kubernetesProjectFinalizer, removedByControlPlane } from './controlPlaneFinalizers.ts';

describe('removedByControlPlane', () => {
  it('holds the finalizers kube-apiserver and kube-controller-manager remove themselves', () => {
    for (const f of [
      'kubernetes',
      'orphan',
      'foregroundDeletion',
      'kubernetes.io/pvc-protection',
      'kubernetes.io/pv-protection',
      'kubernetes.io/vac-protection',
      'batch.kubernetes.io/job-tracking',
      'resource.kubernetes.io/delete-protection',
      'networking.k8s.io/service-cidr-finalizer',
      'customresourcecleanup.apiextensions.k8s.io',
    ]) {
      expect(removedByControlPlane(f), f).toBe(true);
    }
  });

  it("leaves operators' finalizers to a guard or to inference, including look-alike domains", () => {
    for (const f of [
      'operators.coreos.com/csv-cleanup',
      'apps.victoriametrics.com/finalizer',
      'starrocks.com/protection',
      'example.kubernetes.io.evil.com/x',
      'kubernetes.io.example/x',
      'Kubernetes',
      'orphaned',
    ]) {
      expect(removedByControlPlane(f), f).toBe(false);
    }
  });

  it("tells project add-ons' finalizers (removed by a sidecar, not the control plane) from both", () => {
    expect(kubernetesProjectFinalizer('external-provisioner.volume.kubernetes.io/finalizer')).toBe(true);
    expect(kubernetesProjectFinalizer('snapshot.storage.kubernetes.io/volumesnapshot-bound-protection')).toBe(true);
    expect(kubernetesProjectFinalizer('kubernetes.io/pvc-protection')).toBe(false);
    expect(kubernetesProjectFinalizer('batch.kubernetes.io/job-tracking')).toBe(false);
    expect(kubernetesProjectFinalizer('example.kubernetes.io.evil.com/x')).toBe(false);
    expect(kubernetesProjectFinalizer('apps.victoriametrics.com/finalizer')).toBe(false);
    // A domain alone is a finalizer too; domains are case-insensitive.
    expect(kubernetesProjectFinalizer('snapshot.storage.kubernetes.io')).toBe(true);
    expect(kubernetesProjectFinalizer('Addon.K8S.io/cleanup')).toBe(true);
    expect(kubernetesProjectFinalizer('cluster.x-k8s.io')).toBe(false);
    expect(kubernetesProjectFinalizer('cleanup')).toBe(false);
  });
});
