import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { toRecord } from './event.ts';
import { fromGoogleCloudAuditEntry, parseKubernetesOperation } from './googleCloudAuditEntry.ts';

const sample = (name: string) =>
  JSON.parse(readFileSync(new URL(`../../test/fixtures/audit/managed/public-samples/${name}`, import.meta.url), 'utf8')) as Record<string, unknown>;

describe('parseKubernetesOperation (methodName + resourceName)', () => {
  it.each([
    // Pairs as GKE writes them (Google's Kubernetes History Inspector tests them the same way).
    [
      'io.k8s.core.v1.nodes.status.patch',
      'core/v1/nodes/node-1/status',
      { apiGroup: '', resource: 'nodes', name: 'node-1', subresource: 'status', verb: 'patch', requestURI: '/api/v1/nodes/node-1/status' },
    ],
    [
      'io.k8s.core.v1.pods.create',
      'core/v1/namespaces/default/pods/nginx',
      { resource: 'pods', namespace: 'default', name: 'nginx', verb: 'create', requestURI: '/api/v1/namespaces/default/pods/nginx' },
    ],
    [
      'io.k8s.core.v1.namespaces.delete',
      'core/v1/namespaces/test-ns',
      { resource: 'namespaces', name: 'test-ns', verb: 'delete', requestURI: '/api/v1/namespaces/test-ns' },
    ],
    [
      'io.k8s.apps.v1.deployments.scale.update',
      'apps/v1/namespaces/kube-system/deployments/coredns/scale',
      { apiGroup: 'apps', resource: 'deployments', namespace: 'kube-system', name: 'coredns', subresource: 'scale', verb: 'update' },
    ],
    // A namespace's own subresource is not a collection in it.
    [
      'io.k8s.core.v1.namespaces.finalize.update',
      'core/v1/namespaces/px-operator/finalize',
      { resource: 'namespaces', name: 'px-operator', subresource: 'finalize', verb: 'update' },
    ],
    [
      'io.k8s.core.v1.secrets.list',
      'core/v1/namespaces/helm-test/secrets',
      { resource: 'secrets', namespace: 'helm-test', verb: 'list', requestURI: '/api/v1/namespaces/helm-test/secrets' },
    ],
    [
      'io.k8s.authorization.rbac.v1.clusterroles.delete',
      'rbac.authorization.k8s.io/v1/clusterroles/olm',
      {
        apiGroup: 'rbac.authorization.k8s.io',
        resource: 'clusterroles',
        name: 'olm',
        verb: 'delete',
        requestURI: '/apis/rbac.authorization.k8s.io/v1/clusterroles/olm',
      },
    ],
    // A custom resource: the group comes from resourceName, whatever prefix methodName has.
    [
      'com.coreos.operators.v1alpha1.clusterserviceversions.delete',
      'operators.coreos.com/v1alpha1/namespaces/ops/clusterserviceversions/demo.v1',
      { apiGroup: 'operators.coreos.com', apiVersion: 'v1alpha1', resource: 'clusterserviceversions', namespace: 'ops', name: 'demo.v1', verb: 'delete' },
    ],
    [
      'io.k8s.operators.coreos.com.v1alpha1.clusterserviceversions.deletecollection',
      'operators.coreos.com/v1alpha1/namespaces/ops/clusterserviceversions',
      { resource: 'clusterserviceversions', namespace: 'ops', verb: 'deletecollection' },
    ],
  ])('%s %s', (method, resource, want) => {
    expect(parseKubernetesOperation(method, resource)).toMatchObject(want);
  });

  it('refuses names it cannot read', () => {
    expect(parseKubernetesOperation('io.k8s.core.v1.pods.create', 'core/v1')).toBeUndefined();
    expect(parseKubernetesOperation('google.container.v1.ClusterManager.CreateCluster', 'projects/p/zones/z/clusters/c')).toBeUndefined();
    expect(parseKubernetesOperation('io.k8s.core.v1.pods.create', 'core/v1/namespaces/default/services/web')).toBeUndefined();
  });
});

describe('fromGoogleCloudAuditEntry', () => {
  it('reads an Admin Activity entry: 403 from the Status response, user, agent, annotations from labels, bodies without @type (public sample: GKE PodSecurity lab)', () => {
    const ev = fromGoogleCloudAuditEntry(sample('gke-pods-create-forbidden.json'));
    expect(ev).toMatchObject({
      kind: 'Event',
      apiVersion: 'audit.k8s.io/v1',
      level: 'RequestResponse',
      auditID: '6a1f0c2e-5b7d-4e8a-9c3f-0d2b4e6f8a10',
      stage: 'ResponseComplete',
      verb: 'create',
      requestURI: '/api/v1/namespaces/strict-ns/pods/web',
      user: { username: 'dev-7@example.com' },
      userAgent: 'kubectl/v1.29.4 (linux/amd64) kubernetes/55019c8',
      sourceIPs: ['203.0.113.40'],
      objectRef: { resource: 'pods', namespace: 'strict-ns', name: 'web', apiGroup: '', apiVersion: 'v1' },
      responseStatus: { code: 403 },
      requestReceivedTimestamp: '2024-06-26T04:10:49.129747Z',
    });
    expect(ev?.annotations?.['pod-security.kubernetes.io/enforce-policy']).toBe('restricted:latest');
    expect(ev?.requestObject).toMatchObject({ kind: 'Pod', metadata: { name: 'web' } });
    expect(ev?.requestObject).not.toHaveProperty('@type');
    const rec = toRecord(ev!);
    expect(rec).toMatchObject({ verb: 'create', resource: 'pods', namespace: 'strict-ns', name: 'web', code: 403, user: 'dev-7@example.com' });
  });

  it('reads a Data Access entry without status as 200 (public sample: Wazuh documentation, GKE pods.list)', () => {
    const ev = fromGoogleCloudAuditEntry(sample('gke-pods-list-data-access.json'));
    expect(ev).toMatchObject({
      level: 'Metadata',
      verb: 'list',
      objectRef: { resource: 'pods', namespace: 'default' },
      responseStatus: { code: 200 },
      userAgent: 'kubectl/v1.18.6 (linux/amd64) kubernetes/dff82dc',
      annotations: { 'authorization.k8s.io/decision': 'allow' },
    });
    expect(ev?.objectRef?.name).toBeUndefined();
  });

  it('maps google.rpc codes to HTTP by code.proto (5 NOT_FOUND is 404: the misdirected DELETEs)', () => {
    const entry = (status?: unknown, response?: unknown) => ({
      timestamp: '2026-11-22T00:51:05.936Z',
      operation: { id: 'a1', first: true, last: true },
      protoPayload: {
        '@type': 'type.googleapis.com/google.cloud.audit.AuditLog',
        serviceName: 'k8s.io',
        methodName: 'io.k8s.apps.v1.deployments.delete',
        resourceName: 'apps/v1/namespaces/default/deployments/web-app',
        ...(status ? { status } : {}),
        ...(response ? { response } : {}),
      },
    });
    const code = (e: unknown) => fromGoogleCloudAuditEntry(e)?.responseStatus?.code;
    expect(code(entry())).toBe(200);
    expect(code(entry({ code: 5, message: 'deployments.apps "web-app" not found' }))).toBe(404);
    expect(code(entry({ code: 7 }))).toBe(403);
    expect(code(entry({ code: 10 }))).toBe(409);
    expect(code(entry({ code: 14 }))).toBe(503);
    // A Status body says the exact HTTP code (422 would read as 400 from the rpc code alone).
    expect(code(entry({ code: 3 }, { kind: 'Status', code: 422 }))).toBe(422);
    // The first entry of a long-running request has no outcome yet.
    const first = { ...entry(), operation: { id: 'a1', first: true, last: false } };
    expect(fromGoogleCloudAuditEntry(first)?.stage).toBe('ResponseStarted');
  });

  it('is undefined for other services and for entries it cannot read', () => {
    const other = {
      timestamp: 't',
      protoPayload: { '@type': 'type.googleapis.com/google.cloud.audit.AuditLog', serviceName: 'container.googleapis.com', methodName: 'x', resourceName: 'y' },
    };
    expect(fromGoogleCloudAuditEntry(other)).toBeUndefined();
    const noTime = { ...sample('gke-pods-list-data-access.json'), timestamp: undefined };
    expect(fromGoogleCloudAuditEntry(noTime)).toBeUndefined();
    expect(fromGoogleCloudAuditEntry({ protoPayload: { serviceName: 'k8s.io' } })).toBeUndefined();
  });
});
