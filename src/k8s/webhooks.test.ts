import { describe, expect, it } from 'vitest';
import type { KubeObject } from './types.ts';
import { failClosedUpdateTypes, failClosedWebhooks } from './webhooks.ts';

const HR = 'helmreleases.helm.toolkit.fluxcd.io';
const config = (name: string, webhook: Record<string, unknown>): KubeObject => ({
  apiVersion: 'admissionregistration.k8s.io/v1',
  kind: 'ValidatingWebhookConfiguration',
  metadata: { name },
  webhooks: [{ name: `${name}.example.io`, clientConfig: { service: { namespace: 'op', name: 'webhook' } }, ...webhook }],
});
const updates = { rules: [{ apiGroups: ['helm.toolkit.fluxcd.io'], resources: ['helmreleases'], operations: ['UPDATE'] }] };

describe('failClosedWebhooks', () => {
  it('names a webhook failing closed (explicitly or by default) on UPDATE of a holder, whose Service is gone', () => {
    const found = failClosedWebhooks([config('explicit', { ...updates, failurePolicy: 'Fail' }), config('default', updates)], [HR], {}, () => true);
    expect(found.map((w) => [w.configuration, w.resources])).toEqual([
      ['explicit', [HR]],
      ['default', [HR]],
    ]);
  });
  it('leaves out webhooks that ignore failures, whose Service exists, or that do not intercept updates of the holders', () => {
    const configs = [
      config('ignore', { ...updates, failurePolicy: 'Ignore' }),
      config('creates', { rules: [{ apiGroups: ['*'], resources: ['*'], operations: ['CREATE'] }] }),
      config('pods', { rules: [{ apiGroups: [''], resources: ['pods'], operations: ['*'] }] }),
    ];
    expect(failClosedWebhooks(configs, [HR], {}, () => true)).toEqual([]);
    expect(failClosedWebhooks([config('alive', updates)], [HR], {}, () => false)).toEqual([]);
  });
  it('evaluates the namespaceSelector, and leaves out a webhook with an objectSelector (it may skip the objects)', () => {
    const selective = config('selective', { ...updates, namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'In', values: ['a'] }] } });
    expect(failClosedWebhooks([selective], [HR], { team: 'a' }, () => true).map((w) => w.configuration)).toEqual(['selective']);
    expect(failClosedWebhooks([selective], [HR], { team: 'b' }, () => true)).toEqual([]);
    expect(failClosedWebhooks([config('objects', { ...updates, objectSelector: { matchLabels: { managed: 'yes' } } })], [HR], {}, () => true)).toEqual([]);
  });
});

describe('failClosedUpdateTypes', () => {
  const hr = { group: 'helm.toolkit.fluxcd.io', resource: 'helmreleases' };
  const cm = { group: '', resource: 'configmaps' };
  it('wants the types a fail-closed webhook intercepts on UPDATE in a namespace so labelled, whatever its Service', () => {
    const wanted = failClosedUpdateTypes([config('default', updates)], {});
    expect([hr, cm].filter((t) => wanted?.(t))).toEqual([hr]);
  });
  it('is undefined (no sweep at all) when no webhook could fail closed there', () => {
    expect(failClosedUpdateTypes([], {})).toBeUndefined();
    expect(failClosedUpdateTypes([config('ignore', { ...updates, failurePolicy: 'Ignore' })], {})).toBeUndefined();
    const selective = config('selective', { ...updates, namespaceSelector: { matchLabels: { team: 'a' } } });
    expect(failClosedUpdateTypes([selective], { team: 'b' })).toBeUndefined();
    expect(failClosedUpdateTypes([selective], { team: 'a' })?.(hr)).toBe(true);
  });
});
