// The supervisor (test/cluster/olmSupervisor.ts) picks a host binary by the image a Deployment's
// container names; tags, digests and registry ports must not change which program that is.
import { describe, expect, it } from 'vitest';
import { imageName } from '../cluster/olmSupervisor.ts';

describe('imageName', () => {
  it('drops the tag', () => expect(imageName('ghcr.io/fluxcd/helm-controller:v1.6.4')).toBe('ghcr.io/fluxcd/helm-controller'));
  it('drops the digest', () =>
    expect(imageName('registry.k8s.io/metrics-server/metrics-server@sha256:abc')).toBe('registry.k8s.io/metrics-server/metrics-server'));
  it('drops tag and digest together', () => expect(imageName('ghcr.io/fluxcd/helm-controller:v1.6.4@sha256:abc')).toBe('ghcr.io/fluxcd/helm-controller'));
  it('keeps a registry port', () => expect(imageName('localhost:5000/helm-controller')).toBe('localhost:5000/helm-controller'));
  it('keeps a registry port and drops the tag', () => expect(imageName('localhost:5000/helm-controller:v1')).toBe('localhost:5000/helm-controller'));
});
