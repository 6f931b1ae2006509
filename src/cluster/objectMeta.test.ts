import { describe, expect, it } from 'vitest';
import { slimNamespace, toPartialObjectMetadata, trimFullObject } from './objectMeta.ts';

describe('cached object shapes', () => {
  const secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'helm.sh/release.v1',
    data: { release: 'SDRzSUFBQUFBQUFBLzZ...' },
    metadata: {
      name: 'sh.helm.release.v1.web.v1',
      namespace: 'helm-test',
      uid: 'u1',
      resourceVersion: '42',
      labels: { owner: 'helm', name: 'web' },
      annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"data":{"release":"..."}}', note: 'kept' },
      finalizers: ['x/y'],
      managedFields: [{ manager: 'helm' }],
      creationTimestamp: '2025-01-01T00:00:00Z',
    },
  };

  it('metadata projection keeps only the fields the policies read: no data, no annotations, no uid', () => {
    const projected = toPartialObjectMetadata(secret);
    expect(projected).toEqual({
      apiVersion: 'meta.k8s.io/v1',
      kind: 'PartialObjectMetadata',
      metadata: {
        name: 'sh.helm.release.v1.web.v1',
        namespace: 'helm-test',
        resourceVersion: '42',
        labels: { owner: 'helm', name: 'web' },
        finalizers: ['x/y'],
      },
    });
    expect(JSON.stringify(projected)).not.toContain('SDRz');
    expect(projected.metadata).not.toHaveProperty('annotations');
  });

  it('full objects lose managedFields and the last-applied copy', () => {
    const full = trimFullObject(secret);
    expect(full.metadata).not.toHaveProperty('managedFields');
    expect(full.metadata?.annotations).toEqual({ note: 'kept' });
    expect(full['type']).toBe('helm.sh/release.v1');
    expect(secret.metadata.managedFields).toHaveLength(1); // the input is not mutated
  });

  it('a Namespace keeps its name, labels, deletionTimestamp and phase', () => {
    const terminating = {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'apps', uid: 'u2', resourceVersion: '7', labels: { 'kubernetes.io/metadata.name': 'apps' }, deletionTimestamp: '2026-12-07T10:00:00Z' },
      spec: { finalizers: ['kubernetes'] },
      status: { phase: 'Terminating', conditions: [{ type: 'NamespaceDeletionContentFailure', status: 'False' }] },
    };
    expect(slimNamespace(terminating)).toEqual({
      metadata: { name: 'apps', resourceVersion: '7', labels: { 'kubernetes.io/metadata.name': 'apps' }, deletionTimestamp: '2026-12-07T10:00:00Z' },
      status: { phase: 'Terminating' },
    });
  });
});
