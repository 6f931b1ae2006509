import { describe, expect, it } from 'vitest';
import { review } from '../../test/support/admissionRequests.ts';
import { bareCluster, configMapWebhook, namespace } from '../../test/support/clusterState.ts';
import { decide } from '../../test/support/decide.ts';
import type { ClusterSnapshot } from '../../test/support/snapshotView.ts';

// The webhook is the shape test/integration/webhookBackends.test.ts creates on the real control plane.
const hook = configMapWebhook;

function cluster(service: { namespace: string; name: string }): ClusterSnapshot {
  return bareCluster(['apps'], {
    finalized: [{ group: '', version: 'v1', resource: 'configmaps', kind: 'ConfigMap', namespace: 'apps', name: 'state', finalizers: ['example.io/keep'] }],
    webhookConfigurations: [hook(service)],
  });
}

const enforce = { modes: { 'webhook-backends': 'enforce' as const } };
const verdicts = (ds: Array<{ policy: string; verdict: string }>) => ds.filter((d) => d.policy === 'webhook-backends').map((d) => d.verdict);

describe('webhook-backends: DELETE namespace', () => {
  it('denies when the Service is gone (live read: not found), warns when it is in the namespace being deleted, is silent while it exists elsewhere', async () => {
    const gone = await decide(review('DELETE', namespace('apps')), cluster({ namespace: 'op', name: 'missing' }), enforce);
    expect(gone.response.allowed).toBe(false);
    expect(gone.response.status?.message).toContain('kubectl delete validatingwebhookconfiguration configmap-policy');
    const inside = await decide(review('DELETE', namespace('apps')), cluster({ namespace: 'apps', name: 'hook' }), {
      ...enforce,
      live: { objects: new Map([['Service apps/hook', 'exists']]) },
    });
    expect(inside.response.allowed).toBe(true);
    expect((inside.response.warnings ?? []).join('\n')).toContain('deletes Service apps/hook');
    const alive = await decide(review('DELETE', namespace('apps')), cluster({ namespace: 'op', name: 'hook' }), {
      ...enforce,
      live: { objects: new Map([['Service op/hook', 'exists']]) },
    });
    expect(verdicts(alive.decisions)).toEqual(['allow']);
  });

  it('is silent, never undecided, when a read fails', async () => {
    const r = await decide(review('DELETE', namespace('apps')), cluster({ namespace: 'op', name: 'missing' }), {
      ...enforce,
      undecided: 'deny',
      live: { failWith: 'forbidden' },
    });
    expect(verdicts(r.decisions)).toEqual(['allow']);
  });
});
