import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../k8s/types.ts';
import { blockingWebhooks, type Holder } from './diagnose.ts';

const holder: Holder = {
  ref: { apiVersion: 'helm.toolkit.fluxcd.io/v2', kind: 'HelmRelease', namespace: 'apps', name: 'podinfo' },
  resource: 'helmreleases.helm.toolkit.fluxcd.io',
  finalizers: ['finalizers.fluxcd.io'],
};
const config = (name: string, webhook: Record<string, unknown>): KubeObject => ({
  apiVersion: 'admissionregistration.k8s.io/v1',
  kind: 'ValidatingWebhookConfiguration',
  metadata: { name },
  webhooks: [{ name: `${name}.example.io`, clientConfig: { service: { namespace: 'op', name: 'webhook' } }, ...webhook }],
});
const updates = { rules: [{ apiGroups: ['helm.toolkit.fluxcd.io'], resources: ['helmreleases'], operations: ['UPDATE'] }] };

describe('blockingWebhooks', () => {
  it('names a webhook failing closed (explicitly or by default) on UPDATE of a holder, whose Service is gone', () => {
    const found = blockingWebhooks([config('explicit', { ...updates, failurePolicy: 'Fail' }), config('default', updates)], [holder], () => false);
    expect(found.map((w) => [w.configuration, w.resources])).toEqual([
      ['explicit', ['helmreleases.helm.toolkit.fluxcd.io']],
      ['default', ['helmreleases.helm.toolkit.fluxcd.io']],
    ]);
  });
  it('leaves out webhooks that ignore failures, whose Service exists, or that do not intercept updates of the holders', () => {
    const configs = [
      config('ignore', { ...updates, failurePolicy: 'Ignore' }),
      config('creates', { rules: [{ apiGroups: ['*'], resources: ['*'], operations: ['CREATE'] }] }),
      config('pods', { rules: [{ apiGroups: [''], resources: ['pods'], operations: ['*'] }] }),
    ];
    expect(blockingWebhooks(configs, [holder], () => false)).toEqual([]);
    expect(blockingWebhooks([config('alive', updates)], [holder], () => true)).toEqual([]);
  });
});
