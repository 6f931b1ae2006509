import { describe, expect, it } from 'vitest';
import { review } from '../../test/support/admissionRequests.ts';
import { bareCluster, namespace } from '../../test/support/clusterState.ts';
import { decide } from '../../test/support/decide.ts';
import type { ClusterSnapshot } from '../../test/support/snapshotView.ts';
import type { KubeObject } from '../k8s/types.ts';

// APIServices as kube-apiserver 1.36 reports them (test/integration/scenariosOperators.test.ts
// reads the same fields off the real metrics-server one): spec.service, and the Available
// condition kube-aggregator sets (FailedDiscoveryCheck, ServiceNotFound, ...).
const apiService = (name: string, service: { namespace: string; name: string } | null, available: boolean, reason = 'FailedDiscoveryCheck'): KubeObject => ({
  apiVersion: 'apiregistration.k8s.io/v1',
  kind: 'APIService',
  metadata: { name },
  spec: { service, group: name.split('.').slice(1).join('.'), version: name.split('.')[0] },
  status: { conditions: [{ type: 'Available', status: available ? 'True' : 'False', reason: available ? 'Passed' : reason }] },
});

function cluster(apiServices: KubeObject[]): ClusterSnapshot {
  return bareCluster(['metrics', 'apps'], { apiServices: [apiService('v1.apps', null, true), ...apiServices] });
}

const METRICS = apiService('v1beta1.metrics.k8s.io', { namespace: 'metrics', name: 'metrics-server' }, true);
const deleteNs = (ns: string) => review('DELETE', namespace(ns));

describe('apiservice-backends: DELETE namespace', () => {
  it("denies (enforce) deleting the namespace of a registered APIService's backend, naming it and the fix", async () => {
    const { response } = await decide(deleteNs('metrics'), cluster([METRICS]), { modes: { 'apiservice-backends': 'enforce' } });
    expect(response.allowed).toBe(false);
    const msg = response.status?.message ?? '';
    expect(msg).toContain('APIService v1beta1.metrics.k8s.io -> Service metrics/metrics-server');
    expect(msg).toContain('kubectl delete apiservice v1beta1.metrics.k8s.io');
  });

  it('warns that any other namespace waits while an APIService is unavailable, and is silent while all are Available', async () => {
    const down = apiService('v1beta1.metrics.k8s.io', { namespace: 'metrics', name: 'metrics-server' }, false);
    const waiting = await decide(deleteNs('apps'), cluster([down]), { modes: { 'apiservice-backends': 'enforce' } });
    expect(waiting.response.allowed).toBe(true);
    expect((waiting.response.warnings ?? []).join('\n')).toContain(
      'namespace apps will stay Terminating while APIService v1beta1.metrics.k8s.io is unavailable (FailedDiscoveryCheck)',
    );
    const fine = await decide(deleteNs('apps'), cluster([METRICS]), { modes: { 'apiservice-backends': 'enforce' } });
    expect(fine.response.warnings).toBeUndefined();
    expect(fine.decisions.filter((d) => d.policy === 'apiservice-backends').map((d) => d.verdict)).toEqual(['allow']);
  });

  it('answers undecided, not allowed silently, when the APIServices cannot be read', async () => {
    const { decisions } = await decide(deleteNs('metrics'), cluster([METRICS]), {
      modes: { 'apiservice-backends': 'enforce' },
      live: { failWith: 'forbidden' },
    });
    expect(decisions.filter((d) => d.policy === 'apiservice-backends').map((d) => d.verdict)).toEqual(['undecided']);
  });
});
