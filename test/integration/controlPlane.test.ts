// The loopback control plane itself: a real kube-apiserver answers, the real namespace
// controller finishes namespace deletions, and the real olm-operator (supervised by its
// Deployment object) adds operators.coreos.com/csv-cleanup to a CSV and removes it on deletion,
// but only while its Deployment wants it running.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControlPlane } from '../cluster/controlPlane.ts';
import { controlPlaneForFile } from '../cluster/fileCluster.ts';
import { applyObjects, CSV_CLEANUP, getCsv, OLM_NAMESPACE, waitDeploymentAvailable } from '../cluster/olm.ts';
import { missingComponents, versions } from '../cluster/paths.ts';
import { waitFor } from '../cluster/proc.ts';
import { readAuditEvents, type AuditEvent } from '../scenarios/harness.ts';
import { csvManifest, operatorGroupManifest } from '../scenarios/objects.ts';

let cp: ControlPlane;

beforeAll(async () => {
  const missing = missingComponents(['etcd', 'kube-apiserver', 'kube-controller-manager', 'olm']);
  if (missing.length) throw new Error(`pinned binaries missing (${missing.join(', ')}): run \`npm run build:binaries\` first`);
  cp = await controlPlaneForFile({ olm: 'quickstart' });
});

afterAll(async () => {
  await cp?.stop();
});

function auditEvents(): AuditEvent[] {
  return readAuditEvents(cp.auditLogPath);
}

describe('loopback control plane', () => {
  it('serves the pinned Kubernetes version, ready, with client-cert RBAC and an audit log', async () => {
    const ready = await cp.client.request('GET', '/readyz');
    expect(ready.status).toBe(200);
    const v = await cp.client.get<{ gitVersion: string }>('/version');
    expect(v?.gitVersion).toBe(`v${versions().KUBE_VERSION}`);
    const who = await cp.client.must<{ status: { userInfo: { username: string; groups: string[] } } }>(
      'POST',
      '/apis/authentication.k8s.io/v1/selfsubjectreviews',
      {
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
      },
    );
    expect(who.status.userInfo.username).toBe('admin');
    expect(who.status.userInfo.groups).toContain('system:masters');
    const kubectl = await cp.kubectl(['get', 'ns', 'default', '-o', 'name']);
    expect(kubectl.stdout.trim()).toBe('namespace/default');
    const events = auditEvents();
    expect(events.length).toBeGreaterThan(0);
    expect(events.every((e) => e.stage !== 'RequestReceived')).toBe(true);
    // Namespaces at RequestResponse, Secrets at Metadata.
    expect(events.some((e) => e.objectRef?.resource === 'namespaces' && e.level === 'RequestResponse')).toBe(true);
  });

  it('deletes a namespace through the real namespace controller (content first, then the namespace)', async () => {
    const ns = 'tg-cp-nsdelete';
    await cp.client.must('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } } });
    await cp.client.must('POST', `/api/v1/namespaces/${ns}/configmaps`, {
      body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { a: 'b' } },
    });
    await cp.client.must('POST', `/apis/apps/v1/namespaces/${ns}/deployments`, {
      body: {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'd' },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'd' } },
          template: { metadata: { labels: { app: 'd' } }, spec: { containers: [{ name: 'c', image: 'example.invalid/none' }] } },
        },
      },
    });
    // The deployment and replicaset controllers run: a ReplicaSet and a (never scheduled) Pod appear.
    await waitFor('ReplicaSet and Pod', 30_000, async () => {
      const pods = await cp.client.get<{ items: unknown[] }>(`/api/v1/namespaces/${ns}/pods`);
      return (pods?.items.length ?? 0) > 0 ? true : undefined;
    });
    const t0 = Date.now();
    await cp.client.must('DELETE', `/api/v1/namespaces/${ns}`);
    const phase = await cp.client.get<{ status: { phase: string } }>(`/api/v1/namespaces/${ns}`);
    expect(phase?.status.phase).toBe('Terminating');
    await waitFor(`namespace ${ns} gone`, 90_000, async () => ((await cp.client.get(`/api/v1/namespaces/${ns}`)) ? undefined : true), 250);
    console.log(`[test] namespace deletion completed in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    const byController = auditEvents().filter(
      (e) =>
        ['delete', 'deletecollection'].includes(e.verb ?? '') &&
        e.objectRef?.namespace === ns &&
        e.user?.username === 'system:serviceaccount:kube-system:namespace-controller',
    );
    expect(byController.length).toBeGreaterThan(0);
  });

  it('runs the real olm-operator: csv-cleanup added to a CSV, and removed (after cleanup) when it is deleted', async () => {
    expect(cp.olm?.isRunning(OLM_NAMESPACE, 'olm-operator')).toBe(true);
    const pkg = await getCsv(cp, OLM_NAMESPACE, 'packageserver');
    expect(pkg?.metadata.finalizers).toContain(CSV_CLEANUP);

    const ns = 'tg-cp-operator';
    const csvName = 'demo-operator.v0.1.0';
    await cp.client.must('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } } });
    await applyObjects(cp, [operatorGroupManifest(ns, 'demo-og', [ns]), csvManifest(ns, csvName)]);
    await waitFor('csv-cleanup added by olm-operator', 60_000, async () =>
      (await getCsv(cp, ns, csvName))?.metadata.finalizers?.includes(CSV_CLEANUP) ? true : undefined,
    );
    // A cluster-scoped object OLM considers owned by this CSV: the finalizer's cleanup must delete it.
    const ownerLabels = { 'olm.owner': csvName, 'olm.owner.namespace': ns, 'olm.owner.kind': 'ClusterServiceVersion' };
    await cp.client.must('POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', {
      body: { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'tg-cp-owned-by-csv', labels: ownerLabels }, rules: [] },
    });
    await cp.client.must('DELETE', `/apis/operators.coreos.com/v1alpha1/namespaces/${ns}/clusterserviceversions/${csvName}`);
    await waitFor('CSV gone (finalizer removed by olm-operator)', 60_000, async () => ((await getCsv(cp, ns, csvName)) ? undefined : true));
    expect(await cp.client.get('/apis/rbac.authorization.k8s.io/v1/clusterroles/tg-cp-owned-by-csv')).toBeUndefined();
  });

  it('stops olm-operator when its Deployment is scaled to 0 or deleted; a CSV deletion then hangs on csv-cleanup', async () => {
    const deploy = `/apis/apps/v1/namespaces/${OLM_NAMESPACE}/deployments/olm-operator`;
    const scale = (n: number) => cp.client.must('PATCH', `${deploy}/scale`, { body: { spec: { replicas: n } }, contentType: 'application/merge-patch+json' });
    await scale(0);
    await cp.olm!.waitStopped(OLM_NAMESPACE, 'olm-operator', 30_000);
    await scale(1);
    await cp.olm!.waitRunning(OLM_NAMESPACE, 'olm-operator', 30_000);
    await waitDeploymentAvailable(cp, OLM_NAMESPACE, 'olm-operator', 30_000);

    const ns = 'tg-cp-stuck';
    const csvName = 'stuck-operator.v0.1.0';
    await cp.client.must('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } } });
    await applyObjects(cp, [operatorGroupManifest(ns, 'og', [ns]), csvManifest(ns, csvName)]);
    await waitFor('csv-cleanup added', 60_000, async () => ((await getCsv(cp, ns, csvName))?.metadata.finalizers?.includes(CSV_CLEANUP) ? true : undefined));

    // Keep the Deployment object's manifest to restore it afterwards.
    const saved = await cp.client.get<{ metadata: { name: string; namespace: string; labels?: Record<string, string> }; spec: unknown }>(deploy);
    await cp.client.must('DELETE', deploy);
    await cp.olm!.waitStopped(OLM_NAMESPACE, 'olm-operator', 30_000);
    await cp.client.must('DELETE', `/apis/operators.coreos.com/v1alpha1/namespaces/${ns}/clusterserviceversions/${csvName}`);
    // Hangs for good: being deleted, held by csv-cleanup, and no olm-operator runs anywhere to remove it.
    const stuck = await getCsv(cp, ns, csvName);
    expect(stuck?.metadata.deletionTimestamp).toBeTruthy();
    expect(stuck?.metadata.finalizers).toContain(CSV_CLEANUP);
    expect(cp.olm!.running()).toEqual([]);

    // Reinstalling OLM is the documented remedy: the finalizer is processed and the CSV goes away.
    const { metadata, spec } = saved!;
    await cp.client.must('POST', `/apis/apps/v1/namespaces/${OLM_NAMESPACE}/deployments`, {
      body: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: metadata.name, namespace: metadata.namespace, labels: metadata.labels }, spec },
    });
    await cp.olm!.waitRunning(OLM_NAMESPACE, 'olm-operator', 30_000);
    await waitFor('stuck CSV released', 60_000, async () => ((await getCsv(cp, ns, csvName)) ? undefined : true));
  });
});
